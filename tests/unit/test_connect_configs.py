"""The DDL and connector configs under connect/ agree with the ERP schema registry and with each other."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from streams.erp.schema import TABLES, ColumnKind
from streams.settings import KafkaSettings, StackSettings
from streams.stack import versions
from streams.stack.connect import worker_properties
from streams.stack.paths import StackPaths

CONNECT = Path(__file__).resolve().parents[2] / "connect"

# accepted column types per registry kind: (PostgreSQL pattern, SQL Server pattern)
TYPES: dict[ColumnKind, tuple[str, str]] = {
    "int": (r"int", r"int"),
    "text": (r"text", r"nvarchar\((?:max|[1-9][0-9]*)\)"),
    "varchar": (r"varchar\(\d+\)", r"varchar\(\d+\)"),
    "char": (r"char\(\d+\)", r"char\(\d+\)"),
    "numeric": (r"numeric\(\d+,\d+\)", r"decimal\(\d+,\d+\)"),
    "date": (r"date", r"date"),
    "timestamptz": (r"timestamptz", r"datetime2"),
    "boolean": (r"boolean", r"bit"),
    "bytes": (r"bytea", r"varbinary\(max\)"),
}

# sizes and scales as written in erp-reference-schema.md
SIZED: dict[tuple[str, str], str] = {
    ("property", "property_no"): "varchar(20)", ("property", "postal_code"): "varchar(10)",
    ("building", "house_no"): "varchar(10)", ("unit", "unit_no"): "varchar(20)", ("unit", "usage"): "varchar(20)",
    ("unit", "area"): "(10,2)", ("unit", "floor"): "varchar(10)", ("unit", "rooms"): "(4,1)",
    ("person", "iban"): "varchar(34)", ("person", "bic"): "varchar(11)", ("contract", "contract_type"): "varchar(10)",
    ("contract", "rent_amount"): "(12,2)", ("contract_party", "role"): "varchar(12)",
    ("staff_user", "user_no"): "char(3)", ("ticket_status", "status_kind"): "varchar(12)",
    ("ticket", "origin"): "varchar(10)",
}


def _tables(ddl: str, pattern: str) -> dict[str, str]:
    return {m.group(1): m.group(2) for m in re.finditer(pattern, ddl, re.S)}


def _columns(body: str, quoted: bool) -> tuple[list[tuple[str, str]], tuple[str, ...]]:
    cols: list[tuple[str, str]] = []
    pk: tuple[str, ...] = ()
    for line in (ln.strip().rstrip(",") for ln in body.strip().splitlines()):
        if line.startswith("CONSTRAINT"):
            inner = re.search(r"PRIMARY KEY \((.*)\)", line)
            assert inner, line
            pk = tuple(p.strip().strip("[]") for p in inner.group(1).split(","))
            continue
        m = re.match(r"\[(\w+)\] (\S+)" if quoted else r"(\w+) (\S+)", line)
        assert m, line
        cols.append((m.group(1), m.group(2)))
    return cols, pk


@pytest.fixture(scope="module")
def pg_ddl() -> str:
    return (CONNECT / "postgres" / "erp_schema.sql").read_text()


@pytest.fixture(scope="module")
def ms_ddl() -> str:
    return (CONNECT / "sqlserver" / "erp_schema.sql").read_text()


@pytest.mark.parametrize("dialect", ["postgres", "sqlserver"])
def test_ddl_matches_registry(dialect: str, pg_ddl: str, ms_ddl: str) -> None:
    if dialect == "postgres":
        tables = _tables(pg_ddl, r"CREATE TABLE IF NOT EXISTS erp\.(\w+) \((.*?)\n\);")
    else:
        tables = _tables(ms_ddl, r"CREATE TABLE erp\.\[(\w+)\] \((.*?)\n\);")
    assert list(tables) == list(TABLES)
    index = 0 if dialect == "postgres" else 1
    for name, body in tables.items():
        cols, pk = _columns(body, quoted=dialect == "sqlserver")
        table = TABLES[name]
        assert [c for c, _ in cols] == list(table.column_names), name
        assert pk == table.primary_key, name
        for (col, sql_type), column in zip(cols, table.columns):
            assert re.fullmatch(TYPES[column.kind][index], sql_type), (name, col, sql_type)
            size = SIZED.get((name, col))
            if size:
                assert sql_type.endswith(size), (name, col, sql_type, size)


def test_postgres_ddl_replication(pg_ddl: str) -> None:
    assert "CREATE SCHEMA IF NOT EXISTS erp;" in pg_ddl
    large_content = {"document", "ticket", "ticket_note"}  # DEFAULT: unchanged TOASTed values are not sent
    for name in TABLES:
        identity = "DEFAULT" if name in large_content else "FULL"
        assert f"ALTER TABLE erp.{name} REPLICA IDENTITY {identity};" in pg_ddl
    publication = re.search(r"CREATE PUBLICATION (\w+) FOR TABLE(.*?);", pg_ddl, re.S)
    assert publication
    assert [t.strip() for t in publication.group(2).split(",")] == [f"erp.{t}" for t in TABLES]
    assert publication.group(1) == _connector("postgres")["publication.name"]


def test_sqlserver_cdc_enabled_for_every_table() -> None:
    sql = (CONNECT / "sqlserver" / "enable_cdc.sql").read_text()
    assert "EXEC sys.sp_cdc_enable_db" in sql
    enabled = re.findall(r"sp_cdc_enable_table @source_schema = N'erp', @source_name = N'(\w+)', @role_name = NULL", sql)
    assert enabled == list(TABLES)
    assert "ALTER ROLE db_datareader ADD MEMBER debezium" in sql
    assert "$(CONNECTOR_PASSWORD)" in sql, "the password comes from a sqlcmd variable, never from the file"


def _connector(kind: str) -> dict[str, str]:
    spec: dict[str, Any] = json.loads((CONNECT / f"{kind}-connector.json").read_text())
    assert set(spec) == {"name", "config"}
    config: dict[str, str] = spec["config"]
    assert all(isinstance(v, str) for v in config.values()), "Connect REST wants string values"
    return config


SHARED_KEYS = (
    "key.converter", "key.converter.schemas.enable", "value.converter", "value.converter.schemas.enable",
    "tombstones.on.delete", "decimal.handling.mode", "time.precision.mode", "binary.handling.mode",
    "snapshot.mode", "schema.include.list", "table.include.list", "topic.prefix",
    "topic.creation.default.replication.factor", "topic.creation.default.partitions",
)


def test_connectors_agree_with_each_other() -> None:
    pg, ms = _connector("postgres"), _connector("sqlserver")
    for key in SHARED_KEYS:
        assert pg[key] == ms[key], key
    assert pg["key.converter"] == "org.apache.kafka.connect.json.JsonConverter"
    assert pg["value.converter.schemas.enable"] == "true"
    assert pg["tombstones.on.delete"] == "true"
    assert pg["decimal.handling.mode"] == "precise"
    assert pg["time.precision.mode"] == "adaptive_time_microseconds"
    assert pg["topic.prefix"] == KafkaSettings().cdc_topic_prefix


def test_connectors_capture_exactly_the_erp_tables() -> None:
    """Debezium's include lists are comma-separated, anchored regular expressions."""
    for kind in ("postgres", "sqlserver"):
        patterns = [re.compile(p) for p in _connector(kind)["table.include.list"].split(",")]
        for name in TABLES:
            assert any(p.fullmatch(f"erp.{name}") for p in patterns), (kind, name)
        for other in ("erp_archive.person", "public.person", "erp.booking"):
            assert not any(p.fullmatch(other) for p in patterns), (kind, other)


def test_postgres_connector() -> None:
    pg = _connector("postgres")
    assert pg["connector.class"] == "io.debezium.connector.postgresql.PostgresConnector"
    assert pg["plugin.name"] == "pgoutput"
    assert pg["publication.autocreate.mode"] == "filtered"
    assert pg["database.password"] == "${env:BRIDGE_STACK__POSTGRES_PASSWORD}"
    stack = StackSettings()
    assert pg["database.port"] == str(stack.postgres_port)
    assert pg["database.user"] == stack.postgres_user and pg["database.dbname"] == stack.postgres_db


def test_sqlserver_connector() -> None:
    ms = _connector("sqlserver")
    assert ms["connector.class"] == "io.debezium.connector.sqlserver.SqlServerConnector"
    assert ms["database.port"] == "1433"
    assert ms["database.names"] == "erp"
    assert ms["database.encrypt"] == "true"
    assert ms["database.trustServerCertificate"].startswith("${env:")
    for key in ("database.user", "database.password", "database.hostname"):
        assert ms[key].startswith("${env:") and ms[key].endswith("}"), key
    assert ms["schema.history.internal.kafka.topic"]
    assert ms["schema.history.internal.kafka.bootstrap.servers"]


def test_local_worker_converters_match_connectors(tmp_path: Path) -> None:
    props = worker_properties(StackSettings(), StackPaths(cache_dir=tmp_path, state_dir=tmp_path))
    pg = _connector("postgres")
    for key in ("key.converter", "value.converter", "key.converter.schemas.enable", "value.converter.schemas.enable"):
        assert props[key] == pg[key], key
    assert props["config.providers.env.class"] == "org.apache.kafka.common.config.provider.EnvVarConfigProvider"


def test_pom_pins_the_stack_versions() -> None:
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    root = ET.parse(CONNECT / "pom.xml").getroot()
    props = {el.tag.split("}")[1]: el.text for el in root.find("m:properties", ns) or []}
    assert props["version.kafka"] == versions.KAFKA_VERSION
    assert props["version.scala"] == versions.SCALA_VERSION
    assert props["version.debezium"] == versions.DEBEZIUM_VERSION
    assert props["version.log4j"] == versions.LOG4J_VERSION
    profiles = {p.findtext("m:id", namespaces=ns) for p in root.iterfind("m:profiles/m:profile", ns)}
    assert profiles == {"kafka", *(p.replace("-connector", "") for p in versions.CONNECTOR_PLUGINS)}


def test_connectors_name_the_placeholder_the_decoder_expects() -> None:
    """Unchanged large columns arrive as the connector's placeholder (SQL Server max columns,
    PostgreSQL TOAST): the configs say it explicitly, and it is the settings' default."""
    from streams.cdc.decode import DEFAULT_PLACEHOLDER
    from streams.settings import SourceSettings

    assert SourceSettings().unavailable_value_placeholder == DEFAULT_PLACEHOLDER
    for kind in ("postgres", "sqlserver"):
        assert _connector(kind)["unavailable.value.placeholder"] == DEFAULT_PLACEHOLDER, kind


def test_connectors_create_cdc_topics_compacted_as_the_worker_does() -> None:
    """Debezium creates the CDC topics (topic.creation.default.*) unless the worker got there
    first: both with the same retention, so no CDC record expires by age."""
    from streams.worker.topics import TOPIC_CONFIGS

    for kind in ("postgres", "sqlserver"):
        config = _connector(kind)
        created = {k.removeprefix("topic.creation.default."): v for k, v in config.items()
                   if k.startswith("topic.creation.default.")}
        assert {k: created[k] for k in TOPIC_CONFIGS["cdc"]} == TOPIC_CONFIGS["cdc"], kind
        assert created["cleanup.policy"] == "compact"
