"""The typed row change every CDC event becomes, whichever connector produced it."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

Op = Literal["c", "u", "d", "r"]
Row = dict[str, Any]


class _Unavailable:
    """The value of a column Debezium did not send: an unchanged SQL Server ``(n)varchar(max)``
    / ``varbinary(max)`` column in an update, or an unchanged TOASTed PostgreSQL column
    (the connector writes its ``unavailable.value.placeholder`` instead). The decoder puts
    this marker in the row; the fold replaces it with the value the state holds. It never
    reaches the state, a command or casavi."""

    _instance: _Unavailable | None = None

    def __new__(cls) -> _Unavailable:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNAVAILABLE"

    def __reduce__(self) -> str:
        return "UNAVAILABLE"


UNAVAILABLE = _Unavailable()


class SourcePosition(BaseModel):
    """Where a change sits in the source database's log; orders changes of one source.

    SQL Server: (commit_lsn, change_lsn, event_serial_no); PostgreSQL: (lsn, 0, 0) with
    the LSN as an integer. ``sort_key`` compares positions of the same connector.
    """

    model_config = ConfigDict(frozen=True)

    connector: Literal["sqlserver", "postgresql"]
    commit_lsn: str | None = None
    change_lsn: str | None = None
    event_serial_no: int | None = None
    lsn: int | None = None
    ts_ms: int | None = None
    # read by a snapshot that goes on after this event (Debezium's ``source.snapshot``:
    # true, first, first_in_data_collection, last_in_data_collection, incremental)
    snapshot: bool = False
    # the source transaction: PostgreSQL ``txId``, SQL Server ``commit_lsn``
    tx: str | None = None

    @property
    def known(self) -> bool:
        """Whether the position can order this change against others of the same row."""
        return self.lsn is not None if self.connector == "postgresql" else self.commit_lsn is not None

    @property
    def sort_key(self) -> tuple[str, str, int]:
        if self.connector == "postgresql":
            return (f"{self.lsn or 0:020d}", "", 0)
        return (self.commit_lsn or "", self.change_lsn or "", self.event_serial_no or 0)


class KafkaPosition(BaseModel):
    """Where the event was read from: named in every error and DLQ record."""

    model_config = ConfigDict(frozen=True)

    topic: str
    partition: int
    offset: int


class RowChange(BaseModel):
    """One row change of one ERP table: op, the row before and after, its key and position.

    Column values are plain Python values: int, str, bool, ``decimal.Decimal``,
    ``datetime.date``, timezone-aware ``datetime.datetime`` and ``bytes``.
    """

    model_config = ConfigDict(frozen=True)

    table: str
    op: Op
    before: Row | None
    after: Row | None
    key: tuple[Any, ...]
    position: SourcePosition
    kafka: KafkaPosition | None = None

    @property
    def row(self) -> Row | None:
        """The row as it stands after this change (None for a delete)."""
        return None if self.op == "d" else self.after


class Tombstone(BaseModel):
    """The null-valued record Debezium writes after a delete (for log compaction)."""

    model_config = ConfigDict(frozen=True)

    table: str
    kafka: KafkaPosition | None = None


class MalformedEvent(ValueError):
    """A CDC record that cannot be decoded. Names where it came from, never its content."""

    def __init__(self, reason: str, kafka: KafkaPosition | None = None) -> None:
        self.reason = reason
        self.kafka = kafka
        where = f" at {kafka.topic}[{kafka.partition}]@{kafka.offset}" if kafka else ""
        super().__init__(f"malformed CDC event{where}: {reason}")
