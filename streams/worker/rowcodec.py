"""Rows in the worker's state tables: JSON with tagged values, readable in Kafka UI.

Decoded CDC rows hold Decimal, date, datetime and bytes; plain JSON cannot carry
them losslessly, so each such value is written as a one-key object (``{"$dec": "12.50"}``).
"""

from __future__ import annotations

import base64
import json
import orjson
from datetime import date, datetime
from decimal import Decimal
from collections.abc import Callable
from typing import Any

from streams import fastjson
from streams.cdc.model import Row


def _tag(value: Any) -> Any:
    if isinstance(value, Decimal):
        return {"$dec": str(value)}
    if isinstance(value, datetime):
        return {"$dt": value.isoformat()}
    if isinstance(value, date):
        return {"$date": value.isoformat()}
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"$b64": base64.b64encode(bytes(value)).decode()}
    return value


_UNTAG: dict[str, Callable[[Any], Any]] = {
    "$dec": Decimal,
    "$dt": datetime.fromisoformat,
    "$date": date.fromisoformat,
    "$b64": base64.b64decode,
}


def _untag(obj: dict[str, Any]) -> Any:
    if len(obj) == 1:
        ((k, v),) = obj.items()
        conv = _UNTAG.get(k)
        if conv is not None:
            return conv(v)
    return obj


Position = tuple[str, str, int]
PositionOrder = int | Position


def position_order(position: Position) -> PositionOrder:
    """A position as one integer that orders as the tuple does, to hold in memory (an int is
    about 100 bytes less per row than the tuple of strings): PostgreSQL's zero-padded LSN,
    or SQL Server's commit and change LSN (20 hex digits each) with the event's serial number.
    A position in any other form stays the tuple."""
    first, second, serial = position
    if not second and not serial and first.isdigit():  # PostgreSQL: (lsn:020d, "", 0)
        return int(first)
    commit, change = first.replace(":", ""), second.replace(":", "")
    if len(commit) > 20 or len(change) > 20 or not 0 <= serial < 1 << 32:
        return position
    try:
        return (int(commit or "0", 16) << 80 | int(change or "0", 16)) << 32 | serial
    except ValueError:
        return position


def _tagged(value: Any) -> Any:
    """orjson's ``default``: the tagged form of a value plain JSON cannot carry."""
    tagged = _tag(value)
    if tagged is value:
        raise TypeError(type(value).__name__)
    return tagged


def dumps_entry(row: Row | None, position: Position | None) -> bytes:
    """A state-table entry: the row (``null`` once deleted) and the source position of the
    change that wrote it, so that a replayed older change can be recognised and skipped."""
    try:  # dates and datetimes handed to _tagged as well: only tagged values leave the row's own
        return orjson.dumps({"pos": position, "row": row}, default=_tagged, option=orjson.OPT_PASSTHROUGH_DATETIME)
    except TypeError:  # what orjson cannot write (an integer beyond 64 bits): the same JSON, slower
        return fastjson.dumps({"pos": position, "row": None if row is None else {k: _tag(v) for k, v in row.items()}})


def loads_entry(data: bytes) -> tuple[Row | None, Position | None]:
    entry = fastjson.loads(data)
    row = entry.get("row")
    if row is not None:
        for name, value in row.items():  # a tagged value is one level down, never deeper
            if type(value) is dict and len(value) == 1:
                ((tag, text),) = value.items()
                conv = _UNTAG.get(tag)
                if conv is not None:
                    row[name] = conv(text)
    return row, _position(entry.get("pos"))


def _position(pos: Any) -> Position | None:
    return None if pos is None else (str(pos[0]), str(pos[1]), int(pos[2]))


def row_key(table: str, key: tuple[Any, ...]) -> str:
    """State-table key of a row: ``<table>|<json pk>``."""
    if all(type(k) is int for k in key):  # the common key, written as json.dumps writes it
        return f"{table}|[{','.join(map(str, key))}]"
    return f"{table}|{json.dumps([_tag(k) for k in key], separators=(',', ':'))}"


def table_of_row_key(key: str) -> str:
    """The table of a state-table key (without parsing the key columns)."""
    return key.partition("|")[0]


def parse_row_key(key: str) -> tuple[str, tuple[Any, ...]]:
    table, _, pk = key.partition("|")
    return table, tuple(json.loads(pk, object_hook=_untag))
