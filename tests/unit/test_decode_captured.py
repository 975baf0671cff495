"""Events captured from the real Debezium PostgreSQL connector (capture_postgres.py) decode."""

from __future__ import annotations

import json
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from streams.cdc.decode import decode
from streams.cdc.model import RowChange, Tombstone

CAPTURED = Path(__file__).parents[1] / "fixtures" / "debezium" / "postgres_captured"
FILES = sorted(CAPTURED.glob("*.json"))
BASE = 990_000

pytestmark = pytest.mark.skipif(not FILES, reason="no captured connector events (run capture_postgres.py)")


def enc(doc: Any) -> bytes | None:
    return None if doc is None else json.dumps(doc, separators=(",", ":")).encode()


def load(path: Path) -> RowChange | Tombstone:
    r: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return decode(r["topic"], r["partition"], r["offset"], enc(r["key"]), enc(r["value"]))


def by_op(table: str, op: str) -> RowChange:
    found = [x for x in map(load, FILES) if isinstance(x, RowChange) and x.table == table and x.op == op]
    assert len(found) == 1, (table, op)
    return found[0]


def test_every_captured_record_decodes() -> None:
    out = [load(p) for p in FILES]
    assert sum(isinstance(x, Tombstone) for x in out) == 4
    changes = [x for x in out if isinstance(x, RowChange)]
    assert {(c.table, c.op) for c in changes} == {(t, o) for t in ("person", "unit", "contract", "document")
                                                  for o in ("c", "u", "d")}
    assert all(c.position.connector == "postgresql" and c.position.lsn for c in changes)
    keys = sorted(c.position.sort_key for c in changes)
    assert len(set(keys)) == len(keys)


def test_person() -> None:
    c = by_op("person", "c")
    assert c.key == (BASE + 1,) and c.after is not None
    assert c.after["email"] == "erika.m@example.org" and c.after["anonymized_at"] is None
    assert c.after["updated_at"] == datetime(2024, 3, 1, 9, 15, 30, 123456, tzinfo=timezone.utc)
    u = by_op("person", "u")
    assert u.after is not None and u.after["email"] == "e.mustermann@example.net"
    assert u.before is not None and u.before["email"] == "erika.m@example.org"  # REPLICA IDENTITY FULL
    d = by_op("person", "d")
    assert d.after is None and d.before is not None and d.key == (BASE + 1,)


def test_unit_numeric_boolean_date() -> None:
    c = by_op("unit", "c").after
    assert c is not None
    assert c["area"] == Decimal("72.35") and c["rooms"] == Decimal("3.5")
    assert c["is_phantom"] is True and c["valid_from"] == date(1998, 1, 1) and c["valid_to"] is None
    u = by_op("unit", "u").after
    assert u is not None and u["is_phantom"] is False and u["area"] == Decimal("0.01")


def test_contract_numeric_and_dates() -> None:
    c = by_op("contract", "c").after
    assert c is not None
    assert c["rent_amount"] == Decimal("1234.50") and c["deposit_amount"] == Decimal("-0.01")
    assert c["start_date"] == date(2023, 4, 1) and c["end_date"] is None
    assert c["person_id"] == BASE + 1 and c["unit_id"] == BASE + 2
    u = by_op("contract", "u").after
    assert u is not None and u["rent_amount"] == Decimal("99999999.99") and u["end_date"] == date(2025, 1, 31)


def test_document_bytea_timestamptz() -> None:
    c = by_op("document", "c").after
    assert c is not None
    assert c["content"] == b"%PDF-1.4\n\x00\xff\xfe\x80 capture\n%%EOF"
    assert c["created_at"] == datetime(2024, 3, 1, 4, 59, 59, 999999, tzinfo=timezone.utc)
    assert c["released"] is False
    u = by_op("document", "u").after
    assert u is not None and u["content"] is None and u["released"] is True
