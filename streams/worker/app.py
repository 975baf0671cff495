"""The Faust application: CDC topics (raw bytes) -> state tables -> casavi commands.

One agent, concurrency 1, reads every CDC topic, the control topic and the receipts topic
in batches, handed over by the consumer a fetch at a time (``streams.worker.intake``). ``BatchStep``
(``streams.worker.step``) decides what a batch writes and sends; this module wires the tables
and topics and carries the outcome out in order.

Delivery order per batch (at-least-once, exactly-once effect):
1. the batch's row and pending-root writes go to the tables (``TableWrites``: the local
   store, then every changelog record at once, awaited),
2. commands are produced and their delivery awaited,
3. only then the ``emitted`` table records their content hashes (and the meta table a
   finished pass),
4. the batch's offsets are acknowledged when the batch is done.
A crash between 2 and 3 re-sends commands on restart (casavi upserts are idempotent);
a crash can never mark a command as emitted that did not reach the outbound topic.

Every ``QUALITY_INTERVAL_S`` after commands went out, the worker rewrites the data-quality
report (``bridge report quality``) and puts its counts into the status file.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import random
import time
import traceback
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Any, cast

import faust
from faust.types import TP
from kafka.errors import KafkaError

from streams import fastjson
from streams.cdc.decode import Decoder
from streams.commands.model import DeadLetter
from streams.commands.wire import command_schema_id
from streams.sink.policy import Backoff
from streams.stack.paths import StackPaths
from streams.settings import BridgeSettings
from streams.worker.control import PASS_RECORD
from streams.projection.model import EmittedEntry
from streams.worker.processor import Processor, StoredEntry
from streams.worker.produce import produce_batches
from streams.worker.step import BatchOutcome, BatchStep
from streams.worker.rowcodec import dumps_entry, loads_entry
from streams.worker.metrics import WorkerMetrics
from streams.worker.status import WorkerStatus
from streams.worker.heap import Heap
from streams.worker.consumer import App, Consumer
from streams.worker.intake import RecordQueue
from streams.worker.image import ImageWriter, changed_keys, delta_of, image_identity, image_path, read_image
from streams.worker.stores import LocalStore, changelog_keys
from streams.worker.tablewrites import TableWrites
from streams.ops.health import Check, Health, Heartbeat, flag
from streams.ops.offsets import end_offsets
from streams.mapping.topics import mapping_of
from streams.report import QUALITY_INTERVAL_S, quality_path, write_report
from streams.worker.topics import MAX_RECORD_BYTES, cdc_topics

log = logging.getLogger(__name__)

IMAGE_CHECK_S = 5.0  # how often the worker looks whether a state image is due
IMAGE_DELTA_MIN = 100_000  # table writes since an image read again at start at least before loading every row instead
PRODUCER_BATCH_BYTES = 1024 * 1024
RETRY = Backoff(base_s=0.5, cap_s=30.0, max_retries=8, exhausted_s=30.0)
_rng = random.Random()

RAW: dict[str, Any] = {"key_type": bytes, "value_type": bytes, "key_serializer": "raw", "value_serializer": "raw"}


def _broker_url(bootstrap_servers: str) -> str:
    return ";".join(f"kafka://{h.strip()}" for h in bootstrap_servers.split(",") if h.strip())


class WorkerOps:
    """What the worker tells operators: its status file, its metrics and its health checks."""

    def __init__(self, settings: BridgeSettings) -> None:
        kafka = settings.kafka
        self.status = WorkerStatus(settings.stack.state_dir / "worker-status.json", app_id=kafka.worker_app_id,
                                   system=settings.casavi.system, commands_topic=kafka.commands_topic)
        self.metrics = WorkerMetrics(self.status)
        self.heartbeat = Heartbeat(settings.ops.stall_s)
        self.loaded = False
        self.assigned: set[Any] = set()
        self.health = Health(self.heartbeat, {
            "state_loaded": lambda: flag("state_loaded", self.loaded, "state loaded from the tables",
                                         "state not loaded yet (recovering the tables)"),
            "consumer_assigned": self._assigned,
        })

    def _assigned(self) -> Check:
        n = len(self.assigned)
        return flag("consumer_assigned", n > 0, f"{n} partitions assigned", "no partitions assigned (rebalancing)")


def build_app(settings: BridgeSettings, batch_size: int = 5000, batch_within_s: float = 0.2,
              ops: WorkerOps | None = None) -> faust.App:
    kafka = settings.kafka
    datadir = StackPaths.of(settings.stack).worker_dir / kafka.worker_app_id
    datadir.mkdir(parents=True, exist_ok=True)
    table_of_topic = cdc_topics(kafka, settings.source)
    system = settings.casavi.system
    tables = {"rows": "erp-rows", "emitted": f"emitted-{system}", "meta": f"worker-meta-{system}",
              "pending": "pending-roots"}
    subscription = [*table_of_topic, kafka.ticks_topic, kafka.receipts_topic]
    app = App(  # Faust's, with a consumer that hands records over without tasks per record
        kafka.worker_app_id,
        broker=_broker_url(kafka.bootstrap_servers),
        store=kafka.store,
        datadir=str(datadir),
        topic_partitions=1,
        topic_replication_factor=1,
        web_enabled=False,
        producer_acks=-1,
        consumer_auto_offset_reset="earliest",
        broker_commit_interval=1.0,
        # static membership: a restarted worker is let in at once (WorkerSettings.instance_id)
        consumer_group_instance_id=static_member_id(settings.worker.instance_id, [*subscription, *tables.values()]),
        broker_session_timeout=settings.worker.session_timeout_s,
        broker_heartbeat_interval=settings.worker.session_timeout_s / 4,
        table_standby_replicas=0,
        key_serializer="raw",
        value_serializer="raw",
        # Debezium JSON events with schemas are ~5 KB: fetch big chunks per partition
        consumer_max_fetch_size=MAX_RECORD_BYTES,
        producer_max_request_size=MAX_RECORD_BYTES,
        # a batch's table writes are produced at once (``TableWrites``), one request per partition
        # at a time: 1 MiB per request, not Faust's 16 KiB (hundreds of round trips per batch)
        producer_max_batch_size=PRODUCER_BATCH_BYTES,
        # records of other topics read ahead through Faust's channel (the source topics' own
        # ``RecordQueue`` below holds one batch: Debezium's ~5 KB events, about 30 MiB)
        stream_buffer_maxsize=batch_size,
    )
    source = app.topic(*subscription, **RAW)
    ticks = app.topic(kafka.ticks_topic, **RAW)
    # keys and values are raw bytes (app-wide serializers): rows as tagged JSON, see rowcodec
    # local RocksDB stores sized for a large company (WorkerSettings.rocksdb_*); one dict per table
    # (Faust's store takes keys out of it)
    def store_options() -> dict[str, int] | None:
        return settings.worker.rocksdb_options() if kafka.store.startswith("rocksdb") else None

    rows = app.Table(tables["rows"], key_type=str, value_type=bytes, partitions=1, options=store_options())
    # what casavi holds and what the worker finished (day, settings), per casavi system (R22):
    # switching systems starts from empty tables, so every root is sent to the new system
    emitted = app.Table(tables["emitted"], key_type=str, value_type=bytes, partitions=1, options=store_options())
    meta = app.Table(tables["meta"], key_type=str, value_type=bytes, partitions=1, options=store_options())
    # roots folded during a backlog and not projected yet (BatchStep: deferral)
    pending = app.Table(tables["pending"], key_type=str, value_type=bytes, partitions=1, options=store_options())
    ops = ops or WorkerOps(settings)
    status = ops.status
    on_topic = end_offsets(kafka, kafka.commands_topic, client_id=f"{kafka.worker_app_id}-status")
    if on_topic is not None:
        status.topic_records(on_topic)

    # the tables' local stores, read by key (once per change) and written a batch at a time
    rows_store, emitted_store, meta_store, pending_store = (LocalStore(t) for t in (rows, emitted, meta, pending))

    def stored_entry(key: str) -> StoredEntry | None:
        """A row and the source position of its last change, as the state table holds them."""
        entry = rows_store.get(key)
        return None if entry is None else loads_entry(entry)

    def stored_emitted(slot: str) -> EmittedEntry | None:
        """What was last emitted for a casavi slot, as the emitted table holds it."""
        entry = emitted_store.get(slot)
        return None if entry is None else EmittedEntry.from_dict(fastjson.loads(entry))

    processor = Processor(settings.sync, system=settings.casavi.system, pass_chunk=settings.worker.pass_chunk,
                          pass_budget_s=settings.worker.pass_budget_ms / 1000,
                          max_pending=settings.worker.max_deferred_roots, max_defer_s=settings.worker.max_defer_s,
                          stored_entry=stored_entry, stored_emitted=stored_emitted, row_cache=settings.worker.row_cache)
    step = BatchStep(processor, Decoder(mapping_of(settings.source), settings.source.unavailable_value_placeholder),
                     table_of_topic, control_topic=kafka.ticks_topic, receipts_topic=kafka.receipts_topic,
                     max_command_bytes=kafka.max_command_bytes, schema_id=command_schema_id(kafka))
    loaded = asyncio.Event()
    heap = Heap(settings.worker.full_gc_interval_s)  # Python's collector kept off the state (streams.worker.heap)
    heap.install()
    quality_due = asyncio.Event()  # set when commands went out: the data-quality report may have changed
    report_path = quality_path(settings)

    imaged = {"rows": rows, "emitted": emitted}  # the tables a state image holds (streams.worker.image)
    images = ImageWriter(
        image_path(Path(app.conf.tabledir), system),
        image_identity(kafka.worker_app_id, tables, processor.fingerprint),
        settings.worker.image_interval_s if kafka.store.startswith("rocksdb") else 0.0,
        parts=processor.image_parts, offsets=lambda: store_offsets(imaged), rows=lambda: processor.row_count)

    def load_from_image(offsets: dict[str, int | None]) -> bool:
        """The state from the image and the entries written to the tables after it (the stores
        being at ``offsets``); False when there is no image this worker can use."""
        image = read_image(images.path, images.identity)
        if image is None:
            return False
        delta = delta_of(image, offsets)
        if delta is None or delta.records > max(IMAGE_DELTA_MIN, image.rows // 2):
            log.info("state image not used: %s", "a store is behind it" if delta is None else
                     f"{delta.records} table writes since, more than loading every row")
            return False
        topics = {name: table.changelog_topic.get_topic_name() for name, table in imaged.items()}
        try:
            changed = changed_keys(partial(changelog_keys, kafka), topics, delta)
        except (TimeoutError, KafkaError) as exc:
            log.warning("state image not used: the table writes since could not be read (%s)", exc)
            return False
        processor.load_image(image.parts)
        processor.reload_rows({key: stored_entry(key) for key in changed.get("rows", ())})
        processor.reload_emitted({slot: None if (value := emitted_store.get(slot)) is None else fastjson.loads(value)
                                  for slot in changed.get("emitted", ())})
        log.info("state from the image and %d rows, %d emitted slots written since", len(changed.get("rows", ())),
                 len(changed.get("emitted", ())))
        return True

    def load_state() -> None:
        """Rebuild the in-memory state and indexes: from the state image and what was written
        since, or from every entry of the recovered tables."""
        started = time.monotonic()
        processor.load_meta({_text(k): v.decode() for k, v in meta.items()})
        offsets = store_offsets(imaged) if images.enabled else None
        with heap.loading():
            if offsets is None or not load_from_image(offsets):
                for key, value in rows.items():
                    processor.load_row(_text(key), *loads_entry(value))
                for value in emitted.values():
                    processor.load_emitted(fastjson.loads(value))
        if offsets is not None:
            images.loaded(offsets)
        for key in pending.keys():
            processor.load_pending(_text(key))
        processor.finish_loading()
        loaded.set()
        ops.loaded = True
        quality_due.set()
        log.info("state loaded: %d rows, %d emitted entities in %.1fs; %d roots queued for a pass",
                 processor.row_count, processor.emitted_count, time.monotonic() - started, processor.queued)

    async def deliver(topic: str, records: Sequence[tuple[bytes, bytes | None]],
                      partition: int | None = None) -> int | None:
        """Produce and await delivery; Kafka being away is transient: retry until it is back.
        Returns the topic's end offset after the records (None when the client does not tell).
        ``partition`` None: the key's partition (the producer's partitioner), one record at a
        time; a partition named (a table's changelog): in the producer's own batches."""
        attempt = 0
        while True:
            try:
                if partition is not None:  # a table's changelog: in aiokafka's batches (streams.worker.produce)
                    faust_producer: Any = app.producer
                    return await produce_batches(faust_producer._ensure_producer(), topic, partition, records)
                producer = app.producer  # straight to the client: no per-message Faust bookkeeping
                futures = [await producer.send(topic, key, value, partition, None, None) for key, value in records]
                delivered = await asyncio.gather(*futures)
                offsets = [m.offset for m in delivered if isinstance(getattr(m, "offset", None), int)]
                return max(offsets) + 1 if offsets else None
            except Exception as exc:  # noqa: BLE001 - the producer raises many kinds
                attempt += 1
                delay = RETRY.delay(attempt, _rng)
                log.warning("sending %d records to %s failed (%s); retry %d in %.1fs", len(records), topic,
                            type(exc).__name__, attempt, delay)
                await asyncio.sleep(delay)

    async def dead_letter(letters: Sequence[DeadLetter]) -> None:
        await deliver(kafka.dlq_topic, [((letter.reference_id or letter.table or "").encode(),
                                         letter.model_dump_json().encode()) for letter in letters])
        status.record_dead_letters(letters)

    intake = app.intake = RecordQueue(subscription, batch_size)  # one batch read ahead of the one in progress

    def current(generation: int) -> bool:
        """Whether records read in that consumer generation are to be processed: not those read
        before a rebalance (the consumer reads them again from the committed offsets)."""
        return generation == app.consumer_generation_id and app.flow_control.is_active()

    @app.agent(source, concurrency=1)
    async def process(stream: faust.StreamT[bytes]) -> None:
        """The worker's batches: its source topics' records come through ``intake``, not the stream."""
        consumer = cast(Consumer, app.consumer)
        sensors = app.sensors
        while True:
            batch = await intake.take(batch_size, batch_within_s, current, busy=has_work)
            intake.begin()
            records = batch.records
            started = time.monotonic()
            between_batches.clear()
            ends = batch.ends()
            # Faust's consumer watches per partition that its stream goes on processing
            seen = [(tp, offset, sensors.on_stream_event_in(tp, offset, stream, cast(Any, None)))
                    for tp, offset in ends.items()]
            finished = False
            try:
                if not loaded.is_set():
                    load_state()
                behind = backlog(ends)
                caught_up[0] = sum(behind.values()) <= settings.worker.backlog_events
                # the batch's own changes first, then a chunk of a queued pass (tick, full sync)
                await carry_out(step.run(records, behind=not caught_up[0], with_chunk=False))
                if processor.chunk_due:
                    await carry_out(step.run([], behind=not caught_up[0]))
                status.observe(lag=behind)
                finished = True
            except Exception as exc:  # noqa: BLE001 - never let one batch stop the stream
                where = " < ".join(f"{f.name}:{f.lineno}" for f in reversed(traceback.extract_tb(exc.__traceback__)[-4:]))
                log.error("batch of %d events failed (%s at %s); their positions go to the DLQ and every root "
                          "is projected again", len(records), type(exc).__name__, where)
                images.discard()
                await dead_letter(step.failed(records))
                await ticks.send(key=b"pass", value=PASS_RECORD)
                status.record_batch(events=len(records), changes=0, replayed=0, source_ts_ms=None,
                                    events_by_topic=Counter(r.topic for r in records))
                finished = True
            finally:
                if finished:  # done, or its records dead-lettered; not when the worker stops midway
                    consumer.ack_offsets(batch.offsets())
                intake.end()
                for tp, offset, state in seen:
                    sensors.on_stream_event_out(tp, offset, stream, cast(Any, None), state)
                ops.metrics.batch_duration.observe(time.monotonic() - started)
                between_batches.set()
                full = heap.after_batch()
                if full is not None:
                    log.info("full collection: %d unreachable objects freed in %.2fs; %d objects frozen",
                             full.collected, full.seconds, full.frozen)

    between_batches = asyncio.Event()  # the state matches the tables: no batch is being carried out
    caught_up = [False]  # whether the last batch left at most BRIDGE_WORKER__BACKLOG_EVENTS behind it

    def has_work() -> bool:
        """Whether the worker has work of its own waiting: the roots it deferred during a backlog,
        projected chunk by chunk now that it has caught up (a batch then does not wait for more
        records, ``take``). A pass (tick, full sync) keeps the batch window between its chunks:
        without it the pass takes a core while live changes stream (at a million rows their
        longest wait during a pass went from 970 to 1,785 ms)."""
        return caught_up[0] and bool(processor.pending)

    @app.timer(interval=IMAGE_CHECK_S)  # type: ignore[untyped-decorator]
    async def state_image() -> None:
        """A new state image, when one is due, between two batches (``streams.worker.image``)."""
        if loaded.is_set() and between_batches.is_set():
            images.after_batch(caught_up=caught_up[0] and not processor.pending)

    read_up_to: dict[TP, int] = {}  # source partition -> the last offset a batch held

    def backlog(ends: dict[TP, int]) -> dict[str, int]:
        """Records still waiting behind this batch (``ends``: its last offset per partition), per
        topic, over every source partition read so far: a batch of receipts or control records
        alone says nothing about the CDC topics, which may still hold a bulk load's changes."""
        for tp, offset in ends.items():
            read_up_to[tp] = max(read_up_to.get(tp, -1), offset)
        behind: Counter[str] = Counter()
        for tp, offset in read_up_to.items():
            behind[tp.topic] += max((app.consumer.highwater(tp) or 0) - offset - 1, 0)
        return dict(behind)

    writes = TableWrites(deliver)

    def write_pending(pending_writes: Sequence[tuple[str, bool]]) -> None:
        for key, now_pending in pending_writes:
            if now_pending:
                writes.set(pending_store, key, b"1")
            else:
                writes.delete(pending_store, key)

    def write_emitted(emitted_writes: Sequence[tuple[str, dict[str, Any] | None]]) -> None:
        for slot, entry in emitted_writes:
            if entry is None:
                writes.delete(emitted_store, slot)
            else:
                writes.set(emitted_store, slot, fastjson.dumps(entry))

    async def carry_out(outcome: BatchOutcome) -> None:
        """The outcome of one batch, in the order of ``streams.worker.step``."""
        write_pending(outcome.deferred)  # first: the roots of the row writes below, until delivered
        for key, row, position in outcome.row_writes:
            if row is None and position is None:
                writes.delete(rows_store, key)
            else:  # a deleted row keeps its position, so a replayed insert cannot bring it back
                writes.set(rows_store, key, dumps_entry(row, position))
        write_emitted(outcome.emitted_writes)
        await writes.flush()
        if outcome.content_writes:  # before any command that names the content (the sink reads it by key)
            await deliver(kafka.content_topic, [(key.encode(), value) for key, value in outcome.content_writes])
        if outcome.commands:
            end = await deliver(kafka.commands_topic, [(c.slot.encode(), value) for c, value in outcome.commands])
            status.record_commands([c for c, _ in outcome.commands], end)
        write_emitted(step.delivered(outcome))
        if outcome.commands:
            quality_due.set()
        for key, value in outcome.meta_writes:
            writes.set(meta_store, key, value.encode())
        write_pending(outcome.projected_pending)
        await writes.flush()
        if outcome.dead_letters:
            await dead_letter(outcome.dead_letters)
        if outcome.more_queued:  # the rest of a pass follows in the next batches, also when no change arrives
            await ticks.send(key=b"pass", value=PASS_RECORD)
        if outcome.records:  # not the chunk of a pass carried out after its batch
            status.record_batch(events=outcome.records, changes=outcome.changes, replayed=outcome.replayed,
                                source_ts_ms=outcome.source_ts_ms, events_by_topic=outcome.events_by_topic,
                                changes_by_table=outcome.changes_by_table)
        status.observe(state_rows=processor.row_count, emitted_slots=processor.emitted_count,
                       pending_roots=len(processor.pending), queued_roots=processor.queued)

    @app.timer(interval=QUALITY_INTERVAL_S)  # type: ignore[untyped-decorator]
    async def quality_report() -> None:
        """The data-quality report (R08, R12, ``bridge report quality``), rewritten after changes."""
        if not loaded.is_set() or not quality_due.is_set():
            return
        quality_due.clear()
        report = processor.quality(datetime.now(timezone.utc))
        write_report(report_path, report)
        status.observe(quality=report.counts())

    @app.timer(interval=settings.worker.tick_interval_s, on_leader=True)  # type: ignore[untyped-decorator]
    async def tick() -> None:
        """Time-driven rules (R09 grace period, contract start) fire without an ERP change."""
        await ticks.send(key=b"tick", value=json.dumps({"kind": "tick", "at": time.time()}).encode())

    @app.timer(interval=1.0)  # type: ignore[untyped-decorator]
    async def nudge() -> None:
        """Deferred roots wait for a batch in which their bulk load or backlog has passed: when
        no record comes, this one brings it."""
        if loaded.is_set() and processor.pending:
            await ticks.send(key=b"pass", value=PASS_RECORD)

    @app.timer(interval=1.0)  # type: ignore[untyped-decorator]
    async def heartbeat() -> None:
        """Liveness (``/healthz``) and the status file once batches have stopped coming."""
        ops.heartbeat.beat()
        status.flush()

    def assigned(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        ops.assigned = set(args[0]) if args else set()

    def revoked(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        ops.assigned = ops.assigned - set(args[0] if args else ())

    def final_status(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        status.write()

    app.on_partitions_assigned.connect(assigned)
    app.on_partitions_revoked.connect(revoked)
    app.on_before_shutdown.connect(final_status)

    @app.task  # type: ignore[untyped-decorator]
    async def tick_at_start() -> None:
        """Catch up on days that passed while the worker was stopped."""
        await ticks.send(key=b"tick", value=json.dumps({"kind": "tick", "at": time.time(), "start": True}).encode())

    return app



def store_offsets(tables: dict[str, Any]) -> dict[str, int | None]:
    """The changelog offset each table's local store holds (partition 0)."""
    return {name: table.data.persisted_offset(TP(table.changelog_topic.get_topic_name(), 0))
            for name, table in tables.items()}


def static_member_id(instance_id: str, subscription: Sequence[str]) -> str | None:
    """``group.instance.id`` for Kafka static membership, or None (dynamic). A static member
    that rejoins is handed its previous assignment without a rebalance, so the id names the
    subscription too (topics and table changelogs): a worker whose topics changed (another
    casavi system, another mapping) joins as a new member and gets a fresh assignment once the
    old member's session has expired."""
    if not instance_id:
        return None
    digest = hashlib.sha256("\n".join(sorted(subscription)).encode()).hexdigest()[:8]
    return f"{instance_id}-{digest}"


def _text(key: str | bytes) -> str:
    return key if isinstance(key, str) else key.decode()
