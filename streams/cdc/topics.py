"""CDC topic names ↔ ERP tables.

Debezium names one topic per captured table:

* SQL Server: ``<prefix>.<database>.<schema>.<table>`` (e.g. ``erp.ERPDB.erp.person``)
* PostgreSQL: ``<prefix>.<schema>.<table>`` (e.g. ``erp.erp.person``)

The prefix may itself contain dots, so names are read from the right: the last
segment is the table, the one before it the database schema (``erp``).
"""

from __future__ import annotations

import re
from typing import NamedTuple

from streams.erp.schema import ERP_SCHEMA, TABLES


class CdcTopic(NamedTuple):
    head: str  # "<prefix>" (PostgreSQL) or "<prefix>.<database>" (SQL Server)
    schema: str
    table: str


def cdc_topic(prefix: str, table: str, *, database: str | None = None, schema: str = ERP_SCHEMA) -> str:
    """The topic Debezium writes ``table``'s changes to; ``database`` for SQL Server."""
    head = f"{prefix}.{database}" if database else prefix
    return f"{head}.{schema}.{table}"


def cdc_topics(prefix: str, *, database: str | None = None) -> list[str]:
    """Every reference-schema table's CDC topic, in registry order."""
    return [cdc_topic(prefix, t, database=database) for t in TABLES]


def topics_by_table(prefix: str, *, database: str | None = None) -> dict[str, str]:
    """``{table: topic}`` for every reference-schema table."""
    return {t: cdc_topic(prefix, t, database=database) for t in TABLES}


def cdc_topic_pattern(prefix: str, *, database: str | None = None) -> str:
    """A regular expression matching exactly the reference-schema CDC topics."""
    head = re.escape(f"{prefix}.{database}" if database else prefix)
    tables = "|".join(re.escape(t) for t in TABLES)
    return rf"^{head}\.{re.escape(ERP_SCHEMA)}\.(?:{tables})$"


def parse_cdc_topic(topic: str) -> CdcTopic | None:
    """Split a topic name into (head, schema, table); None if it has fewer than 3 parts."""
    head, sep, rest = topic.rpartition(".")
    if not sep:
        return None
    head2, sep2, schema = head.rpartition(".")
    if not sep2 or not head2 or not schema or not rest:
        return None
    return CdcTopic(head2, schema, rest)


def table_of_topic(topic: str) -> str | None:
    """The reference-schema table a CDC topic carries, or None if it is not one."""
    parsed = parse_cdc_topic(topic)
    if parsed is None or parsed.schema != ERP_SCHEMA:
        return None
    return resolve_table(parsed.table)


def resolve_table(name: str) -> str | None:
    """Registry name of a source table (SQL Server names are case-insensitive)."""
    if name in TABLES:
        return name
    lowered = name.lower()
    return lowered if lowered in TABLES else None
