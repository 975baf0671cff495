"""The worker's local RocksDB stores: read and written by key, and checked against their
changelogs before Faust starts.

``LocalStore`` reads and writes one table's local store by key. Faust's ``table[key]`` goes
through the table, its serializers, the store's partition taken from the current event and a
locked key-index cache on every call: about 12 µs per read and 8 µs per write on the bench
machine, against 1 µs and 4 µs for RocksDB itself, and the worker reads and writes its state
table once per change. ``LocalStore`` encodes a key and a value once, as the table's
changelog records carry them (Faust's recovery writes those records into the store as they
are, so the store holds the same bytes), reads the partition's RocksDB directly and writes a
batch's entries in one ``WriteBatch``, as Faust applies a batch of changelog records during
recovery; the records it wrote go to the changelog (``streams.worker.tablewrites``). Tables
over the memory store (tests) go through Faust.

Faust keeps each table in a local RocksDB store and remembers there the changelog offset it
has applied. When the changelog is younger than the store — the stack was purged, the topic
deleted and recreated, a cluster restored — the store is *ahead*: Faust refuses to start
(``ConsistencyError``: persisted offset above the highwater). The changelog is the source of
truth, so such a store is removed and Faust rebuilds it from the changelog.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from faust.types import TP
from kafka import KafkaConsumer, TopicPartition

from streams import fastjson
from streams.ops.offsets import read_topic
from streams.settings import KafkaSettings

log = logging.getLogger(__name__)

OFFSET_KEY = b"__faust\0offset__"  # where Faust's RocksDB store keeps its applied changelog offset
PARTITION = 0  # the tables' only partition (``streams.worker.app``)
# a key and a value that tell one encoding from another: non-ASCII, a quote, a backslash, a slash
_PROBE_KEY, _PROBE_VALUE = 'k\u00e9y|["\\1"]/', b"\x00v\xff"


def _ascii_json(key: str) -> bytes:
    return json.dumps(key).encode()


def _plain_key_encoding(prepared: Callable[[str, bytes | None], tuple[bytes, bytes | None]]
                        ) -> Callable[[str], bytes] | None:
    """The changelog topic's encoding of a key as a plain function, when its values are raw
    and its keys are a string's UTF-8 bytes or its JSON (a table's keys: Faust's JSON codec):
    Faust's own answer for a probe decides, once per table, and per write the encoding costs a
    call instead of Faust's serializer lookups. None: Faust encodes every write."""
    key, value = prepared(_PROBE_KEY, _PROBE_VALUE)
    if value != _PROBE_VALUE:
        return None
    for encode in (str.encode, fastjson.dumps, _ascii_json):
        if encode(_PROBE_KEY) == key:
            return encode
    return None


class LocalStore:
    """One Faust table's local store, partition ``PARTITION``, and its changelog (module
    docstring). A key and a value are encoded once, as the changelog carries them
    (``encoded``): a recovery writes the changelog's records into the store as they are, so the
    store holds the same bytes."""

    def __init__(self, table: Any) -> None:
        self.table = table
        self._store = table.data
        self._changelog = table.changelog_topic
        self._rocksdb = hasattr(self._store, "_db_for_partition")  # else Faust's memory store
        self._key_bytes = _plain_key_encoding(self._prepared)

    @property
    def changelog(self) -> str:
        """The changelog topic's name."""
        name: str = self._changelog.get_topic_name()
        return name

    def encoded(self, key: str, value: bytes | None) -> tuple[bytes, bytes | None]:
        """A key and a value (None: a delete) as the changelog record carries them."""
        if self._key_bytes is not None:
            return self._key_bytes(key), value
        return self._prepared(key, value)

    def _prepared(self, key: str, value: bytes | None) -> tuple[bytes, bytes | None]:
        """The changelog topic's own encoding of a key and a value."""
        table = self.table
        return (_encoded(self._changelog.prepare_key(key, table.key_serializer)),
                None if value is None else _encoded(self._changelog.prepare_value(value, table.value_serializer)))

    def get(self, key: str) -> bytes | None:
        if not self._rocksdb:
            value: bytes | None = self.table.get(key)
            return value
        return self._db().get(self.encoded(key, None)[0])  # type: ignore[no-any-return]

    def write(self, items: Mapping[str, bytes | None]) -> list[tuple[bytes, bytes | None]]:
        """A batch's writes by key (None: delete) into the store; returns them as the
        changelog records that carry them."""
        records = [self.encoded(key, value) for key, value in items.items()]
        if not self._rocksdb:
            store = self._store
            for key, value in items.items():
                if value is None:
                    store.pop(key, None)
                else:
                    store[key] = value
            return records
        from rocksdict import WriteBatch

        batch = WriteBatch(raw_mode=True)
        for key_bytes, value_bytes in records:
            if value_bytes is None:
                batch.delete(key_bytes)
            else:
                batch.put(key_bytes, value_bytes)
        self._db().write(batch)
        return records

    def persisted(self, end_offset: int) -> None:
        """The changelog holds the records written before ``end_offset``: so does the store
        (what a restart reads of the changelog starts after them)."""
        self._store.set_persisted_offset(TP(self.changelog, PARTITION), end_offset - 1)

    def _db(self) -> Any:
        return self._store._db_for_partition(PARTITION)


def _encoded(prepared: tuple[Any, Any]) -> bytes:
    """What Faust's changelog topic makes of a key or value (``prepare_key``/``prepare_value``,
    the path of its own changelog messages): the same bytes a recovery expects."""
    data = prepared[0]
    if not isinstance(data, bytes):
        raise TypeError(f"a table's changelog record must encode to bytes, not {type(data).__name__}")
    return data


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
