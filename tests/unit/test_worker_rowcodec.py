"""State-table entries and keys are the same bytes whichever path writes them: the tables
written by an earlier worker stay readable and their keys stay the keys of the same rows."""

from __future__ import annotations

import json
from datetime import date, datetime, time, timezone
from decimal import Decimal
from typing import Any

import pytest

from streams import fastjson
from streams.worker.rowcodec import _tag, dumps_entry, loads_entry, parse_row_key, row_key


def _reference_entry(row: dict[str, Any] | None, position: Any) -> bytes:
    return fastjson.dumps({"pos": position, "row": None if row is None else {k: _tag(v) for k, v in row.items()}})


def _reference_key(table: str, key: tuple[Any, ...]) -> str:
    return f"{table}|{json.dumps([_tag(k) for k in key], separators=(',', ':'))}"


ROWS: list[dict[str, Any] | None] = [
    None,
    {},
    {"person_id": 7, "last_name": "Müller-Lüdenscheidt", "email": None, "active": True, "share": 0.5},
    {"rent": Decimal("712.50"), "start_date": date(2024, 3, 1), "changed": datetime(2026, 12, 6, 20, 1, 2, 345678),
     "changed_tz": datetime(2026, 12, 6, 20, 1, 2, tzinfo=timezone.utc), "photo": b"\x00\xffbytes"},
    {"big": 2**70, "rent": Decimal("-0.01")},  # beyond orjson's 64-bit integers
    {"at": time(12, 30), "n": 1},  # a value neither path tags
    {"text": "\u2028 \"quoted\" \\ \n", "nested": {"$dec": "1"}},
]


@pytest.mark.parametrize("row", ROWS)
def test_an_entry_is_written_as_the_reference_writes_it_and_reads_back(row: dict[str, Any] | None) -> None:
    position = ("00000000000000012345", "", 0)
    assert dumps_entry(row, position) == _reference_entry(row, position)
    back, pos = loads_entry(dumps_entry(row, position))
    assert pos == position
    if row is not None and "nested" not in row and "at" not in row:
        assert back == row


@pytest.mark.parametrize("key", [(1,), (2, 30, 400), (True, 1), ("Ä-1", 2), (Decimal("1.5"),), (date(2024, 1, 1), 3),
                                 (2**70,), (-5, 0)])
def test_a_row_key_is_written_as_the_reference_writes_it(key: tuple[Any, ...]) -> None:
    assert row_key("contract", key) == _reference_key("contract", key)
    assert parse_row_key(row_key("contract", key)) == ("contract", key)
