"""The command model and its Avro codec (``schemas/casavi_command.avsc``)."""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable
from functools import lru_cache
from typing import Any, Literal, Protocol

import fastavro
from pydantic import BaseModel, ConfigDict, Field

from streams.casavi.import_contract import LEVEL
from streams.casavi.models import EntityType
from streams.commands.registry import UnknownSchema, frame, unframe
from streams.resources import SCHEMAS_DIR

SCHEMA_PATH = SCHEMAS_DIR / "casavi_command.avsc"
CommandOp = Literal["UPSERT", "DELETE"]


def canonical_json(document: dict[str, Any]) -> str:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def content_hash(document: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(document).encode()).hexdigest()


class CasaviCommand(BaseModel):
    model_config = ConfigDict(frozen=True)

    op: CommandOp
    entity: EntityType
    reference_id: str
    parent_ids: tuple[str, ...] = ()
    document: dict[str, Any] | None = None
    content_hash: str = ""
    reason: str = ""
    emitted_at_ms: int = 0
    source_ts_ms: int | None = None
    root: str | None = None
    system: str | None = None

    @property
    def slot(self) -> str:
        """``<entity>:<reference id>``: the key of the command topic, the receipts and the emitted table."""
        return f"{self.entity}:{self.reference_id}"

    @property
    def level(self) -> int:
        return LEVEL[self.entity]

    @classmethod
    def upsert(cls, entity: EntityType, reference_id: str, document: dict[str, Any],
               parent_ids: tuple[str, ...] = (), **kw: Any) -> CasaviCommand:
        return cls(op="UPSERT", entity=entity, reference_id=reference_id, parent_ids=parent_ids,
                   document=document, content_hash=content_hash(document), **kw)

    @classmethod
    def delete(cls, entity: EntityType, reference_id: str, parent_ids: tuple[str, ...] = (),
               **kw: Any) -> CasaviCommand:
        return cls(op="DELETE", entity=entity, reference_id=reference_id, parent_ids=parent_ids, **kw)


@lru_cache(maxsize=1)
def _schema() -> Any:
    return fastavro.parse_schema(json.loads(SCHEMA_PATH.read_text()))


class CommandCodecError(ValueError):
    pass


def encode(command: CasaviCommand, schema_id: int | None = None) -> bytes:
    """The Avro body of ``command``; with ``schema_id``, in the schema registry's wire format
    (``streams.commands.registry``)."""
    record = command.model_dump()
    record["parent_ids"] = list(command.parent_ids)
    record["document"] = None if command.document is None else canonical_json(command.document)
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, _schema(), record)
    return buf.getvalue() if schema_id is None else frame(schema_id, buf.getvalue())


class WriterSchemas(Protocol):
    """The writer schemas of framed records, by schema id (``streams.commands.wire``)."""

    def known(self, schema_id: int) -> Any | None:
        """The parsed schema when it is at hand (no request), else None."""

    def lookup(self, schema_id: int) -> Any:
        """The parsed schema, asked from the registry; raises ``UnknownSchema``."""


def decode(payload: bytes, writer_schemas: WriterSchemas | None = None) -> CasaviCommand:
    """A command in either format: the registry's wire format or a plain Avro body.

    A plain UPSERT starts with a zero byte too, so a record that looks framed is read both ways
    until one gives a plausible command (``plausible``; every command the bridge writes is):
    framed with the schema its id names when
    that is at hand (without a registry, ``writer_schemas`` None: the bridge's own schema), as
    plain Avro, and framed with the schema the registry has under the id."""
    framed = unframe(payload)
    if framed is None:
        return _decode(payload, _schema())
    schema_id, body = framed
    known = _schema() if writer_schemas is None else writer_schemas.known(schema_id)
    attempts: list[Callable[[], CasaviCommand]] = []
    if known is not None:
        attempts.append(lambda: _decode(body, known))
    attempts.append(lambda: _decode(payload, _schema()))
    if writer_schemas is not None and known is None:
        attempts.append(lambda: _decode(body, writer_schemas.lookup(schema_id)))
    for attempt in attempts:
        try:
            command = attempt()
        except (CommandCodecError, UnknownSchema):
            continue
        if plausible(command):
            return command
    raise CommandCodecError("not a CasaviCommand record (plain Avro or the registry's wire format)")


def plausible(command: CasaviCommand) -> bool:
    """What every command the bridge writes has: a reference id; an upsert a document and its
    sha256, a delete neither. A record read at the wrong offset practically never has all of it."""
    if not command.reference_id:
        return False
    if command.op == "UPSERT":
        return command.document is not None and len(command.content_hash) == 64
    return command.document is None


def _decode(payload: bytes, writer: Any) -> CasaviCommand:
    buf = io.BytesIO(payload)
    try:
        record = fastavro.schemaless_reader(buf, writer, _schema())
    except Exception as exc:  # fastavro raises several types for broken input
        raise CommandCodecError(f"not a CasaviCommand record: {type(exc).__name__}") from None
    if buf.tell() != len(payload):
        raise CommandCodecError("not a CasaviCommand record: bytes left over")
    assert isinstance(record, dict)
    doc = record.get("document")
    emitted = record["emitted_at_ms"]
    record["emitted_at_ms"] = int(emitted.timestamp() * 1000) if hasattr(emitted, "timestamp") else emitted
    record["document"] = None if doc is None else json.loads(doc)
    record["parent_ids"] = tuple(record["parent_ids"])
    return CasaviCommand(**record)


class DeadLetter(BaseModel):
    """A record the bridge could not apply, with the reason. Never holds personal data:
    it names where the original sits (topic, partition, offset) so it can be re-read."""

    stage: Literal["decode", "fold", "project", "sink"]
    reason: str
    error_code: str = ""
    topic: str
    partition: int
    offset: int
    table: str | None = None
    entity: str | None = None
    reference_id: str | None = None
    key: str | None = None
    at_ms: int = Field(default=0)
