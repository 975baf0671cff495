"""Debezium connector configs that capture exactly the tables a mapping names.

The shipped configs (``connect/postgres-connector.json``, ``connect/sqlserver-connector.json``)
are templates; the captured tables (``schema.include.list``, ``table.include.list``), the
topic prefix and, for SQL Server, ``database.names`` are always derived from the mapping
and the settings, so captured tables = mapped tables. ``captured_problems`` checks a
config someone wrote by hand against a mapping.
"""

from __future__ import annotations

import json
import re
from typing import Literal

from streams.mapping.compile import CompiledMapping
from streams.settings import BridgeSettings
from streams.stack.paths import CONNECT_DIR

Connector = Literal["postgresql", "sqlserver"]
TEMPLATES: dict[Connector, str] = {"postgresql": "postgres-connector.json", "sqlserver": "sqlserver-connector.json"}
DEFAULT_PREFIX = "erp"


def include_lists(mapping: CompiledMapping) -> dict[str, str]:
    """Debezium's include lists (comma-separated, anchored regular expressions) for the mapped tables."""
    schemas = sorted({t.schema for t in mapping.tables})
    tables = sorted(f"{t.schema}.{t.source}" for t in mapping.tables)
    return {
        "schema.include.list": ",".join(re.escape(s) for s in schemas),
        "table.include.list": ",".join(re.escape(t) for t in tables),
    }


def _patterns(value: str) -> list[re.Pattern[str]]:
    return [re.compile(p.strip(), re.IGNORECASE) for p in value.split(",") if p.strip()]


def captured_problems(config: dict[str, str], mapping: CompiledMapping, others: list[str] | None = None) -> list[str]:
    """What differs between the tables a connector config captures and the mapped tables:
    a mapped table the config does not capture, or one of ``others`` (tables of the
    database the mapping does not name, ``schema.table``) that it does."""
    tables = [p for p in _patterns(config.get("table.include.list", ".*"))]
    schemas = [p for p in _patterns(config.get("schema.include.list", ".*"))]

    def captured(schema: str, table: str) -> bool:
        return (any(p.fullmatch(schema) for p in schemas)
                and any(p.fullmatch(f"{schema}.{table}") for p in tables))

    problems = [f"mapped table {t.name} is not captured" for t in mapping.tables if not captured(t.schema, t.source)]
    mapped = {t.name.lower() for t in mapping.tables}
    for other in others or []:
        schema, _, table = other.partition(".")
        if other.lower() not in mapped and captured(schema, table):
            problems.append(f"table {other} is captured but not mapped")
    return problems


def connector_config(connector: Connector, settings: BridgeSettings,
                     mapping: CompiledMapping) -> tuple[str, dict[str, str]]:
    """Name and config of the connector for this mapping and these settings."""
    spec = json.loads((CONNECT_DIR / TEMPLATES[connector]).read_text())
    config: dict[str, str] = {k: str(v) for k, v in spec["config"].items()}
    prefix = settings.kafka.cdc_topic_prefix
    config["topic.prefix"] = prefix
    config["unavailable.value.placeholder"] = settings.source.unavailable_value_placeholder
    config.update(include_lists(mapping))
    name = str(spec["name"])
    if prefix != DEFAULT_PREFIX:  # a second capture of the same database keeps its own name, slot and publication
        slug = re.sub(r"[^a-z0-9_]", "_", prefix.lower())
        name = f"{prefix}-{connector}"
        if connector == "postgresql":
            config["slot.name"] = f"casavi_bridge_{slug}"
            config["publication.name"] = f"casavi_bridge_{slug}"
    if connector == "sqlserver" and settings.source.database:
        config["database.names"] = settings.source.database
    return name, config
