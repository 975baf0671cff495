"""Column value converters: Debezium/Kafka Connect JSON values → plain Python values.

A converter is built once per (connect type, logical name, scale, column kind) and reused
for every event (see ``converter``). Converters raise ``BadValue`` with a reason that
names the expected and actual *type* only — never the value itself, which may be
personal data.

Timestamps without a zone (``io.debezium.time.Timestamp`` and friends, SQL Server
``datetime2``) are read as UTC; every datetime returned is timezone-aware.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from streams.erp.schema import ColumnKind

Converter = Callable[[Any], Any]

UTC = timezone.utc
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()

# Logical type names (the ``name`` of a field schema).
CONNECT_DECIMAL = "org.apache.kafka.connect.data.Decimal"
CONNECT_DATE = "org.apache.kafka.connect.data.Date"
CONNECT_TIMESTAMP = "org.apache.kafka.connect.data.Timestamp"
DBZ_VARIABLE_SCALE_DECIMAL = "io.debezium.data.VariableScaleDecimal"
DBZ_DATE = "io.debezium.time.Date"
DBZ_TIMESTAMP = "io.debezium.time.Timestamp"
DBZ_MICRO_TIMESTAMP = "io.debezium.time.MicroTimestamp"
DBZ_NANO_TIMESTAMP = "io.debezium.time.NanoTimestamp"
DBZ_ZONED_TIMESTAMP = "io.debezium.time.ZonedTimestamp"

INT_TYPES = frozenset({"int8", "int16", "int32", "int64"})
FLOAT_TYPES = frozenset({"float32", "float64", "float", "double"})


class BadValue(ValueError):
    """A value that does not fit its schema. The reason never contains the value."""


def _tname(value: Any) -> str:
    return type(value).__name__


# --- primitives -------------------------------------------------------------------------


def to_int(value: Any) -> int:
    if type(value) is int:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return int(value)
    if type(value) is Decimal and value.is_finite() and value == value.to_integral_value():
        return int(value)  # e.g. a numeric(10,0) key column mapped onto an int column
    raise BadValue(f"expected integer, got {_tname(value)}")


def to_str(value: Any) -> str:
    if type(value) is str:
        return value
    raise BadValue(f"expected string, got {_tname(value)}")


def to_unpadded_str(value: Any) -> str:
    """A ``char(n)`` value without its blank padding."""
    return to_str(value).rstrip(" ")


def to_bool(value: Any) -> bool:
    if value is True or value is False:
        return value
    if type(value) is int and value in (0, 1):  # bit as a number
        return value == 1
    raise BadValue(f"expected boolean, got {_tname(value)}")


def to_float(value: Any) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    raise BadValue(f"expected number, got {_tname(value)}")


def b64_bytes(value: Any) -> bytes:
    """Connect ``bytes`` in JSON: a base64 string."""
    if type(value) is not str:
        raise BadValue(f"expected base64 string, got {_tname(value)}")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise BadValue("invalid base64") from None


# --- decimals ---------------------------------------------------------------------------


def unscaled_to_decimal(raw: bytes, scale: int) -> Decimal:
    """Big-endian two's-complement unscaled value and a scale → exact Decimal."""
    unscaled = int.from_bytes(raw, "big", signed=True)
    return Decimal(f"{unscaled}E{-scale}")


def connect_decimal(scale: int) -> Converter:
    def convert(value: Any) -> Decimal:
        if type(value) is str:
            return unscaled_to_decimal(b64_bytes(value), scale)
        # A JSON converter with decimal.format=NUMERIC writes a plain number.
        return to_decimal(value)

    return convert


def variable_scale_decimal(value: Any) -> Decimal:
    if type(value) is not dict:
        raise BadValue(f"expected {{scale, value}} struct, got {_tname(value)}")
    scale = value.get("scale")
    raw = value.get("value")
    if type(scale) is not int:
        raise BadValue("VariableScaleDecimal without integer scale")
    return unscaled_to_decimal(b64_bytes(raw), scale)


def to_decimal(value: Any) -> Decimal:
    """A numeric column in any handling mode: precise (Decimal), string or double."""
    t = type(value)
    if t is Decimal:
        return value  # type: ignore[no-any-return]
    if t is str:
        try:
            d = Decimal(value)
        except InvalidOperation:
            raise BadValue(
                "expected decimal string (a schemaless event needs decimal.handling.mode=string or double)"
            ) from None
        if not d.is_finite():
            raise BadValue("non-finite decimal")
        return d
    if t is int:
        return Decimal(value)
    if t is float:
        if value != value or value in (float("inf"), float("-inf")):
            raise BadValue("non-finite decimal")
        return Decimal(repr(value))
    if t is dict:
        return variable_scale_decimal(value)
    raise BadValue(f"expected decimal, got {_tname(value)}")


# --- dates and times --------------------------------------------------------------------


def days_to_date(value: Any) -> date:
    try:
        return date.fromordinal(_EPOCH_ORDINAL + to_int(value))
    except (ValueError, OverflowError):
        raise BadValue("date out of range") from None


def _since_epoch(delta: Callable[[int], timedelta]) -> Converter:
    def convert(value: Any) -> datetime:
        try:
            return EPOCH + delta(to_int(value))
        except OverflowError:
            raise BadValue("timestamp out of range") from None

    return convert


millis_to_datetime = _since_epoch(lambda v: timedelta(milliseconds=v))
micros_to_datetime = _since_epoch(lambda v: timedelta(microseconds=v))
nanos_to_datetime = _since_epoch(lambda v: timedelta(microseconds=v // 1000))


def iso_to_datetime(value: Any) -> datetime:
    """ISO-8601 timestamp (``ZonedTimestamp``); a string without offset counts as UTC."""
    s = to_str(value)
    try:
        dt = datetime.fromisoformat(s)
    except ValueError:
        raise BadValue("expected ISO-8601 timestamp") from None
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)


def iso_to_date(value: Any) -> date:
    s = to_str(value)
    try:
        return date.fromisoformat(s[:10]) if len(s) > 10 and s[10] in "T " else date.fromisoformat(s)
    except ValueError:
        raise BadValue("expected ISO-8601 date") from None


def epoch_number_to_datetime(value: Any) -> datetime:
    """An integer timestamp of unknown unit (schemaless events): ms, µs or ns by magnitude."""
    v = to_int(value)
    if abs(v) < 100_000_000_000_000:  # < year 5138 in ms
        return millis_to_datetime(v)  # type: ignore[no-any-return]
    if abs(v) < 100_000_000_000_000_000:
        return micros_to_datetime(v)  # type: ignore[no-any-return]
    return nanos_to_datetime(v)  # type: ignore[no-any-return]


# --- adapting to the reference schema's column kind ---------------------------------------


def to_date(value: Any) -> date:
    if type(value) is date:
        return value
    if type(value) is datetime:
        return value.date()
    if type(value) is int:
        return days_to_date(value)
    if type(value) is str:
        return iso_to_date(value)
    raise BadValue(f"expected date, got {_tname(value)}")


def to_datetime(value: Any) -> datetime:
    if type(value) is datetime:
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if type(value) is int:
        return epoch_number_to_datetime(value)
    if type(value) is str:
        return iso_to_datetime(value)
    raise BadValue(f"expected timestamp, got {_tname(value)}")


def to_bytes(value: Any) -> bytes:
    if type(value) is bytes:
        return value
    return b64_bytes(value)


def _identity(value: Any) -> Any:
    return value


KIND_ADAPTERS: dict[ColumnKind, Converter] = {
    "int": to_int,
    "text": to_str,
    "varchar": to_str,
    "char": to_unpadded_str,
    "numeric": to_decimal,
    "date": to_date,
    "timestamptz": to_datetime,
    "boolean": to_bool,
    "bytes": to_bytes,
}

# What each converter below already returns, so the kind adapter can be skipped.
_RESULT_OF_LOGICAL: dict[str, str] = {
    CONNECT_DECIMAL: "numeric",
    DBZ_VARIABLE_SCALE_DECIMAL: "numeric",
    DBZ_DATE: "date",
    CONNECT_DATE: "date",
    DBZ_TIMESTAMP: "timestamptz",
    DBZ_MICRO_TIMESTAMP: "timestamptz",
    DBZ_NANO_TIMESTAMP: "timestamptz",
    DBZ_ZONED_TIMESTAMP: "timestamptz",
    CONNECT_TIMESTAMP: "timestamptz",
}
_RESULT_OF_TYPE: dict[str, str] = {
    **{t: "int" for t in INT_TYPES},
    "string": "text",
    "boolean": "boolean",
    "bytes": "bytes",
}
_SAME_KIND = {"varchar": "text", "char": "text"}


def _logical(type_: str, name: str | None, scale: int | None) -> Converter:
    if name == CONNECT_DECIMAL:
        return connect_decimal(scale or 0)
    if name == DBZ_VARIABLE_SCALE_DECIMAL:
        return variable_scale_decimal
    if name in (DBZ_DATE, CONNECT_DATE):
        return days_to_date
    if name in (DBZ_TIMESTAMP, CONNECT_TIMESTAMP):
        return millis_to_datetime
    if name == DBZ_MICRO_TIMESTAMP:
        return micros_to_datetime
    if name == DBZ_NANO_TIMESTAMP:
        return nanos_to_datetime
    if name == DBZ_ZONED_TIMESTAMP:
        return iso_to_datetime
    if type_ in INT_TYPES:
        return to_int
    if type_ == "string":
        return to_str
    if type_ == "boolean":
        return to_bool
    if type_ == "bytes":
        return b64_bytes
    if type_ in FLOAT_TYPES:
        return to_float
    return _identity  # struct/array/map or an unknown logical type: passed through


# Source types whose values are blank-padded (SQL Server char/nchar, PostgreSQL char = bpchar),
# as Debezium names them in ``__debezium.source.column.type`` (``datatype.propagate.source.type``)
PADDED_SOURCE_TYPES = frozenset({"CHAR", "NCHAR", "BPCHAR"})


@lru_cache(maxsize=4096)
def converter(type_: str, name: str | None, scale: int | None, kind: ColumnKind | None,
              padded: bool = False) -> Converter:
    """The converter of one column: its Connect schema (type, logical name, scale) decoded,
    then adapted to the reference-schema column kind (e.g. ``decimal.handling.mode=string``
    gives a string schema for a numeric column → Decimal). ``kind=None``: schema only.
    ``padded``: the source column is ``char(n)``; its text loses the blank padding (as does
    every value of a reference ``char`` column)."""
    if type_ == "string" and name is None and (padded or kind == "char") and kind in (None, "text", "varchar", "char"):
        return to_unpadded_str
    base = _logical(type_, name, scale)
    if kind is None:
        return base
    produced = _RESULT_OF_LOGICAL.get(name or "") or _RESULT_OF_TYPE.get(type_)
    if produced is not None and produced == _SAME_KIND.get(kind, kind):
        return base
    adapt = KIND_ADAPTERS[kind]
    if base is _identity or base is to_str or base is to_float:
        if base is to_float:
            return lambda v: adapt(to_float(v))
        return adapt  # the kind adapter checks the raw JSON value itself
    return lambda v: adapt(base(v))


def kind_converter(kind: ColumnKind) -> Converter:
    """Converter for a schemaless event: the column kind alone decides."""
    return KIND_ADAPTERS[kind]
