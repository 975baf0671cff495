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
    __slots__ = ("name", "values", "seen", "repeats")

    def __init__(self, name: str) -> None:
        self.name = name
        self.values: dict[Any, Any] = {}
        self.seen = 0
        self.repeats = 0


class SharedValues:
    def __init__(self) -> None:
        self._columns: dict[str, list[_Column]] = {}  # table -> the columns still shared

    def share(self, row: ErpRow) -> ErpRow:
        """``row`` with its values replaced by the equal ones held already (in place: the row
        was just parsed and is not referenced elsewhere yet)."""
        table = row.table
        columns = self._columns.get(table)
        if columns is None:
            columns = self._columns[table] = [_Column(name) for name in row_columns(table)]
        dropped: list[_Column] = []
        for col in columns:
            value = getattr(row, col.name)
            if type(value) not in SHAREABLE:
                continue
            held = col.values.get(value)
            if col.seen < PROBE:
                col.seen += 1
                if held is not None:
                    col.repeats += 1
                elif col.seen == PROBE and col.repeats < MIN_REPEAT * PROBE:
                    col.values = {}  # mostly distinct: no longer looked at
                    dropped.append(col)
                    continue
            if held is None:
                if len(col.values) < MAX_VALUES:
                    col.values[value] = value
            elif held is not value and type(held) is type(value) and (
                    type(value) is not Decimal or held.as_tuple() == value.as_tuple()):  # 75.5 is not 75.50
                object.__setattr__(row, col.name, held)
        if dropped:
            self._columns[table] = [c for c in columns if c not in dropped]
        return row

    def stats(self) -> dict[str, int]:
        """Distinct values held per shared column (``table.column``)."""
        return {f"{t}.{col.name}": len(col.values) for t, columns in self._columns.items() for col in columns if col.seen}
