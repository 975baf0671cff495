"""A batch's writes to the worker's Faust tables, carried out together.

``table[key] = value`` in Faust writes the local store and hands one changelog message to
Faust's producer buffer, which sends them one by one and holds the stream back whenever
more than 100 wait: at a bulk load (every row a state write) that is a large part of the
worker's time per event. ``TableWrites`` collects a batch's writes instead (the last write
of a key wins), puts them into each table's store at once (``LocalStore``: one RocksDB write
batch), produces every changelog record at once (keys and values encoded by the changelog
topic, as Faust encodes its own) and, once Kafka has them, moves the store's persisted
changelog offset past them, as Faust's own callback does per message. A restarted worker so
reads from the changelog only what its local store does not hold yet, as before.

The tables stay Faust tables: recovery from the changelog, the local RocksDB stores and
their offsets are Faust's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from faust.types import TP

# PARTITION: the tables' only partition, named, so no partitioner hashes every key
from streams.worker.stores import PARTITION, LocalStore

# produce records to a partition of a topic, await them; the partition's end offset after them
Deliver = Callable[[str, Sequence[tuple[bytes, bytes | None]], int | None], Awaitable[int | None]]


class TableWrites:
    def __init__(self, deliver: Deliver) -> None:
        self._deliver = deliver
        self._writes: dict[Any, dict[str, bytes | None]] = {}  # table -> key -> value (None: delete)
        self._stores: dict[int, LocalStore] = {}

    def __len__(self) -> int:
        return sum(len(w) for w in self._writes.values())

    def set(self, table: Any, key: str, value: bytes) -> None:
        self._writes.setdefault(table, {})[key] = value

    def delete(self, table: Any, key: str) -> None:
        self._writes.setdefault(table, {})[key] = None

    async def flush(self) -> None:
        """Every collected write into its table's store and changelog; returns once Kafka
        holds the changelog records."""
        writes, self._writes = self._writes, {}
        sends: list[tuple[Any, str, Awaitable[int | None]]] = []
        for table, items in writes.items():
            if not items:
                continue
            changelog = table.changelog_topic
            topic = changelog.get_topic_name()
            records = [(_encoded(changelog.prepare_key(k, table.key_serializer)),
                        None if v is None else _encoded(changelog.prepare_value(v, table.value_serializer)))
                       for k, v in items.items()]
            self._store(table).write(items, records)
            sends.append((table.data, topic, self._deliver(topic, records, PARTITION)))
        ends = await asyncio.gather(*(send for _, _, send in sends))
        for (store, topic, _), end in zip(sends, ends, strict=True):
            if end is not None:  # the offset of the last record: the store holds everything up to it
                store.set_persisted_offset(TP(topic, PARTITION), end - 1)

    def _store(self, table: Any) -> LocalStore:
        store = self._stores.get(id(table))
        if store is None:
            store = self._stores[id(table)] = LocalStore(table)
        return store


def _encoded(prepared: tuple[Any, Any]) -> bytes:
    """What Faust's changelog topic makes of a key or value (``prepare_key``/``prepare_value``,
    the path of its own changelog messages): the same bytes a recovery expects."""
    data = prepared[0]
    if not isinstance(data, bytes):
        raise TypeError(f"a table's changelog record must encode to bytes, not {type(data).__name__}")
    return data
