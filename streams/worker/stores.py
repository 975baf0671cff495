"""The worker's local RocksDB stores: read and written by key, and checked against their
changelogs before Faust starts.

``LocalStore`` reads and writes one table's local store by key. Faust's ``table[key]`` goes
through the table, its serializers, the store's partition taken from the current event and a
locked key-index cache on every call: about 12 µs per read and 8 µs per write on the bench
machine, against 1 µs and 4 µs for RocksDB itself, and the worker reads and writes its state
table once per change. ``LocalStore`` encodes the key as the store does (the same bytes as
the table's changelog records carry: Faust's recovery writes those into the store), reads the
partition's RocksDB directly and writes a batch's entries in one ``WriteBatch``, as Faust
applies a batch of changelog records during recovery. Tables over the memory store (tests) go
through Faust.

Faust keeps each table in a local RocksDB store and remembers there the changelog offset it
has applied. When the changelog is younger than the store — the stack was purged, the topic
deleted and recreated, a cluster restored — the store is *ahead*: Faust refuses to start
(``ConsistencyError``: persisted offset above the highwater). The changelog is the source of
truth, so such a store is removed and Faust rebuilds it from the changelog.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from streams.ops.offsets import read_topic
from streams.settings import KafkaSettings

log = logging.getLogger(__name__)

OFFSET_KEY = b"__faust\0offset__"  # where Faust's RocksDB store keeps its applied changelog offset
PARTITION = 0  # the tables' only partition (``streams.worker.app``)


class LocalStore:
    """One Faust table's local store, partition ``PARTITION`` (module docstring)."""

    def __init__(self, table: Any) -> None:
        self.table = table
        self._store = table.data
        self._rocksdb = hasattr(self._store, "_db_for_partition")  # else Faust's memory store

    def get(self, key: str) -> bytes | None:
        if not self._rocksdb:
            value: bytes | None = self.table.get(key)
            return value
        return self._db().get(self._store._encode_key(key))  # type: ignore[no-any-return]

    def write(self, items: Mapping[str, bytes | None], encoded: Sequence[tuple[bytes, bytes | None]]) -> None:
        """A batch's writes, ``items`` by key (None: delete) and the same ``encoded`` as the
        changelog records carry them."""
        if not self._rocksdb:
            store = self._store
            for key, value in items.items():
                if value is None:
                    store.pop(key, None)
                else:
                    store[key] = value
            return
        from rocksdict import WriteBatch

        batch = WriteBatch(raw_mode=True)
        for key_bytes, value in encoded:
            if value is None:
                batch.delete(key_bytes)
            else:
                batch.put(key_bytes, value)
        self._db().write(batch)

    def _db(self) -> Any:
        return self._store._db_for_partition(PARTITION)


def store_is_ahead(persisted_offset: int | None, end_offset: int | None) -> bool:
    """Faust's own test, in end-offset terms: the last applied offset must lie inside the
    changelog (below its end offset; a missing changelog has none)."""
    return bool(persisted_offset) and (end_offset is None or persisted_offset >= end_offset)  # type: ignore[operator]


def persisted_offset(store: Path) -> int | None:
    """The changelog offset a local store says it applied (None without a store)."""
    if not store.exists():
        return None
    from rocksdict import AccessType, Options, Rdict

    db = Rdict(str(store), options=Options(raw_mode=True), access_type=AccessType.read_only())
    try:
        value = db.get(OFFSET_KEY)
    finally:
        db.close()
    return None if value is None else int(value)


def remove_stores_ahead(tabledir: Path, app_id: str, tables: list[str], bootstrap_servers: str) -> list[str]:
    """Remove the partition-0 store of every table whose changelog is behind it; returns their names."""
    stores = {t: tabledir / f"{t}-0.db" for t in tables}
    offsets = {t: persisted_offset(p) for t, p in stores.items()}
    if all(o is None for o in offsets.values()):
        return []
    consumer = KafkaConsumer(bootstrap_servers=bootstrap_servers.split(","), client_id="casavi-bridge-store-check")
    try:
        tps = {t: TopicPartition(f"{app_id}-{t}-changelog", 0) for t in tables}
        known = consumer.topics()
        ends = consumer.end_offsets([tp for tp in tps.values() if tp.topic in known])
    finally:
        consumer.close()
    removed: list[str] = []
    for table, store in stores.items():
        end = ends.get(tps[table])
        if store_is_ahead(offsets[table], end):
            log.warning("local store of table %s is ahead of its changelog (offset %s, changelog end %s): "
                        "removing it; it is rebuilt from the changelog", table, offsets[table], end)
            shutil.rmtree(store, ignore_errors=True)
            removed.append(table)
    return removed


def changelog_keys(kafka: KafkaSettings, topic: str, first: int, last: int, timeout_s: float = 60.0) -> list[bytes]:
    """The keys of a changelog's records between two offsets of partition 0, inclusive (a
    compacted changelog may have fewer). Raises ``TimeoutError`` when they cannot be read
    within ``timeout_s``."""
    return [r.key for r in read_topic(kafka, topic, lambda key: key is not None, timeout_s,
                                      client_id="casavi-bridge-image-delta", between=(first, last))]
