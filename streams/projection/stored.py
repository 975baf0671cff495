"""ERP rows read from the worker's state table when asked, not held in memory.

At a million ERP rows the rows themselves are most of a worker's memory (about 60 % of its
state; ``bench/README.md``). The worker writes every row to its state table (a Faust table in
a local RocksDB store) anyway, so an ``ErpState`` in *store mode* keeps in memory only what
finding rows needs — the keys of every table and the secondary indexes — and reads a row from
the state table when the projection asks for it:

- ``StoredTable``: one table's keys;
- ``RowCache``: rows read or written lately, shared by every table and bounded (a ``Recent``
  of ``max_items``), so a root projected again, or a property read for each of its units, is
  read once. It drops rows only in ``age``, which the state calls between batches, once the
  worker carried the batch out: a row a batch wrote stays in memory until the state table
  holds it. The worker keeps the source positions of the rows it checked lately in a
  ``Recent`` of its own (``Processor``), so the replay check of a change to a row used lately
  reads nothing either.

A row is read as the state table holds it and validated into its model again (``parse_row``),
as a start without an image does with every row.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, MutableMapping
from typing import Any, Generic, TypeVar

from streams.erp.rows import ROW_MODELS, ErpRow, Key, parse_row

# (table, primary key) -> the row's column values as the state table holds them (None: no row)
RowSource = Callable[[str, Key], Mapping[str, Any] | None]
K = TypeVar("K")
V = TypeVar("V")


class Recent(Generic[K, V]):
    """Values used lately, in two generations of about ``max_items`` // 2 each. A value found in
    the older one moves to the younger; when the younger is full (checked between batches, so
    it may hold one batch's values more) it becomes the older and the values of the older are
    dropped. Two dict look-ups at most, and no bookkeeping per read. It drops values only in
    ``age``, which its owner calls between batches, once the worker carried the batch out: a
    value a batch wrote stays in memory until the state table holds it."""

    def __init__(self, max_items: int) -> None:
        self.max_items = max_items
        self._young: dict[K, V] = {}
        self._old: dict[K, V] = {}

    def __len__(self) -> int:
        return len(self._young) + len(self._old)

    def get(self, key: K) -> V | None:
        value = self._young.get(key)
        if value is None:
            value = self._old.pop(key, None)
            if value is not None:
                self._young[key] = value
        return value

    def put(self, key: K, value: V) -> None:
        self._young[key] = value

    __setitem__ = put

    def discard(self, key: K) -> None:
        self._young.pop(key, None)
        self._old.pop(key, None)

    def age(self) -> None:
        """Between batches: a full younger generation becomes the older one."""
        if len(self._young) >= self.max_items // 2:
            self._old, self._young = self._young, {}


# rows read or written lately, by (table, primary key), shared by every table of a state
RowCache = Recent[tuple[str, Key], ErpRow]


class StoredTable(MutableMapping[Key, ErpRow]):
    """One ERP table of a store-mode ``ErpState``: the keys in memory (a one-column key as its
    value: an int instead of a tuple holding it), the rows in ``cache`` or read from ``source``.

    Iterating gives the keys as the state holds them at that moment: callers that change the
    table while they walk it copy the keys first (``list(table)``), as for a dict."""

    def __init__(self, name: str, source: RowSource, cache: RowCache) -> None:
        self.name = name
        self.single = len(ROW_MODELS[name].primary_key) == 1
        self.source = source
        self.cache = cache
        self.keys_: set[Any] = set()

    def _k(self, key: Key) -> Any:
        return key[0] if self.single else key

    def __contains__(self, key: object) -> bool:
        return isinstance(key, tuple) and self._k(key) in self.keys_

    def __len__(self) -> int:
        return len(self.keys_)

    def __iter__(self) -> Iterator[Key]:
        if self.single:
            return ((k,) for k in self.keys_)
        return iter(self.keys_)

    def get(self, key: Key, default: Any = None) -> Any:
        if (key[0] if self.single else key) not in self.keys_:
            return default
        row = self.cache.get((self.name, key))
        if row is None:
            row = self._read(key)
            if row is None:
                return default
        return row

    def _read(self, key: Key) -> ErpRow | None:
        data = self.source(self.name, key)
        if data is None:
            return None
        row = parse_row(self.name, data)
        self.cache.put((self.name, key), row)
        return row

    def __getitem__(self, key: Key) -> ErpRow:
        row = self.get(key)
        if row is None:
            raise KeyError(key)
        return row  # type: ignore[no-any-return]

    def __setitem__(self, key: Key, row: ErpRow) -> None:
        self.keys_.add(self._k(key))
        self.cache.put((self.name, key), row)  # held until the state table has it (``RowCache``)

    def __delitem__(self, key: Key) -> None:
        if self.pop(key, None) is None:
            raise KeyError(key)

    def pop(self, key: Key, default: Any = None) -> Any:
        row = self.get(key)
        if row is None:
            return default
        self.keys_.discard(self._k(key))
        self.cache.discard((self.name, key))
        return row

    def stored(self, key: Key) -> None:
        """A key whose row the state table holds already (a start reading the table)."""
        self.keys_.add(self._k(key))

    def forget(self, key: Key) -> None:
        """A key no longer held, without reading its row (a start from an image)."""
        self.keys_.discard(self._k(key))
        self.cache.discard((self.name, key))
