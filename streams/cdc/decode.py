"""Debezium change event (JSON converter) → ``RowChange`` | ``Tombstone``.

Accepted input, from the SQL Server and the PostgreSQL connector alike:

* JSON with schemas enabled: ``{"schema": {...}, "payload": {...}}``. Column values
  are decoded by their field schema (type and logical ``name``, see ``values.py``) and
  then adapted to the reference-schema column kind, so ``decimal.handling.mode``
  ``precise``, ``string`` and ``double`` all give ``Decimal`` for numeric columns.
* Schemaless JSON (``schemas.enable=false``): the bare payload
  ``{"before", "after", "source", "op", ...}``; the column kinds of
  ``streams.erp.schema.TABLES`` decide the conversion.
* A null (or empty) value: the tombstone Debezium writes after a delete.

The table comes from ``payload.source.table`` and is cross-checked against the topic
name. Columns the reference schema does not know are dropped. The row key is built
from the table's primary-key columns of ``after`` (``before`` for deletes), falling
back to the Kafka record key.

``decode`` never raises anything but ``MalformedEvent`` (``UnknownTable`` is one),
and no error message ever contains a row value: only topic, partition, offset, table
and column names and type names.

Speed: the per-column converters of a table are computed once per distinct field
schema signature and cached (``_plan_for_schema``); the hot path is one
``json.loads`` plus one converter call per non-null column.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, NoReturn, TypeVar

from pydantic import BaseModel

from streams.cdc.model import KafkaPosition, MalformedEvent, Row, RowChange, SourcePosition, Tombstone
from streams.cdc.topics import parse_cdc_topic, resolve_table, table_of_topic
from streams.cdc.values import BadValue, Converter, converter, kind_converter, to_str
from streams.erp.schema import ERP_SCHEMA, TABLES, Table

__all__ = ["UnknownTable", "decode"]

Plan = dict[str, Converter]  # column → converter; columns not in it are dropped

_OPS = frozenset({"c", "u", "d", "r"})
_EMPTY: Mapping[str, Any] = {}
_MAX_NAME = 64


class UnknownTable(MalformedEvent):
    """A change event of a table that is not in the ERP reference schema."""

    def __init__(self, table: str, kafka: KafkaPosition | None = None) -> None:
        self.table = table
        super().__init__(f"unknown table {_safe_name(table)}", kafka)


class _Bad(Exception):
    """Internal: a decoding failure; ``reason`` holds no row value."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Unknown(Exception):
    def __init__(self, table: str) -> None:
        super().__init__(table)
        self.table = table


def _bad(reason: str) -> NoReturn:
    raise _Bad(reason)


def _safe_name(name: str) -> str:
    """Quote a table/column name from the event for an error message (bounded length)."""
    if len(name) > _MAX_NAME:
        name = name[:_MAX_NAME] + "…"
    return repr(name)


def decode(topic: str, partition: int, offset: int, key: bytes | None, value: bytes | None) -> RowChange | Tombstone:
    """Decode one CDC record. Raises ``MalformedEvent`` (never anything else)."""
    try:
        return _decode(topic, partition, offset, key, value)
    except _Bad as exc:
        reason = exc.reason
    except _Unknown as exc:
        raise UnknownTable(exc.table, _kafka(topic, partition, offset)) from None
    except MalformedEvent:
        raise
    except Exception as exc:  # noqa: BLE001 — the contract: nothing but MalformedEvent escapes
        reason = f"unexpected {type(exc).__name__} while decoding"
    raise MalformedEvent(reason, _kafka(topic, partition, offset)) from None


def _kafka(topic: str, partition: int, offset: int) -> KafkaPosition:
    try:
        return KafkaPosition(topic=topic, partition=partition, offset=offset)
    except Exception:  # noqa: BLE001 — a position of wrong types still has to be reported
        return KafkaPosition.model_construct(topic=str(topic), partition=-1, offset=-1)


def _tombstone(topic: str, partition: int, offset: int) -> Tombstone:
    table = table_of_topic(topic)
    if table is None:
        parsed = parse_cdc_topic(topic)
        raise _Unknown(parsed.table if parsed else topic)
    return Tombstone.model_construct(table=table, kafka=KafkaPosition.model_construct(
        topic=topic, partition=partition, offset=offset))


def _loads(raw: bytes, what: str) -> Any:
    try:
        return json.loads(raw)
    except UnicodeDecodeError:
        _bad(f"{what} is not UTF-8 text")
    except json.JSONDecodeError as exc:  # exc.msg/pos describe the syntax, not the content
        _bad(f"{what} is not JSON ({exc.msg} at char {exc.pos})")


_SCHEMA_HEAD = b'{"schema":'
_PAYLOAD_SEP = b',"payload":'


_known_schemas: dict[bytes, Any] = {}


def _split_envelope(value: bytes) -> tuple[bytes, Any] | None:
    """Fast path for the JSON converter's compact ``{"schema":S,"payload":P}``.

    Returns the raw bytes of S (parsed once per distinct schema and remembered) and P
    parsed. Safe: S is only accepted if it parses as one complete JSON value on its own,
    and P only if it parses as one complete value up to the final ``}`` — so the
    separator found was the envelope's own. Anything else (pretty printed, other key
    order, extra keys) returns None and takes the general path.
    """
    if not value.startswith(_SCHEMA_HEAD) or not value.endswith(b"}"):
        return None
    i = value.find(_PAYLOAD_SEP)
    if i < 0:
        return None
    schema_raw = value[len(_SCHEMA_HEAD):i]
    if schema_raw not in _known_schemas:
        try:
            schema = json.loads(schema_raw)
        except ValueError:  # JSONDecodeError and UnicodeDecodeError
            return None
        if len(_known_schemas) > 1000:  # schemas evolve rarely; bound memory anyway
            _known_schemas.clear()
        _known_schemas[schema_raw] = schema
    try:
        payload = json.loads(value[i + len(_PAYLOAD_SEP):-1])
    except ValueError:
        return None
    return schema_raw, payload


def _decode(topic: str, partition: int, offset: int, key: bytes | None, value: bytes | None) -> RowChange | Tombstone:
    if value is None or len(value) == 0:
        return _tombstone(topic, partition, offset)

    schema: Any = None
    schema_raw: bytes | None = None
    split = _split_envelope(value)
    if split is not None:
        schema_raw, payload = split
        if payload is None:
            return _tombstone(topic, partition, offset)
    else:
        doc = _loads(value, "value")
        if type(doc) is not dict:
            _bad("value is not a JSON object")
        if "payload" in doc and "op" not in doc:
            payload = doc["payload"]
            schema = doc.get("schema")
            if payload is None:  # {"schema": null, "payload": null}: a tombstone
                return _tombstone(topic, partition, offset)
        elif "op" in doc or ("source" in doc and ("after" in doc or "before" in doc)):
            payload = doc
        else:
            _bad("not a Debezium change event (neither payload nor op)")
    if type(payload) is not dict:
        _bad("payload is not a JSON object")

    op = payload.get("op")
    if op is None:
        _bad("missing op")
    if op not in _OPS:
        _bad(f"unsupported op {op!r}" if type(op) is str and len(op) <= 2 else "invalid op")

    source = payload.get("source")
    if type(source) is not dict:
        _bad("missing source block")
    table = _table(topic, source)
    position = _position(source, payload)

    if schema_raw is not None:
        before_plan, after_plan = _raw_plans(table, schema_raw)
    elif schema is not None:
        before_plan, after_plan = _envelope_plans(table, schema)
    else:
        before_plan = after_plan = _kind_plan(table.name)

    before = _row(table, payload.get("before"), before_plan, "before")
    after = _row(table, payload.get("after"), after_plan, "after")
    if op == "d":
        if before is None and key is None:
            _bad("delete without before")
        row = before
    else:
        if after is None:
            _bad(f"op {op!r} without after")
        row = after

    pk = table.primary_key
    key_values: tuple[Any, ...] | None = None
    if row is not None:
        key_values = tuple(row.get(c) for c in pk)
        if None in key_values:
            key_values = None
    if key_values is None:
        if key is None:
            _bad(f"no primary key ({', '.join(pk)}) in row or record key")
        key_values = _decode_key(table.name, key)

    return _construct(
        RowChange,
        table=table.name,
        op=op,
        before=before,
        after=after,
        key=key_values,
        position=position,
        kafka=_construct(KafkaPosition, topic=topic, partition=partition, offset=offset),
    )


_M = TypeVar("_M", bound=BaseModel)


def _construct(cls: type[_M], **fields: Any) -> _M:
    """``cls.model_construct`` without its per-call overhead: every field is given and
    already of the right type (the decoder built it). Measured ~4x faster."""
    obj = cls.__new__(cls)
    object.__setattr__(obj, "__dict__", fields)
    object.__setattr__(obj, "__pydantic_fields_set__", set(fields))
    object.__setattr__(obj, "__pydantic_extra__", None)
    object.__setattr__(obj, "__pydantic_private__", None)
    return obj


def _table(topic: str, source: dict[str, Any]) -> Table:
    src_table = source.get("table")
    src_schema = source.get("schema")
    parsed = parse_cdc_topic(topic)
    if src_table is None:
        if parsed is None:
            _bad("no table in source block or topic")
        src_table = parsed.table
        if src_schema is None:
            src_schema = parsed.schema
    if type(src_table) is not str or (src_schema is not None and type(src_schema) is not str):
        _bad("source table/schema is not a string")
    # Cross-check with a standard Debezium topic name (a rerouted topic is not checked).
    if parsed is not None and src_schema is not None and parsed.schema.lower() == src_schema.lower():
        if parsed.table.lower() != src_table.lower():
            _bad(f"topic is for table {_safe_name(parsed.table)} but the event is from {_safe_name(src_table)}")
    if src_schema is not None and src_schema.lower() != ERP_SCHEMA:
        raise _Unknown(f"{src_schema}.{src_table}")
    name = resolve_table(src_table)
    if name is None:
        raise _Unknown(src_table)
    return TABLES[name]


def _opt_str(source: dict[str, Any], field: str) -> str | None:
    v = source.get(field)
    if v is None or type(v) is str:
        return v
    _bad(f"source.{field} is not a string")


def _opt_int(block: Mapping[str, Any], field: str, where: str = "source") -> int | None:
    v = block.get(field)
    if v is None or type(v) is int:
        return v
    _bad(f"{where}.{field} is not an integer")


def _position(source: dict[str, Any], payload: dict[str, Any]) -> SourcePosition:
    connector = source.get("connector")
    ts_ms = _opt_int(source, "ts_ms")
    if ts_ms is None:
        ts_ms = _opt_int(payload, "ts_ms", "payload")
    if connector == "sqlserver" or (connector is None and "commit_lsn" in source):
        return _construct(
            SourcePosition,
            connector="sqlserver",
            commit_lsn=_opt_str(source, "commit_lsn"),
            change_lsn=_opt_str(source, "change_lsn"),
            event_serial_no=_opt_int(source, "event_serial_no"),
            lsn=None,
            ts_ms=ts_ms,
        )
    if connector == "postgresql" or (connector is None and "lsn" in source):
        return _construct(
            SourcePosition, connector="postgresql", commit_lsn=None, change_lsn=None, event_serial_no=None,
            lsn=_opt_int(source, "lsn"), ts_ms=ts_ms,
        )
    _bad("unsupported connector (expected sqlserver or postgresql)")


# --- conversion plans ---------------------------------------------------------------------

_plan_cache: dict[tuple[Any, ...], Plan] = {}
_kind_plans: dict[str, Plan] = {}


def _kind_plan(table: str) -> Plan:
    plan = _kind_plans.get(table)
    if plan is None:
        plan = {c.name: kind_converter(c.kind) for c in TABLES[table].columns}
        _kind_plans[table] = plan
    return plan


def _signature(fields: Any) -> tuple[Any, ...]:
    if type(fields) is not list:
        _bad("invalid schema: struct without fields")
    try:
        return tuple(
            (f["field"], f["type"], f.get("name"), (f.get("parameters") or _EMPTY).get("scale")) for f in fields
        )
    except (KeyError, TypeError, AttributeError):
        _bad("invalid schema: field without name or type")


def _plan_for_schema(table: Table, struct: Any) -> Plan:
    """Converters for the columns of one Connect struct schema, cached by its signature."""
    if type(struct) is not dict:
        _bad("invalid schema: row schema is not an object")
    sig = _signature(struct.get("fields"))
    cache_key = (table.name, sig)
    plan = _plan_cache.get(cache_key)
    if plan is not None:
        return plan
    kinds = {c.name: c.kind for c in table.columns}
    plan = {}
    for field, type_, name, scale in sig:
        if type(field) is not str or type(type_) is not str or (name is not None and type(name) is not str):
            _bad("invalid schema: field name/type is not a string")
        kind = kinds.get(field)
        if kind is None:
            continue  # a column the reference schema does not know: dropped
        if scale is not None:
            try:
                scale = int(scale)
            except (TypeError, ValueError):
                _bad(f"invalid schema: decimal scale of column {_safe_name(field)}")
        plan[field] = converter(type_, name, scale, kind)
    if len(_plan_cache) > 10_000:  # schemas evolve rarely; bound memory anyway
        _plan_cache.clear()
    _plan_cache[cache_key] = plan
    return plan


_raw_cache: dict[tuple[str, bytes], tuple[Plan, Plan]] = {}


def _raw_plans(table: Table, schema_raw: bytes) -> tuple[Plan, Plan]:
    """Plans for an envelope schema given as raw JSON bytes, parsed once per distinct schema."""
    cache_key = (table.name, schema_raw)
    plans = _raw_cache.get(cache_key)
    if plans is None:
        schema = _known_schemas[schema_raw] if schema_raw in _known_schemas else _loads(schema_raw, "schema")
        plans = _envelope_plans(table, schema) if schema is not None else (_kind_plan(table.name),) * 2
        if len(_raw_cache) > 1000:
            _raw_cache.clear()
        _raw_cache[cache_key] = plans
    return plans


def _envelope_plans(table: Table, schema: Any) -> tuple[Plan, Plan]:
    if type(schema) is not dict:
        _bad("invalid schema: not an object")
    fields = schema.get("fields")
    if type(fields) is not list:
        _bad("invalid schema: envelope without fields")
    before_s: Any = None
    after_s: Any = None
    for f in fields:
        if type(f) is dict:
            name = f.get("field")
            if name == "after":
                after_s = f
            elif name == "before":
                before_s = f
    if after_s is None and before_s is None:
        _bad("invalid schema: envelope has no before/after field")
    after_plan = _plan_for_schema(table, after_s if after_s is not None else before_s)
    # Debezium gives before and after the same Value schema: compare (C speed) before
    # building a second signature.
    if before_s is None or after_s is None or before_s.get("fields") == after_s.get("fields"):
        return after_plan, after_plan
    return _plan_for_schema(table, before_s), after_plan


def _row(table: Table, data: Any, plan: Plan, which: str) -> Row | None:
    if data is None:
        return None
    if type(data) is not dict:
        _bad(f"{which} is not a JSON object")
    row: Row = {}
    name = ""
    try:
        for name, v in data.items():
            conv = plan.get(name)
            if conv is None:
                continue
            if v is None or (conv is to_str and type(v) is str):  # the common cases, without a call
                row[name] = v
            else:
                row[name] = conv(v)
    except BadValue as exc:
        _bad(f"column {table.name}.{name} ({which}): {exc}")
    return row


def _decode_key(table: str, key: bytes) -> tuple[Any, ...]:
    """The primary-key tuple from a Debezium record key (JSON, with or without schema).

    Raises ``_Bad``; through ``decode`` it surfaces as ``MalformedEvent``.
    """
    t = TABLES[table]
    doc = _loads(key, "key")
    if type(doc) is not dict:
        _bad("key is not a JSON object")
    if "payload" in doc and "schema" in doc:
        payload = doc["payload"]
        plan = _plan_for_schema(t, doc["schema"]) if doc["schema"] is not None else _kind_plan(table)
    else:
        payload, plan = doc, _kind_plan(table)
    row = _row(t, payload, plan, "key")
    if row is None:
        _bad("key has no payload")
    values = tuple(row.get(c) for c in t.primary_key)
    if None in values:
        _bad(f"key lacks primary-key columns ({', '.join(t.primary_key)})")
    return values
