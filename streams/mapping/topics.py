"""CDC topic names of the tables a mapping captures.

Debezium names one topic per captured table, ``<topic.prefix>.<schema>.<table>`` for
PostgreSQL and ``<topic.prefix>.<database>.<schema>.<table>`` for SQL Server (the
database is the connector's ``database.names`` entry, ``BRIDGE_SOURCE__DATABASE``).
Schema and table are the ERP's own, as the mapping names them.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from streams.cdc.topics import cdc_topic
from streams.mapping.compile import CompiledMapping, TableMapping, load_mapping
from streams.settings import SourceSettings


@lru_cache(maxsize=8)
def _load(path: Path | None) -> CompiledMapping:
    return load_mapping(path)


def mapping_of(source: SourceSettings) -> CompiledMapping:
    """The compiled mapping the settings name (loaded once per file)."""
    return _load(source.mapping)


def source_topics(prefix: str, source: SourceSettings) -> dict[str, TableMapping]:
    """``{topic: table mapping}`` for every captured table."""
    database = source.database if source.connector == "sqlserver" else None
    return {cdc_topic(prefix, t.source, database=database, schema=t.schema): t for t in mapping_of(source).tables}


def topics_by_source_table(prefix: str, source: SourceSettings) -> dict[str, str]:
    """``{source table: topic}`` (the reference table names for the identity mapping)."""
    return {t.source: topic for topic, t in source_topics(prefix, source).items()}
