"""Document content for the sink, read by key from the content topic (R16).

A document command names its content (``ContentRef``: key ``document:<id>``, sha256, size);
the worker wrote the content to the compacted content topic under that key before it
emitted the command. The sink keeps a small index on disk (SQLite: key -> offset of the
latest record of that key) by reading the topic's keys as they come, and reads a document's
content by offset only when it sends the document. Neither the worker's state nor the
commands nor the sink's memory hold more than the content of the document being sent.

``MemoryContent`` is the same interface over a dict, for tests without Kafka.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from streams.casavi.models import ContentRef
from streams.worker.topics import MAX_RECORD_BYTES

log = logging.getLogger(__name__)


class ContentSource(Protocol):
    async def read(self, ref: ContentRef) -> bytes | None:
        """The content ``ref`` names, if it is there with that sha256; else None."""


def _matches(ref: ContentRef, data: bytes | None) -> bytes | None:
    if data is None or len(data) != ref.size or hashlib.sha256(data).hexdigest() != ref.sha256:
        return None
    return data


class MemoryContent:
    """Content by key from a dict (tests)."""

    def __init__(self, contents: Mapping[str, bytes] | None = None) -> None:
        self.contents: dict[str, bytes] = dict(contents or {})
        self.reads = 0

    async def read(self, ref: ContentRef) -> bytes | None:
        self.reads += 1
        return _matches(ref, self.contents.get(ref.key))


_SCHEMA = """
CREATE TABLE IF NOT EXISTS content_index (key TEXT PRIMARY KEY, partition INTEGER NOT NULL, "offset" INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS position (partition INTEGER PRIMARY KEY, next_offset INTEGER NOT NULL);
"""


class ContentIndex:
    """key -> (partition, offset) of the latest record of that key; and how far it has read."""

    def __init__(self, path: Path | str) -> None:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), isolation_level=None)
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def positions(self) -> dict[int, int]:
        return {p: o for p, o in self._db.execute("SELECT partition, next_offset FROM position")}

    def where(self, key: str) -> tuple[int, int] | None:
        row = self._db.execute('SELECT partition, "offset" FROM content_index WHERE key = ?', (key,)).fetchone()
        return None if row is None else (int(row[0]), int(row[1]))

    def record(self, partition: int, entries: list[tuple[str, int, bool]], next_offset: int) -> None:
        """``entries``: (key, offset, deleted) read from ``partition``, in order."""
        self._db.execute("BEGIN")
        try:
            for key, offset, deleted in entries:
                if deleted:
                    self._db.execute("DELETE FROM content_index WHERE key = ?", (key,))
                else:
                    self._db.execute('INSERT OR REPLACE INTO content_index (key, partition, "offset") VALUES (?, ?, ?)',
                                     (key, partition, offset))
            self._db.execute("INSERT OR REPLACE INTO position (partition, next_offset) VALUES (?, ?)",
                             (partition, next_offset))
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def __len__(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM content_index").fetchone()[0])


    def mark(self, key: str, partition: int, offset: int) -> None:
        """A record this process wrote itself (its position is read again with the others)."""
        self._db.execute('INSERT OR REPLACE INTO content_index (key, partition, "offset") VALUES (?, ?, ?)',
                         (key, partition, offset))


class TopicIndex:
    """The keys of a compacted topic with the offset of their latest record, kept on disk and
    brought up to date by ``catch_up``."""

    def __init__(self, bootstrap_servers: str, topic: str, index_path: Path | str) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.topic = topic
        self.index_path = index_path
        self._index: ContentIndex | None = None
        self._consumer: Any = None
        self.reads = 0

    @property
    def index(self) -> ContentIndex:
        if self._index is None:
            raise RuntimeError("KafkaContent.start() first")
        return self._index

    async def start(self) -> None:
        """Open the index and connect; done by the first read (a sink that sends no document never connects)."""
        from aiokafka import AIOKafkaConsumer

        if self._consumer is not None:
            return
        self._index = ContentIndex(self.index_path)
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap_servers, group_id=None, enable_auto_commit=False,
            auto_offset_reset="earliest", max_partition_fetch_bytes=MAX_RECORD_BYTES + 1024 * 1024,
            fetch_max_bytes=MAX_RECORD_BYTES + 1024 * 1024, client_id="casavi-bridge-topic-index",
        )
        await self._consumer.start()

    async def stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None
        if self._index is not None:
            self._index.close()
            self._index = None

    async def _partitions(self) -> list[Any]:
        from aiokafka import TopicPartition

        # the consumer subscribes to nothing, so its own metadata never names the topic: ask the cluster
        cluster = await self._consumer._client.fetch_all_metadata()
        parts = cluster.partitions_for_topic(self.topic) or set()
        return [TopicPartition(self.topic, p) for p in sorted(parts)]

    async def catch_up(self) -> int:
        """Index every record up to the topic's end as of now; returns the records read."""
        await self.start()
        tps = await self._partitions()
        if not tps:
            return 0
        consumer = self._consumer
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        starts = await consumer.beginning_offsets(tps)
        done = self.index.positions()
        read = 0
        for tp in tps:
            position = max(done.get(tp.partition, 0), starts[tp])
            if position >= ends[tp]:
                continue
            consumer.seek(tp, position)
            while position < ends[tp]:
                batch = await consumer.getmany(tp, timeout_ms=1000)
                records = batch.get(tp, [])
                if not records:
                    continue
                entries = [(r.key.decode(), r.offset, r.value is None) for r in records if r.key]
                position = records[-1].offset + 1
                self.index.record(tp.partition, entries, position)
                read += len(records)
        return read



class KafkaContent(TopicIndex):
    """Content by key from the content topic: an index on disk, the bytes read by offset."""

    async def _fetch(self, partition: int, offset: int, key: str) -> bytes | None:
        from aiokafka import TopicPartition

        tp = TopicPartition(self.topic, partition)
        consumer = self._consumer
        consumer.assign([tp])
        consumer.seek(tp, offset)
        batch = await consumer.getmany(tp, timeout_ms=5000, max_records=1)
        for record in batch.get(tp, []):
            if record.offset == offset and record.key is not None and record.key.decode() == key:
                return record.value  # type: ignore[no-any-return]
        return None

    async def read(self, ref: ContentRef) -> bytes | None:
        await self.start()
        self.reads += 1
        for attempt in range(2):
            where = self.index.where(ref.key)
            if where is not None:
                data = _matches(ref, await self._fetch(*where, ref.key))
                if data is not None:
                    return data
            if attempt == 0:
                await self.catch_up()  # the content came after the last look (the worker wrote it first)
        log.warning("content %s not found on %s (sha256 %s…)", ref.key, self.topic, ref.sha256[:12])
        return None
