"""Equal column values shared across the rows of the state.

A million ERP rows repeat most of their values: cities, postal codes, streets, countries,
person types, usages, room counts, start dates. Each decoded row brings its own copy (a
short string is about 60 bytes, a ``Decimal`` about 100), so the state would hold a million
copies of "Köln". ``SharedValues`` hands out one object per distinct value, per column, and
only where it pays: a column whose values mostly do not repeat (e-mail addresses, IBANs,
numbers) is measured over its first ``PROBE`` values and then left alone, so its cache does
not grow with every row.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from streams.erp.rows import ErpRow, row_columns

PROBE = 5_000  # values of a column looked at before deciding whether sharing pays
MIN_REPEAT = 0.5  # share a column whose probed values were repeats at least this often
MAX_VALUES = 200_000  # distinct values kept per column at most
# what is shared: equal values of these types are interchangeable (not datetime: equal
# instants in other time zones print differently; not bool and None: singletons already)
SHAREABLE: frozenset[type] = frozenset({str, int, Decimal, date})


class _Column:
    __slots__ = ("values", "seen", "repeats", "on")

    def __init__(self) -> None:
        self.values: dict[Any, Any] = {}
        self.seen = 0
        self.repeats = 0
        self.on = True


class SharedValues:
    def __init__(self) -> None:
        self._columns: dict[tuple[str, str], _Column] = {}

    def share(self, row: ErpRow) -> ErpRow:
        """``row`` with its values replaced by the equal ones held already (in place: the row
        was just parsed and is not referenced elsewhere yet)."""
        table = row.table
        for name in row_columns(table):
            value = getattr(row, name)
            if type(value) not in SHAREABLE:
                continue
            col = self._columns.get((table, name))
            if col is None:
                col = self._columns[(table, name)] = _Column()
            if not col.on:
                continue
            held = col.values.get(value)
            if col.seen < PROBE:
                col.seen += 1
                if held is not None:
                    col.repeats += 1
                elif col.seen == PROBE and col.repeats < MIN_REPEAT * PROBE:
                    col.on, col.values = False, {}
                    continue
            if held is None:
                if len(col.values) < MAX_VALUES:
                    col.values[value] = value
            elif held is not value and type(held) is type(value) and (
                    type(value) is not Decimal or held.as_tuple() == value.as_tuple()):  # 75.5 is not 75.50
                object.__setattr__(row, name, held)
        return row

    def stats(self) -> dict[str, int]:
        """Distinct values held per shared column (``table.column``)."""
        return {f"{t}.{c}": len(col.values) for (t, c), col in self._columns.items() if col.on}
