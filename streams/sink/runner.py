"""``SinkRunner``: the Kafka side of the sink.

Loop: read a batch of commands (``getmany``, topped up while casavi's pacing holds the
next request back), decode them, apply them to casavi
(``apply_batch``), send the dead letters and wait until Kafka has them, and only then
commit the offsets (drain before checkpoint). A crash at any point re-reads the batch;
every command is idempotent, so that is safe.

R20 across partitions: a unit may be read before its property when the two sit in
different partitions. casavi then answers ``MISSING_REFERENCE`` (or refuses to delete a
contact a contract still names). Such commands are not dead-lettered at once: they are
kept and tried again with the following batches for up to ``defer_limit_s``, and their
partition's committed offset stays at them, so a restart reads them again too.

Stop (SIGTERM/SIGINT via ``stop()``): the current batch is finished and committed, then
the consumer and producer are closed. If casavi is unreachable while stopping, the
retry wait is abandoned and the batch is not committed (it is read again on restart).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from streams.commands.model import CommandCodecError, DeadLetter, decode
from streams.commands.receipts import DEPENDENCY_CODES, Receipt, ReceiptStatus
from streams.commands.wire import writer_schemas
from streams.records import KafkaRecord
from streams.settings import BridgeSettings
from streams.sink.apply import CONTENT_MISSING, BatchResult, Failure, Sourced, apply_batch
from streams.sink.client import CasaviClient, Stopped
from streams.sink.content import ContentSource, KafkaContent
from streams.sink.policy import Backoff
from streams.sink.metrics import SinkMetrics
from streams.sink.stats import SinkStats
from streams.worker.topics import MAX_RECORD_BYTES

log = logging.getLogger(__name__)

# casavi error codes that can mean "the other command has not arrived yet"; and a document whose
# content was replaced since (the command that names the new content follows)
DEFERRABLE_CODES = DEPENDENCY_CODES | {CONTENT_MISSING}
TOP_UP_S = 0.02  # how long a batch at least waits for commands already on their way from Kafka
KAFKA_RETRY = Backoff(base_s=0.5, cap_s=30.0, max_retries=8, exhausted_s=30.0)


class Consumer(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def getmany(self, *partitions: Any, timeout_ms: int = ..., max_records: int | None = ...
                      ) -> Mapping[Any, Sequence[Any]]: ...
    async def commit(self, offsets: Mapping[Any, int] | None = ...) -> None: ...
    def assignment(self) -> set[Any]: ...
    def highwater(self, partition: Any) -> int | None: ...


class Producer(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def send_and_wait(self, topic: str, value: bytes | None = ..., key: bytes | None = ...) -> Any: ...
    async def send(self, topic: str, value: bytes | None = ..., key: bytes | None = ...) -> Any: ...


@dataclass(frozen=True)
class _Partition:
    topic: str
    partition: int


@dataclass
class _Deferred:
    source: Sourced
    since: float


def _tp(topic: str, partition: int) -> Any:
    from aiokafka import TopicPartition

    return TopicPartition(topic, partition)


def _key_text(key: bytes | None) -> str | None:
    if key is None or len(key) > 200:
        return None
    try:
        return key.decode()
    except UnicodeDecodeError:
        return None


class SinkRunner:
    """Consumes ``settings.kafka.commands_topic`` and applies it to casavi through ``client``.

    ``consumer`` and ``producer`` default to aiokafka clients built from ``settings.kafka``;
    tests pass their own. ``status_path`` defaults to ``<stack home>/state/sink-status.json``.
    """

    def __init__(
        self,
        settings: BridgeSettings,
        client: CasaviClient,
        *,
        consumer: Consumer | None = None,
        producer: Producer | None = None,
        status_path: Path | None = None,
        defer_limit_s: float = 300.0,
        defer_retry_s: float = 5.0,
        stop_event: asyncio.Event | None = None,
        metrics: SinkMetrics | None = None,
        content: ContentSource | None = None,
    ) -> None:
        self.settings = settings
        self.client = client
        self._own_content = content is None
        self.content: ContentSource = content or KafkaContent(
            settings.kafka.bootstrap_servers, settings.kafka.content_topic,
            settings.stack.state_dir / "sink-content" / f"{settings.kafka.sink_group_id}.sqlite")
        self.consumer = consumer or self._default_consumer()
        self.producer = producer or self._default_producer()
        self.status_path = status_path or settings.stack.state_dir / "sink-status.json"
        self.defer_limit_s = defer_limit_s
        self.defer_retry_s = defer_retry_s
        self.stop_event = stop_event or asyncio.Event()
        kafka = settings.kafka
        self.stats = SinkStats.continued(self.status_path, system=settings.casavi.system, group_id=kafka.sink_group_id,
                                         commands_topic=kafka.commands_topic)
        self.metrics = metrics or SinkMetrics(self.stats)
        self._committed: dict[_Partition, int] = {}  # committed offset per partition, as last known
        self.assigned = 0  # partitions assigned to this sink, as of the last poll
        self.writer_schemas = writer_schemas(kafka)  # None: plain Avro only (no schema registry)
        self._deferred: list[_Deferred] = []
        self._last_deferred_try = 0.0
        self._rng = random.Random()
        self._consumed: dict[_Partition, int] = {}  # next offset after the last record read, per partition
        self.idle = asyncio.Event()  # set while a poll finds nothing new and nothing waits (caught up)

    def _default_consumer(self) -> Consumer:
        from aiokafka import AIOKafkaConsumer

        kafka = self.settings.kafka
        consumer: Consumer = AIOKafkaConsumer(
            kafka.commands_topic, bootstrap_servers=kafka.bootstrap_servers, group_id=kafka.sink_group_id,
            enable_auto_commit=False, auto_offset_reset="earliest",
            # a batch of up to BRIDGE_CASAVI__BATCH_SIZE commands in one poll (aiokafka's default
            # of 1 MiB per partition holds about 1,500): one import per batch, not per megabyte
            max_partition_fetch_bytes=MAX_RECORD_BYTES,
        )
        return consumer

    def _default_producer(self) -> Producer:
        from aiokafka import AIOKafkaProducer

        producer: Producer = AIOKafkaProducer(bootstrap_servers=self.settings.kafka.bootstrap_servers, acks="all",
                                              enable_idempotence=True)
        return producer

    def stop(self) -> None:
        """Finish the current batch, commit, and return from ``run``."""
        self.stop_event.set()

    async def run(self) -> None:
        await self.producer.start()
        await self.consumer.start()
        try:
            while not self.stop_event.is_set():
                records = await self._read()
                if records or self._deferred:
                    self.idle.clear()
                else:
                    self.idle.set()
                try:
                    await self.process(records)
                    await self._position()
                except Stopped:
                    log.warning("stopping while casavi is unreachable: the current batch is not committed "
                                "and will be read again on restart")
                    break
        finally:
            await self.consumer.stop()
            await self.producer.stop()
            if self._own_content and isinstance(self.content, KafkaContent):
                await self.content.stop()
            self.stats.write(self.status_path)

    async def _read(self) -> list[KafkaRecord]:
        """The next batch. Once a poll found commands, the sink keeps reading while casavi's
        pacing holds the next request back anyway (at least ``TOP_UP_S``): the commands that
        reached the topic after that poll's fetch go with this batch instead of waiting a
        whole request cycle for the next one."""
        size = self.settings.casavi.batch_size
        batches = await self.consumer.getmany(timeout_ms=int(self.settings.casavi.batch_wait_s * 1000),
                                              max_records=size)
        records = [r for recs in batches.values() for r in recs]
        if not records:
            return records
        deadline = time.monotonic() + max(self.client.pacing_wait_s(), TOP_UP_S)
        while len(records) < size and not self.stop_event.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                break
            more = await self.consumer.getmany(timeout_ms=max(1, int(left * 1000)), max_records=size - len(records))
            got = [r for recs in more.values() for r in recs]
            if not got:
                break
            records += got
        return records

    async def process(self, records: Sequence[KafkaRecord]) -> None:
        """One batch: decode, apply, dead-letter, commit."""
        now = time.monotonic()
        self._drop_revoked()
        if not records and not (self._deferred and now - self._last_deferred_try >= self.defer_retry_s):
            return
        letters: list[DeadLetter] = []
        decoded: list[Sourced] = []
        at_ms = int(time.time() * 1000)
        for r in records:
            try:
                if r.value is None:
                    raise CommandCodecError("empty record")
                decoded.append(Sourced(decode(r.value, self.writer_schemas), r.topic, r.partition, r.offset))
            except CommandCodecError as exc:
                letters.append(DeadLetter(stage="sink", reason=str(exc), error_code="UNDECODABLE", topic=r.topic,
                                          partition=r.partition, offset=r.offset, key=_key_text(r.key), at_ms=at_ms))
        system = self.settings.casavi.system
        other = [d for d in decoded if d.command.system not in (None, system)]
        if other:  # projected for the other casavi system (R22): that system's full sync covers it
            log.info("skipped %d commands projected for another casavi system", len(other))
            decoded = [d for d in decoded if d.command.system in (None, system)]
        carried = self._deferred
        since = {id(d.source): d.since for d in carried}
        batch = [d.source for d in carried] + decoded
        self._last_deferred_try = now
        result = await apply_batch(self.client, batch, self.content)

        self._deferred = []
        receipts: list[Receipt] = []
        unconfirmed = {id(s) for s in result.unconfirmed}
        for applied in result.applied:
            status: ReceiptStatus = "unconfirmed" if id(applied) in unconfirmed else "applied"
            receipts.append(Receipt.of(applied.command, system, status, at_ms))
        for failure in result.failed:
            first = since.get(id(failure.source), now)
            if failure.error_code in DEFERRABLE_CODES and now - first < self.defer_limit_s:
                self._deferred.append(_Deferred(failure.source, first))
            else:
                letters.append(failure.dead_letter(at_ms))
                receipts.append(Receipt.of(failure.source.command, system, "failed", at_ms, failure.error_code))
                self._log_failure(failure)
        await self._deliver(self.settings.kafka.dlq_topic,
                            [((letter.reference_id or letter.key or "").encode(), letter.model_dump_json().encode())
                             for letter in letters])
        await self._deliver(self.settings.kafka.receipts_topic, [(r.slot.encode(), r.encode()) for r in receipts])
        await self._commit(records)
        self._record(records, decoded, result, letters)

    def _drop_revoked(self) -> None:
        """Partitions this sink no longer owns (deferred commands included) are the new owner's business."""
        if not self._deferred and not self._consumed:
            return
        owned = {_Partition(tp.topic, tp.partition) for tp in self.consumer.assignment()}
        self._deferred = [d for d in self._deferred if _Partition(d.source.topic, d.source.partition) in owned]
        self._consumed = {p: o for p, o in self._consumed.items() if p in owned}

    @staticmethod
    def _log_failure(failure: Failure) -> None:
        log.warning("dead letter: %s %s at %s[%d]@%d: %s", failure.source.command.entity,
                    failure.source.command.reference_id, failure.source.topic, failure.source.partition,
                    failure.source.offset, failure.error_code)

    async def _deliver(self, topic: str, records: Sequence[tuple[bytes, bytes]]) -> None:
        """Deliver dead letters or receipts before the offsets are committed; retry until Kafka has them."""
        if not records:
            return
        attempt = 0
        while True:
            try:
                futures = [await self.producer.send(topic, value=value, key=key) for key, value in records]
                await asyncio.gather(*futures)
                return
            except Exception as exc:  # noqa: BLE001 - the producer raises many kinds
                attempt += 1
                delay = KAFKA_RETRY.delay(attempt, self._rng)
                log.warning("sending %d records to %s failed (%s); retry %d in %.1f s", len(records), topic,
                            type(exc).__name__, attempt, delay)
                await asyncio.sleep(delay)

    async def _commit(self, records: Sequence[KafkaRecord]) -> None:
        """Commit the next offset of every partition in the batch, held at the oldest deferred command."""
        for r in records:
            p = _Partition(r.topic, r.partition)
            self._consumed[p] = max(self._consumed.get(p, 0), r.offset + 1)
        offsets = dict(self._consumed)
        for d in self._deferred:
            p = _Partition(d.source.topic, d.source.partition)
            offsets[p] = min(offsets.get(p, d.source.offset), d.source.offset)
        if not offsets:
            return
        try:
            await self.consumer.commit({_tp(p.topic, p.partition): o for p, o in offsets.items()})
        except Exception as exc:  # noqa: BLE001 - a rebalance: the batch is read again by the new owner
            log.warning("committing offsets failed (%s); the batch will be read again", type(exc).__name__)
            return
        self._committed.update(offsets)
        self.stats.last_commit_at = time.time()

    def _record(self, records: Sequence[KafkaRecord], decoded: Sequence[Sourced], result: BatchResult,
                letters: Sequence[DeadLetter]) -> None:
        s = self.stats
        s.add(batches=1, records=len(records), commands=len(decoded), applied=len(result.applied),
              dead_lettered=len(letters), imports=result.imports, bisections=result.bisections)
        unconfirmed = {id(u) for u in result.unconfirmed}
        now_ms = time.time() * 1000
        for applied in result.applied:
            c = applied.command
            s.outcome(c.entity, c.op, "unconfirmed" if id(applied) in unconfirmed else "applied")
            if c.source_ts_ms is not None:  # COMMIT in the ERP -> applied in casavi
                self.metrics.commit_to_casavi.observe(max(now_ms - c.source_ts_ms, 0.0) / 1000)
        deferred = {id(d.source) for d in self._deferred}
        for failure in result.failed:
            if id(failure.source) not in deferred:
                s.outcome(failure.source.command.entity, failure.source.command.op, "failed")
        for letter in letters:
            s.dead_letter(letter.error_code or letter.stage.upper())
        s.deferred = len(self._deferred)
        s.take_client(self.client.counters)
        s.last_batch_at = time.time()
        s.lag = self._lag(records)
        self.stats.write(self.status_path)

    def _lag(self, records: Sequence[KafkaRecord]) -> int | None:
        lag = 0
        for p, last in {(r.topic, r.partition): r.offset for r in records}.items():
            high = self.consumer.highwater(_tp(*p))
            if high is None:
                return None
            lag += max(0, high - last - 1)
        return lag

    async def _position(self) -> None:
        """Committed and end offsets of the commands topic, and the lag between them; the status
        file is rewritten when they changed (also while no command comes)."""
        assignment = self.consumer.assignment()
        self.assigned = len(assignment)
        owned = {_Partition(tp.topic, tp.partition) for tp in assignment}
        self._committed = {p: o for p, o in self._committed.items() if p in owned}
        committed_of = getattr(self.consumer, "committed", None)
        committed = 0
        end = 0
        known = bool(assignment)
        for tp in assignment:
            p = _Partition(tp.topic, tp.partition)
            if p not in self._committed and committed_of is not None:
                try:
                    self._committed[p] = await committed_of(tp) or 0
                except Exception:  # noqa: BLE001 - asked again on the next poll
                    known = False
                    continue
            high = self.consumer.highwater(tp)
            if high is None or p not in self._committed:
                known = False
                continue
            committed += self._committed[p]
            end += high
        if not known:
            return
        s = self.stats
        changed = (s.committed, s.end_offset) != (committed, end)
        with s.lock:
            s.committed, s.end_offset = committed, end
            s.lag = max(end - committed, 0)
            s.take_client(self.client.counters)
        if changed:
            s.write(self.status_path)
