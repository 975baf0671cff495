"""A batch's writes to the worker's Faust tables, carried out together.

``table[key] = value`` in Faust writes the local store and hands one changelog message to
Faust's producer buffer, which sends them one by one and holds the stream back whenever
more than 100 wait: at a bulk load (every row a state write) that is a large part of the
worker's time per event. ``TableWrites`` collects a batch's writes instead (the last write
of a key wins), puts them into each table's store at once and produces the same records to its
changelog at once (``LocalStore``: one RocksDB write batch; keys and values encoded by the
changelog topic, as Faust encodes its own) and, once Kafka has them, moves the store's
persisted changelog offset past them, as Faust's own callback does per message. A restarted worker so
reads from the changelog only what its local store does not hold yet, as before.

The tables stay Faust tables: recovery from the changelog, the local RocksDB stores and
their offsets are Faust's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

# PARTITION: the tables' only partition, named, so no partitioner hashes every key
from streams.worker.stores import PARTITION, LocalStore

# produce records to a partition of a topic, await them; the partition's end offset after them
Deliver = Callable[[str, Sequence[tuple[bytes, bytes | None]], int | None], Awaitable[int | None]]


class TableWrites:
    def __init__(self, deliver: Deliver) -> None:
        self._deliver = deliver
        self._writes: dict[LocalStore, dict[str, bytes | None]] = {}  # table -> key -> value (None: delete)

    def __len__(self) -> int:
        return sum(len(w) for w in self._writes.values())

    def set(self, table: LocalStore, key: str, value: bytes) -> None:
        self._writes.setdefault(table, {})[key] = value

    def delete(self, table: LocalStore, key: str) -> None:
        self._writes.setdefault(table, {})[key] = None

    async def flush(self) -> None:
        """Every collected write into its table's store and changelog; returns once Kafka
        holds the changelog records."""
        writes, self._writes = self._writes, {}
        records = {table: table.write(items) for table, items in writes.items() if items}  # the stores first
        ends = await asyncio.gather(*(self._deliver(table.changelog, written, PARTITION)
                                      for table, written in records.items()))
        for table, end in zip(records, ends, strict=True):
            if end is not None:  # the offset after the last record: the store holds everything before it
                table.persisted(end)
