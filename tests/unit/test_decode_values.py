"""Every logical type the decoder understands, through ``decode`` with a field schema."""

from __future__ import annotations

import base64
import json
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from streams.cdc.decode import decode
from streams.cdc.model import MalformedEvent, RowChange
from streams.cdc.values import BadValue, converter, to_decimal, unscaled_to_decimal

UTC = timezone.utc


def one_column(table: str, column: str, field_schema: dict[str, Any], value: Any,
               connector: str = "postgresql") -> Any:
    """Decode a c-event of ``table`` whose only non-key column has the given schema and value."""
    pk = {"unit": "unit_id", "document": "document_id", "contract": "contract_id", "person": "person_id",
          "property": "property_id", "ticket_priority": "priority_code"}[table]
    pk_type = "string" if table == "ticket_priority" else "int32"
    pk_value: Any = "P1" if pk_type == "string" else 1
    fields = [{"type": pk_type, "optional": False, "field": pk}, {**field_schema, "optional": True, "field": column}]
    struct = {"type": "struct", "fields": fields, "optional": True, "name": f"x.erp.{table}.Value"}
    source: dict[str, Any] = {"connector": connector, "schema": "erp", "table": table}
    source.update({"lsn": 1} if connector == "postgresql" else {"commit_lsn": "00000001:00000001:0001"})
    doc = {
        "schema": {"type": "struct", "name": f"x.erp.{table}.Envelope", "fields": [
            {**struct, "field": "before"}, {**struct, "field": "after"},
            {"type": "struct", "fields": [], "optional": False, "field": "source"},
            {"type": "string", "optional": False, "field": "op"},
        ]},
        "payload": {"before": None, "after": {pk: pk_value, column: value}, "source": source, "op": "c"},
    }
    rc = decode(f"x.erp.{table}", 0, 0, None, json.dumps(doc, separators=(",", ":")).encode())
    assert isinstance(rc, RowChange)
    assert rc.after is not None
    return rc.after[column]


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def dec_schema(scale: int) -> dict[str, Any]:
    return {"type": "bytes", "name": "org.apache.kafka.connect.data.Decimal", "version": 1,
            "parameters": {"scale": str(scale), "connect.decimal.precision": "12"}}


@pytest.mark.parametrize(
    ("raw", "scale", "expected"),
    [
        (b"\x00", 2, "0.00"),
        (b"\x01\xe2\x32", 2, "1234.42"),  # 0x01e232 = 123442
        (b"\xff", 2, "-0.01"),
        (b"\x80", 0, "-128"),
        (b"\x00\x80", 1, "12.8"),
    ],
)
def test_connect_decimal(raw: bytes, scale: int, expected: str) -> None:
    got = one_column("contract", "rent_amount", dec_schema(scale), b64(raw))
    assert str(got) == expected


def test_connect_decimal_known_values() -> None:
    assert unscaled_to_decimal((123450).to_bytes(3, "big", signed=True), 2) == Decimal("1234.50")
    assert unscaled_to_decimal((-5).to_bytes(1, "big", signed=True), 2) == Decimal("-0.05")
    big = 10**37 + 7
    assert unscaled_to_decimal(big.to_bytes(16, "big", signed=True), 4) == Decimal(f"{big}E-4")  # no rounding
    assert str(one_column("unit", "area", dec_schema(2), b64((7235).to_bytes(2, "big", signed=True)))) == "72.35"


def test_variable_scale_decimal() -> None:
    schema = {"type": "struct", "name": "io.debezium.data.VariableScaleDecimal", "version": 1, "fields": [
        {"type": "int32", "optional": False, "field": "scale"}, {"type": "bytes", "optional": False, "field": "value"}]}
    value = {"scale": 3, "value": b64((-123456).to_bytes(3, "big", signed=True))}
    assert one_column("unit", "area", schema, value) == Decimal("-123.456")


@pytest.mark.parametrize(
    ("schema", "value"),
    [({"type": "string"}, "1234.50"), ({"type": "double"}, 1234.5), ({"type": "float64"}, 1234.5)],
)
def test_decimal_handling_modes_string_and_double(schema: dict[str, Any], value: Any) -> None:
    assert one_column("contract", "rent_amount", schema, value) == Decimal("1234.5")


@pytest.mark.parametrize("name", ["io.debezium.time.Date", "org.apache.kafka.connect.data.Date"])
def test_dates(name: str) -> None:
    schema = {"type": "int32", "name": name, "version": 1}
    assert one_column("contract", "start_date", schema, 19_783) == date(2024, 3, 1)
    assert one_column("contract", "start_date", schema, 0) == date(1970, 1, 1)
    assert one_column("contract", "start_date", schema, -1) == date(1969, 12, 31)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("io.debezium.time.Timestamp", 1_709_288_130_123),
        ("org.apache.kafka.connect.data.Timestamp", 1_709_288_130_123),
        ("io.debezium.time.MicroTimestamp", 1_709_288_130_123_000),
        ("io.debezium.time.NanoTimestamp", 1_709_288_130_123_000_999),
    ],
)
def test_epoch_timestamps_are_utc_aware(name: str, value: int) -> None:
    got = one_column("document", "created_at", {"type": "int64", "name": name}, value)
    assert got == datetime(2024, 3, 1, 10, 15, 30, 123000, tzinfo=UTC)
    assert got.tzinfo is not None


def test_micro_and_nano_precision() -> None:
    micro = one_column("document", "created_at", {"type": "int64", "name": "io.debezium.time.MicroTimestamp"},
                       1_709_288_130_123_456)
    assert micro.microsecond == 123456
    nano = one_column("document", "created_at", {"type": "int64", "name": "io.debezium.time.NanoTimestamp"},
                      -1)  # 1 ns before the epoch floors to the previous microsecond
    assert nano == datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-03-01T10:15:30Z", datetime(2024, 3, 1, 10, 15, 30, tzinfo=UTC)),
        ("2024-03-01T10:15:30.1234567+01:00", datetime(2024, 3, 1, 9, 15, 30, 123456, tzinfo=UTC)),
        ("2024-03-01T10:15:30.5-05:30", datetime(2024, 3, 1, 15, 45, 30, 500000, tzinfo=UTC)),
    ],
)
def test_zoned_timestamp(value: str, expected: datetime) -> None:
    got = one_column("document", "created_at", {"type": "string", "name": "io.debezium.time.ZonedTimestamp"}, value)
    assert got == expected and got.tzinfo is not None


def test_zoned_offset_is_kept() -> None:
    got = one_column("document", "created_at", {"type": "string", "name": "io.debezium.time.ZonedTimestamp"},
                     "2024-03-01T10:15:30+02:00")
    assert got.utcoffset() == timedelta(hours=2)


def test_boolean_bit_bytes_ints_strings() -> None:
    assert one_column("unit", "is_phantom", {"type": "boolean"}, True) is True
    assert one_column("unit", "is_phantom", {"type": "boolean"}, False) is False
    assert one_column("unit", "is_phantom", {"type": "int16"}, 1) is True  # bit as smallint
    assert one_column("document", "content", {"type": "bytes"}, b64(b"\x00\x01\xff")) == b"\x00\x01\xff"
    assert one_column("document", "content", {"type": "bytes"}, "") == b""
    for t in ("int16", "int32", "int64"):
        assert one_column("unit", "building_id", {"type": t}, 2**31 if t == "int64" else 12) in (2**31, 12)
    assert one_column("unit", "unit_no", {"type": "string"}, "0017") == "0017"
    assert one_column("ticket_priority", "rank", {"type": "int32"}, 3) == 3


def test_nulls_stay_none() -> None:
    for col, schema in [("rent_amount", dec_schema(2)), ("end_date", {"type": "int32", "name": "io.debezium.time.Date"})]:
        assert one_column("contract", col, schema, None) is None


def test_sqlserver_position() -> None:
    got = one_column("unit", "is_phantom", {"type": "boolean"}, True, connector="sqlserver")
    assert got is True


@pytest.mark.parametrize(
    ("column", "schema", "value"),
    [
        ("rent_amount", dec_schema(2), "!!!not-base64"),
        ("rent_amount", dec_schema(2), ["list"]),
        ("rent_amount", {"type": "string"}, "zwölf"),
        ("start_date", {"type": "int32", "name": "io.debezium.time.Date"}, "2024-01-01x"),
        ("start_date", {"type": "int32", "name": "io.debezium.time.Date"}, 10**9),
        ("unit_id", {"type": "int32"}, "17"),
        ("contract_no", {"type": "string"}, 17),
        ("end_date", {"type": "int32", "name": "io.debezium.time.Date"}, True),
    ],
)
def test_wrong_value_types_are_malformed(column: str, schema: dict[str, Any], value: Any) -> None:
    with pytest.raises(MalformedEvent) as err:
        one_column("contract", column, schema, value)
    assert "contract." in str(err.value)


def test_converter_cache_and_reasons_have_no_values() -> None:
    assert converter("int32", None, None, "int") is converter("int32", None, None, "int")
    with pytest.raises(BadValue) as err:
        to_decimal("geheim@example.org")
    assert "geheim" not in str(err.value)
