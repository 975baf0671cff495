"""The Faust application: CDC topics (raw bytes) -> state tables -> casavi commands.

One agent, concurrency 1, reads every CDC topic and the tick topic in batches. For each
batch it decodes, folds rows into the ``erp-rows`` table, projects the affected roots,
diffs against the ``emitted`` table and sends commands to the outbound topic.

Delivery order per batch (at-least-once, exactly-once effect):
1. commands are produced and their delivery awaited,
2. only then the ``emitted`` table records their content hashes,
3. the batch's offsets are acknowledged when the batch is done.
A crash between 1 and 2 re-sends commands on restart (casavi upserts are idempotent);
a crash can never mark a command as emitted that did not reach the outbound topic.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
import traceback
import weakref
from collections.abc import Sequence
from datetime import date
from typing import Any, Literal

import faust
from faust.streams import _current_event  # table writes inside a take_events batch need it

from streams.cdc.decode import Decoder
from streams.cdc.model import MalformedEvent, RowChange, Tombstone
from streams.commands.model import DeadLetter, encode
from streams.commands.receipts import Receipt, ReceiptCodecError, decode_receipt
from streams.sink.policy import Backoff
from streams.stack.paths import StackPaths
from streams.worker.control import Control
from streams.settings import BridgeSettings
from streams.worker.processor import Processor
from streams.worker.rowcodec import dumps_entry, loads_entry
from streams.worker.status import WorkerStatus
from streams.mapping.topics import mapping_of
from streams.worker.topics import MAX_RECORD_BYTES, cdc_topics

log = logging.getLogger(__name__)

RETRY = Backoff(base_s=0.5, cap_s=30.0, max_retries=8, exhausted_s=30.0)
_rng = random.Random()

RAW: dict[str, Any] = {"key_type": bytes, "value_type": bytes, "key_serializer": "raw", "value_serializer": "raw"}


def _broker_url(bootstrap_servers: str) -> str:
    return ";".join(f"kafka://{h.strip()}" for h in bootstrap_servers.split(",") if h.strip())


def build_app(settings: BridgeSettings, batch_size: int = 5000, batch_within_s: float = 0.2,
              tick_interval_s: float = 3600.0) -> faust.App:
    kafka = settings.kafka
    datadir = StackPaths.of(settings.stack).worker_dir / kafka.worker_app_id
    datadir.mkdir(parents=True, exist_ok=True)
    app = faust.App(
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
        table_standby_replicas=0,
        key_serializer="raw",
        value_serializer="raw",
        # Debezium JSON events with schemas are ~5 KB: fetch big chunks per partition
        consumer_max_fetch_size=MAX_RECORD_BYTES,
        producer_max_request_size=MAX_RECORD_BYTES,
        stream_buffer_maxsize=batch_size * 4,
    )
    table_of_topic = cdc_topics(kafka, settings.source)
    decoder = Decoder(mapping_of(settings.source), settings.source.unavailable_value_placeholder)
    source = app.topic(*table_of_topic, kafka.ticks_topic, kafka.receipts_topic, **RAW)
    ticks = app.topic(kafka.ticks_topic, **RAW)
    # keys and values are raw bytes (app-wide serializers): rows as tagged JSON, see rowcodec
    rows = app.Table("erp-rows", key_type=str, value_type=bytes, partitions=1)
    # what casavi holds, per casavi system (R22): switching systems starts from an empty table,
    # so the start tick sends everything to the new system
    emitted = app.Table(f"emitted-{settings.casavi.system}", key_type=str, value_type=bytes, partitions=1)
    status = WorkerStatus(settings.stack.state_dir / "worker-status.json")
    processor = Processor(settings.sync, system=settings.casavi.system)
    loaded = asyncio.Event()

    full_pass = asyncio.Event()  # set when a batch failed as a whole: the next one re-projects every root

    def load_state() -> None:
        """Rebuild the in-memory state and indexes from the recovered tables."""
        started = time.monotonic()
        for key, value in rows.items():
            processor.load_row(key if isinstance(key, str) else key.decode(), *loads_entry(value))
        for value in emitted.values():
            processor.load_emitted(json.loads(value))
        processor.finish_loading()
        loaded.set()
        log.info("state loaded: %d rows, %d emitted entities in %.1fs",
                 processor.row_count, processor.emitted_count, time.monotonic() - started)

    async def deliver(topic: str, records: Sequence[tuple[bytes, bytes]]) -> None:
        """Produce and await delivery; Kafka being away is transient: retry until it is back."""
        attempt = 0
        while True:
            try:
                producer = app.producer  # straight to the client: no per-message Faust bookkeeping
                futures = [await producer.send(topic, key, value, None, None, None) for key, value in records]
                await asyncio.gather(*futures)
                return
            except Exception as exc:  # noqa: BLE001 - the producer raises many kinds
                attempt += 1
                delay = RETRY.delay(attempt, _rng)
                log.warning("sending %d records to %s failed (%s); retry %d in %.1fs", len(records), topic,
                            type(exc).__name__, attempt, delay)
                await asyncio.sleep(delay)

    async def dead_letter(letters: Sequence[DeadLetter]) -> None:
        await deliver(kafka.dlq_topic, [((letter.reference_id or letter.table or "").encode(),
                                         letter.model_dump_json().encode()) for letter in letters])

    @app.agent(source, concurrency=1)
    async def process(stream: faust.StreamT[bytes]) -> None:
        async for events in stream.take_events(batch_size, within=batch_within_s):  # type: ignore[attr-defined]
            token = _current_event.set(weakref.ref(events[-1]))
            try:
                if not loaded.is_set():
                    load_state()
                await _process_batch(events)
            except Exception as exc:  # noqa: BLE001 - never let one batch stop the stream
                # Folding and projecting isolate single changes and roots; what fails here is the
                # glue around them. The events go to the DLQ by position and the next batch
                # re-projects every root, so no command the batch owed casavi is lost.
                where = " < ".join(f"{f.name}:{f.lineno}" for f in reversed(traceback.extract_tb(exc.__traceback__)[-4:]))
                log.error("batch of %d events failed (%s at %s); their positions go to the DLQ and every root "
                          "is projected again", len(events), type(exc).__name__, where)
                full_pass.set()
                await dead_letter([_letter(e, "fold", "unexpected error while processing batch") for e in events])
            finally:
                _current_event.reset(token)

    def write_emitted(writes: Sequence[tuple[str, dict[str, Any] | None]]) -> None:
        for slot, entry in writes:
            if entry is None:
                emitted.pop(slot, None)
            else:
                emitted[slot] = json.dumps(entry).encode()

    async def _process_batch(events: Sequence[faust.EventT[bytes]]) -> None:
        changes: list[RowChange] = []
        letters: list[DeadLetter] = []
        receipts: list[Receipt] = []
        control = Control()
        for event in events:
            msg = event.message
            if msg.topic == kafka.ticks_topic:
                control.read(msg.value)
                continue
            if msg.topic == kafka.receipts_topic:
                if msg.value:
                    try:
                        receipts.append(decode_receipt(msg.value))
                    except ReceiptCodecError as exc:
                        letters.append(_letter(event, "decode", str(exc)))
                continue
            try:
                decoded = decoder.decode(msg.topic, msg.partition, msg.offset, msg.key, msg.value)
            except MalformedEvent as exc:
                letters.append(_letter(event, "decode", exc.reason, table=table_of_topic.get(msg.topic)))
                continue
            if isinstance(decoded, Tombstone):
                continue
            changes.append(decoded)
        step = processor.fold(changes)
        for key, row, position in step.row_writes:
            if row is None and position is None:
                rows.pop(key, None)
            else:  # a deleted row keeps its position, so a replayed insert cannot bring it back
                rows[key] = dumps_entry(row, position)
        letters.extend(step.dead_letters)
        roots = step.roots
        if receipts:
            fed = processor.apply_receipts(receipts)
            write_emitted(fed.emitted_writes)
            roots = roots | fed.roots
        if control.slots:
            redriven, writes, unknown = processor.redrive(control.slots)
            write_emitted(writes)
            roots = roots | redriven
            log.info("redrive: %d slots, %d roots projected again, %d slots not known as emitted",
                     len(control.slots), len(redriven), unknown)
        if control.resync or control.tick or full_pass.is_set():
            full_pass.clear()
            commands = processor.reproject_all(force=control.resync)
        else:
            commands = processor.project(roots, step.newest_source_ts_ms)
        encoded = [(c, encode(c)) for c in commands]
        limit = kafka.max_command_bytes
        too_large = [c for c, value in encoded if len(value) > limit]
        if too_large:  # never fits casavi's request limit: a dead letter instead of a blocked stream
            write_emitted(processor.refuse(too_large, "TOO_LARGE", f"the command exceeds {limit} bytes "
                                           "(BRIDGE_KAFKA__MAX_COMMAND_BYTES); shorten the ERP row's large fields"))
            encoded = [(c, value) for c, value in encoded if len(value) <= limit]
            commands = [c for c, _ in encoded]
        letters.extend(processor.take_dead_letters())
        if commands:
            await deliver(kafka.commands_topic, [(c.slot.encode(), value) for c, value in encoded])
            write_emitted(processor.emitted_writes(commands))
        if letters:
            await dead_letter(letters)
        status.record_batch(events=len(events), changes=len(changes), replayed=step.replayed,
                            commands=len(commands), dead_letters=len(letters),
                            source_ts_ms=step.newest_source_ts_ms)

    @app.timer(interval=tick_interval_s, on_leader=True)  # type: ignore[untyped-decorator]
    async def tick() -> None:
        """Time-driven rules (R09 grace period, contract start) fire without an ERP change."""
        await ticks.send(key=b"tick", value=json.dumps({"kind": "tick", "at": time.time()}).encode())

    @app.task  # type: ignore[untyped-decorator]
    async def tick_at_start() -> None:
        """Catch up on days that passed while the worker was stopped."""
        await ticks.send(key=b"tick", value=json.dumps({"kind": "tick", "at": time.time(), "start": True}).encode())

    return app


def _letter(
    event: faust.EventT[bytes], stage: Literal["decode", "fold"], reason: str, table: str | None = None
) -> DeadLetter:
    msg = event.message
    return DeadLetter(stage=stage, reason=reason, topic=msg.topic, partition=msg.partition,
                      offset=msg.offset, table=table, at_ms=int(time.time() * 1000))

