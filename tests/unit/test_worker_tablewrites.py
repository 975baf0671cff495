"""A batch's table writes: into the store, the changelog produced at once (encoded as Faust
encodes its own changelog messages), the store's persisted offset moved only past what Kafka
holds. Real Faust tables over the memory store and over RocksDB (``LocalStore``); the
delivery is the worker's ``deliver``."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import faust
import pytest
from faust.streams import _current_event
from faust.types import TP

from streams.worker.stores import OFFSET_KEY, LocalStore, _plain_key_encoding
from streams.worker.tablewrites import TableWrites


def tables() -> tuple[Any, Any, dict[TP, int]]:
    app = faust.App("tablewrites-test", store="memory://", topic_partitions=1)
    rows = app.Table("erp-rows", key_type=str, value_type=bytes, partitions=1)
    pending = app.Table("pending-roots", key_type=str, value_type=bytes, partitions=1)
    persisted: dict[TP, int] = {}
    for table in (rows, pending):  # the memory store keeps no offsets: record what is set
        table.data.set_persisted_offset = lambda tp, offset: persisted.__setitem__(tp, offset)
    return rows, pending, persisted


def test_a_batch_writes_each_key_once_and_moves_the_offset_past_its_changelog_records() -> None:
    rows, pending, persisted = tables()
    produced: dict[str, list[tuple[bytes, bytes | None]]] = {}

    async def deliver(topic: str, records: Sequence[tuple[bytes, bytes | None]], partition: int | None) -> int | None:
        assert partition == 0  # the tables' only partition, named: no partitioner hashes the keys
        produced.setdefault(topic, []).extend(records)
        return len(produced[topic]) + 10  # the topic held 10 records before

    rows.data["building|[1]"] = b"old"
    rows_store, pending_store = LocalStore(rows), LocalStore(pending)
    writes = TableWrites(deliver)
    writes.set(rows_store, "unit|[1]", b"1")
    writes.set(rows_store, "unit|[1]", b"2")  # the last write of a key wins
    writes.delete(rows_store, "building|[1]")
    writes.delete(rows_store, "never-there")
    writes.set(pending_store, "U:1", b"1")
    assert len(writes) == 4
    asyncio.run(writes.flush())
    assert dict(rows.data.items()) == {"unit|[1]": b"2"} and dict(pending.data.items()) == {"U:1": b"1"}
    rows_log, pending_log = rows.changelog_topic.get_topic_name(), pending.changelog_topic.get_topic_name()
    # keys as Faust's own changelog messages carry them (a str key JSON-encoded), values raw
    faust_key = rows.changelog_topic.prepare_key("unit|[1]", rows.key_serializer)[0]
    assert faust_key == b'"unit|[1]"'
    assert produced == {rows_log: [(faust_key, b"2"), (b'"building|[1]"', None), (b'"never-there"', None)],
                        pending_log: [(b'"U:1"', b"1")]}
    assert persisted == {TP(rows_log, 0): 12, TP(pending_log, 0): 10}
    assert len(writes) == 0
    asyncio.run(writes.flush())  # nothing collected: nothing produced
    assert sum(len(v) for v in produced.values()) == 4


def test_a_failed_delivery_does_not_move_the_persisted_offset() -> None:
    rows, _, persisted = tables()

    async def deliver(topic: str, records: Sequence[tuple[bytes, bytes | None]], partition: int | None) -> int | None:
        raise ConnectionError("broker away")

    writes = TableWrites(deliver)
    writes.set(LocalStore(rows), "unit|[1]", b"1")
    with pytest.raises(ConnectionError):
        asyncio.run(writes.flush())
    assert persisted == {}  # a restart reads the changelog from where Kafka has it


def test_the_local_rocksdb_store_is_read_and_written_as_faust_reads_and_writes_it(tmp_path: Path) -> None:
    # the worker's app: raw values, the default key serializer of a table (its changelog's)
    app = faust.App("localstore-test", store="rocksdb://", datadir=str(tmp_path), topic_partitions=1,
                    key_serializer="raw", value_serializer="raw")
    rows = app.Table("erp-rows", key_type=str, value_type=bytes, partitions=1)
    event = _Event()
    token = _current_event.set(weakref.ref(event))  # Faust's own writes take the partition from it
    try:
        rows.data['person|["P-1"]'] = b"by faust"
        produced: list[tuple[bytes, bytes | None]] = []

        async def deliver(topic: str, records: Sequence[tuple[bytes, bytes | None]], partition: int | None) -> int:
            produced.extend(records)
            return len(produced)

        store = LocalStore(rows)
        assert store.get('person|["P-1"]') == b"by faust" and store.get("person|[2]") is None
        writes = TableWrites(deliver)
        writes.set(store, "person|[2]", b"by the worker")
        writes.delete(store, 'person|["P-1"]')
        asyncio.run(writes.flush())
        assert rows.get("person|[2]") == b"by the worker" and rows.get('person|["P-1"]') is None
        assert store.get("person|[2]") == b"by the worker"
        # the store's keys are the changelog's: a recovery writes the records' keys into the store
        held = [k for k in rows.data._db_for_partition(0).keys() if k != OFFSET_KEY]
        assert held == [k for k, v in produced if v is not None] == [b'"person|[2]"']
    finally:
        _current_event.reset(token)


class _Event:
    class message:  # noqa: N801 - the attribute Faust's store reads
        partition = 0


@pytest.mark.parametrize("key", ['person|[1]', 'person|["P-1"]', 'unit|["Müller-Straße 1"]', 'x\x01\n\t\\"/\u2028',
                                 "emoji|[\"\U0001F3E0\"]"])
def test_a_key_and_a_value_are_encoded_as_faust_s_changelog_encodes_them(key: str) -> None:
    # the worker's tables (raw values, the table's JSON keys): a plain function per write, the
    # same bytes as Faust's own serializers
    app = faust.App("encoding-test", store="memory://", key_serializer="raw", value_serializer="raw")
    store = LocalStore(app.Table("erp-rows", key_type=str, value_type=bytes, partitions=1))
    assert store._key_bytes is not None
    assert store.encoded(key, b"\x00row") == store._prepared(key, b"\x00row")
    assert store.encoded(key, None) == store._prepared(key, None)


def test_an_encoding_the_probe_does_not_recognise_is_left_to_faust() -> None:
    import base64

    def base64_keys(key: str, value: bytes | None) -> tuple[bytes, bytes | None]:
        return base64.b64encode(key.encode()), value

    def wrapped_values(key: str, value: bytes | None) -> tuple[bytes, bytes | None]:
        return key.encode(), None if value is None else b"[" + value + b"]"

    assert _plain_key_encoding(base64_keys) is None and _plain_key_encoding(wrapped_values) is None
    assert _plain_key_encoding(lambda key, value: (key.encode(), value)) is str.encode
