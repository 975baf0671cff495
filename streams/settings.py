"""All settings of the bridge: environment variables (``BRIDGE_…``, nested with ``__``)
and an optional TOML file named by ``BRIDGE_CONFIG_FILE``. The README lists every one.

Environment variables win over the file; the file wins over the defaults.
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, ValidationInfo, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from streams.casavi.models import StaffRole

Separator = Literal["-", "_", ".", "/", "|"]


class StackSettings(BaseModel):
    """The local stack started by ``bridge stack up`` (Kafka, Kafka Connect, PostgreSQL)."""

    home: Path = Field(
        default_factory=lambda: Path.home() / ".casavi-bridge", description="state: data, logs, PID files"
    )
    cache_dir: Path = Field(
        default_factory=lambda: Path.home() / ".cache" / "casavi-bridge",
        description="downloads (Kafka, Kafka Connect, Debezium jars); shared by every stack home",
    )
    host: str = "127.0.0.1"
    kafka_port: int = 19092
    kafka_controller_port: int = 19093
    connect_port: int = 18083
    postgres_port: int = 15432
    postgres_user: str = "bridge"
    postgres_password: SecretStr = SecretStr("bridge")
    postgres_db: str = "erp"
    ready_timeout_s: float = 180.0

    @property
    def state_dir(self) -> Path:
        return self.home / "state"


class KafkaSettings(BaseModel):
    bootstrap_servers: str = "127.0.0.1:19092"
    cdc_topic_prefix: str = Field(
        default="erp", description="Debezium topic.prefix: CDC topics are <prefix>.erp.<table>"
    )
    commands_topic: str = "casavi.commands"
    dlq_topic: str = "casavi.dlq"
    ticks_topic: str = "bridge.ticks"
    receipts_topic: str = Field(
        default="casavi.receipts", description="what casavi applied or refused, per casavi slot (compacted)"
    )
    inbound_topic: str = Field(
        default="casavi.inbound",
        description="tickets and comments created in the casavi portal, for the ERP (Avro, schemas/casavi_inbound.avsc)",
    )
    content_topic: str = Field(
        default="casavi.content",
        description="document content by key (document:<document_id>, compacted): the worker writes it, the sink "
                    "reads it when it sends a document; the worker's state never holds it (R16)",
    )
    max_command_bytes: int = Field(
        default=8_000_000, gt=0,
        description="largest command the worker sends; a larger one (an ERP row with huge fields) is dead-lettered "
                    "as TOO_LARGE. Below casavi's 10 MB request limit and the commands topic's max.message.bytes",
    )
    worker_app_id: str = "casavi-bridge"
    sink_group_id: str = "casavi-bridge-sink"
    store: str = Field(
        default="rocksdb://", description="Faust table store: rocksdb:// (RocksDB through rocksdict) or memory://"
    )
    schema_registry_url: str | None = Field(
        default=None, description="Confluent-compatible schema registry: commands are written in its wire format "
                                  "with the schema registered under <commands topic>-value; unset: plain Avro")


class SourceSettings(BaseModel):
    """The ERP side: which Debezium connector writes the CDC topics and how the ERP's own
    tables map onto the reference schema."""

    connector: Literal["postgresql", "sqlserver"] = Field(
        default="postgresql", description="the Debezium connector that captures the ERP database"
    )
    database: str | None = Field(
        default=None,
        description="SQL Server: the connector's database.names entry; topics are <prefix>.<database>.<schema>.<table>",
    )
    mapping: Path | None = Field(
        default=None, description="ERP mapping file (YAML); unset = the ERP tables are the reference schema"
    )
    unavailable_value_placeholder: str = Field(
        default="__debezium_unavailable_value",
        description="the connector's unavailable.value.placeholder (unchanged LOB / TOAST columns)",
    )

    @model_validator(mode="after")
    def _database_for_sqlserver(self) -> SourceSettings:
        if self.connector == "sqlserver" and not self.database:
            raise ValueError("BRIDGE_SOURCE__DATABASE must name the SQL Server connector's database.names entry")
        return self


class CasaviSystem(BaseModel):
    url: str = "http://127.0.0.1:18480"
    key: SecretStr = SecretStr("")
    secret: SecretStr = SecretStr("")


class CasaviTestSystem(CasaviSystem):
    """The test system; by default the local casavi simulator with its demo credentials."""

    key: SecretStr = SecretStr("demo-key")
    secret: SecretStr = SecretStr("demo-secret")


class CasaviSettings(BaseModel):
    """casavi access (R22): one block per system, one switch chooses which is used."""

    system: Literal["production", "test"] = "test"
    production: CasaviSystem = Field(default_factory=CasaviSystem)
    test: CasaviTestSystem = Field(default_factory=CasaviTestSystem)
    requests_per_minute: float = 80.0
    batch_size: int = Field(default=5000, ge=1, le=5000)
    batch_wait_s: float = 1.0
    request_timeout_s: float = 30.0
    job_poll_interval_s: float = 0.5
    job_timeout_s: float = 600.0
    max_retries: int = 8

    @field_validator("test", mode="before")
    @classmethod
    def _test_system(cls, v: object) -> object:
        return v.model_dump() if isinstance(v, CasaviSystem) else v

    @property
    def active(self) -> CasaviSystem:
        return self.production if self.system == "production" else self.test


PROPERTY_MANDANT_MARK = ":"  # "<mandant_no>:<property_no>" in the property selection (R01)
_NUMBER_LISTS = frozenset({"mandanten", "ticket_teams"})  # lists of numbers (the others: of codes)
_DEFAULT_EMPTY = frozenset({"document_types_without_time_filter", "ticket_full_history"})  # empty, not None


class SyncSettings(BaseModel):
    """What is synced (R01–R12): the projection's configuration."""

    mandanten: list[int] | None = Field(default=None, description="Mandanten numbers; unset = all (R02)")
    properties: list[str] | None = Field(
        default=None,
        description="released properties as <mandant_no>:<property_no> (or a bare property number: that number in "
                    "every selected Mandant); unset = all properties of the Mandanten (R01)",
    )
    id_separator: Separator = "-"
    portal_days_before_start: int = Field(default=0, ge=0)
    delete_after_days: int = Field(default=30, ge=0)
    person_types: list[str] | None = Field(
        default=None, description="enabled person type codes; unset = every type, persons without a type included (R06)"
    )
    owner_licence: bool = Field(default=False, description="licence Objekteigentümer: owners and OWNER contracts (R10)")
    caretaker_licence: bool = Field(default=False, description="licence Hausmeister: caretakers (R10)")
    staff_role: StaffRole = Field(default="MANAGER", description="the casavi role of synced staff members (R12)")
    document_types: list[str] | None = Field(
        default=None,
        description="document type codes synced under the time filter: from 1 January of the previous calendar "
                    "year (R16); unset = every type not listed without time filter",
    )
    document_types_without_time_filter: list[str] = Field(
        default_factory=list, description="document type codes synced whatever their date (R16)"
    )
    ticket_full_history: list[str] = Field(
        default_factory=list,
        description="properties whose open tickets are synced whatever their date, as <mandant_no>:<property_no> "
                    "(or a bare number); the others' from 1 January of the previous calendar year (R17)",
    )
    ticket_teams: list[int] | None = Field(
        default=None, description="enabled team ids: only tickets of these teams or of no team are synced; unset = "
                                  "all (R17)")
    erp_user: str | None = Field(
        default=None,
        description="the ERP user number tickets and comments from the portal are entered under (inbound, R17); "
                    "also the author of pinboard posts of tickets without a synced responsible user (R18)",
    )
    today: date | None = Field(default=None, description="fixed date for dry runs and tests; unset = today")

    @field_validator("mandanten", "properties", "person_types", "document_types", "document_types_without_time_filter",
                     "ticket_full_history", "ticket_teams", mode="before")
    @classmethod
    def _split(cls, v: object, info: ValidationInfo) -> object:
        if isinstance(v, (int, float)):  # a single number given as an environment variable
            return [v] if info.field_name in _NUMBER_LISTS else [str(v)]
        if isinstance(v, str):
            items = [p.strip() for p in v.split(",") if p.strip()]
            return items or (None if info.field_name not in _DEFAULT_EMPTY else [])
        return v

    @field_validator("properties", "ticket_full_history")
    @classmethod
    def _qualified(cls, v: list[str] | None) -> list[str] | None:
        for entry in v or ():
            mandant, mark, number = entry.rpartition(PROPERTY_MANDANT_MARK)
            if mark and (not mandant.strip().isdigit() or not number.strip()):
                raise ValueError(f"property selection entry {entry!r}: expected <mandant_no>:<property_no>")
        return v

    def fingerprint(self) -> str:
        """Everything that decides the projection except the day: equal fingerprints, equal projection."""
        return self.model_dump_json(exclude={"today"})


class WorkerSettings(BaseModel):
    """How the worker paces its own work."""

    pass_chunk: int = Field(
        default=1000, gt=0, description="roots of a pass (tick, full sync, changed settings) or of deferred roots "
                                        "(a bulk load) projected per batch, between live changes: about 0.5 s each")
    pass_budget_ms: float = Field(
        default=300.0, gt=0, description="milliseconds a chunk of a pass (tick, full sync, changed settings) may take: "
                                         "where roots take longer to project (many rows each), a chunk holds fewer "
                                         "than pass_chunk roots, sized from the time the roots before took")
    tick_interval_s: float = Field(default=3600.0, gt=0, description="how often the time-driven rules are checked")
    backlog_events: int = Field(
        default=5000, ge=0, description="records waiting behind a batch from which the worker is behind (a bulk "
                                        "load, a catch-up): it then defers projecting until it has caught up")
    max_deferred_roots: int = Field(default=1_000_000, gt=0, description="deferred roots projected at the latest")
    max_defer_s: float = Field(default=10.0, ge=0, description="seconds a deferred root waits at most")
    session_timeout_s: float = Field(
        default=10.0, ge=6.0, le=300.0,
        description="Kafka consumer session timeout: how long a worker that died keeps its partitions")
    instance_id: str = Field(
        default="worker-0",
        description="Kafka static group membership (group.instance.id): a restarted worker takes its partitions "
                    "back at once instead of waiting for the old member's session to expire. Unique per worker "
                    "process; empty: dynamic membership")
    image_interval_s: float = Field(
        default=300.0, ge=0,
        description="how often, at most, the worker writes an image of its loaded state to local disk while the "
                    "state changes (a forked child writes it); a restart reads the image and the rows written "
                    "since instead of every row. 0: no image")
    full_gc_interval_s: float = Field(
        default=21600.0, ge=0,
        description="how often, at most, the worker lets Python's cyclic collector walk its whole state (a "
                    "pause of about a second at a million rows); in between, what survives a batch is frozen "
                    "out of the collector's walks (streams.worker.heap). 0: Python's own collections")
    row_cache: int = Field(
        default=100_000, ge=1_000,
        description="ERP rows the worker keeps in memory after reading them from its state table (about 0.5 KB "
                    "each); every other row stays in the table's local RocksDB store, only keys and indexes "
                    "are held (streams.projection.stored)")
    rocksdb_write_buffer_mib: int = Field(
        default=16, ge=1, le=1024,
        description="write buffer of each table's local RocksDB store (two per store); RocksDB's default is "
                    "64 MiB, three per store")
    rocksdb_block_cache_mib: int = Field(
        default=16, ge=1, le=4096,
        description="block cache of each table's local RocksDB store; Faust's default is 2 GiB, filled by the "
                    "start's read of every row")

    def rocksdb_options(self) -> dict[str, int]:
        """The options of every table's local RocksDB store (``faust`` ``Table(options=...)``)."""
        mib = 1024 * 1024
        return {"write_buffer_size": self.rocksdb_write_buffer_mib * mib, "max_write_buffer_number": 2,
                "block_cache_size": self.rocksdb_block_cache_mib * mib,
                "block_cache_compressed_size": self.rocksdb_block_cache_mib * mib}


class InboundSettings(BaseModel):
    """``bridge hooks``: casavi's REST hooks and the polling fallback (R17 inbound)."""

    host: str = Field(default="127.0.0.1", description="where the hook receiver listens")
    port: int = Field(default=18490, description="port of the hook receiver")
    public_url: str | None = Field(
        default=None, description="the URL casavi calls (https:// in production); unset = http://<host>:<port>/hooks")
    user: str = Field(default="casavi", description="Basic auth user in the subscribed hook URL")
    secret: SecretStr = Field(
        default=SecretStr(""), description="Basic auth password in the subscribed hook URL; empty = a random one at "
                                           "each start (the receiver subscribes anew at start)")
    subscribe: bool = Field(default=True, description="subscribe to casavi's ticket events at start, "
                                                      "unsubscribe at stop")
    poll_interval_s: float = Field(default=300.0, ge=0, description="polling fallback: GET /tickets?date=… every N "
                                                                    "seconds (0 = off)")
    poll_lookback_h: float = Field(default=168.0, ge=0, description="how far the first poll looks back")


class ReconcileSettings(BaseModel):
    """Reading casavi back and repairing drift (``bridge reconcile``)."""

    interval_h: float = Field(default=24.0, ge=0, description="the sink reconciles every N hours; 0 = never")
    contact_id_pattern: str = Field(
        default=".*", description="reference ids of the contacts this bridge owns (a regular expression)"
    )


class OpsSettings(BaseModel):
    """The small HTTP server of worker and sink: ``/metrics`` (Prometheus), ``/healthz``, ``/readyz``."""

    host: str = Field(default="127.0.0.1", description="where the endpoints listen (0.0.0.0 in a container)")
    worker_port: int = Field(default=18491, ge=0, le=65535, description="the worker's port; 0 = no endpoints")
    sink_port: int = Field(default=18492, ge=0, le=65535, description="the sink's port; 0 = no endpoints")
    stall_s: float = Field(
        default=120.0, gt=0,
        description="/healthz fails when the process's event loop has not turned for this long (a hung process)")


class UiSettings(BaseModel):
    """The protocol page (``bridge ui``): one read-only page operators keep open."""

    host: str = Field(default="127.0.0.1", description="where the page listens; another address needs a token")
    port: int = Field(default=18490, ge=1, le=65535)
    token: SecretStr | None = Field(
        default=None, description="when set, the page answers only requests carrying it (Bearer header, cookie, "
                                  "or ?token= once)")
    refresh_s: float = Field(default=2.0, gt=0, description="how often the page gathers its figures")
    connect_url: str | None = Field(
        default=None, description="Kafka Connect REST API; unset = the local stack's (BRIDGE_STACK__HOST/CONNECT_PORT)")


class BridgeSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="BRIDGE_", env_nested_delimiter="__", extra="ignore", nested_model_default_partial_update=True
    )

    stack: StackSettings = Field(default_factory=StackSettings)
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    source: SourceSettings = Field(default_factory=SourceSettings)
    casavi: CasaviSettings = Field(default_factory=CasaviSettings)
    sync: SyncSettings = Field(default_factory=SyncSettings)
    reconcile: ReconcileSettings = Field(default_factory=ReconcileSettings)
    inbound: InboundSettings = Field(default_factory=InboundSettings)
    worker: WorkerSettings = Field(default_factory=WorkerSettings)
    ops: OpsSettings = Field(default_factory=OpsSettings)
    ui: UiSettings = Field(default_factory=UiSettings)
    log_level: str = "INFO"
    log_format: Literal["text", "json"] = Field(default="text", description="json: one JSON object per log line")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get("BRIDGE_CONFIG_FILE")
        if config_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(config_file)))
        return tuple(sources)


def load_settings() -> BridgeSettings:
    return BridgeSettings()
