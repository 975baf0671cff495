"""One worker batch without Kafka: records in, what to write and send out.

``BatchStep.run`` reads a batch of records of the worker's source topics (CDC topics, the
control topic, casavi receipts), folds and projects through the ``Processor`` and returns a
``BatchOutcome``. The Faust app carries the outcome out in this order:

1. ``deferred`` roots to the pending table, ``row_writes`` to the state table,
   ``content_writes`` to the content topic (delivery awaited: a command may name that
   content) and ``emitted_writes`` to the emitted table (what the batch learnt: receipts,
   redrives, refusals),
2. ``commands`` to the commands topic, delivery awaited,
3. ``BatchStep.delivered(outcome)``: the emitted and meta writes that record the commands
   as sent (never before they reached Kafka), and ``projected_pending`` removed from the
   pending table,
4. ``dead_letters`` to the DLQ.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from streams.cdc.decode import Decoder
from streams.cdc.model import MalformedEvent, RowChange, Tombstone
from streams.commands.model import CasaviCommand, DeadLetter, encode
from streams.commands.receipts import Receipt, ReceiptCodecError, decode_receipt
from streams.cdc.model import Row
from streams.records import KafkaRecord
from streams.worker.control import Control
from streams.worker.processor import EmittedWrite, MetaWrite, PendingWrite, Processor
from streams.worker.rowcodec import Position

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Record:
    """One record of a source topic (tests and tools; the worker hands Faust's messages over)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


@dataclass
class BatchOutcome:
    records: int
    changes: int = 0
    replayed: int = 0
    source_ts_ms: int | None = None
    row_writes: list[tuple[str, Row | None, Position | None]] = field(default_factory=list)
    content_writes: list[tuple[str, bytes | None]] = field(default_factory=list)  # to the content topic, first
    emitted_writes: list[EmittedWrite] = field(default_factory=list)
    commands: list[tuple[CasaviCommand, bytes]] = field(default_factory=list)  # with their encoded value
    meta_writes: list[MetaWrite] = field(default_factory=list)  # with the delivered commands
    deferred: list[PendingWrite] = field(default_factory=list)  # roots now pending or journaled (before delivery)
    projected_pending: list[PendingWrite] = field(default_factory=list)  # pending roots done (after delivery)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    more_queued: int = 0  # roots of a pass or a flush still to project in later batches
    events_by_topic: dict[str, int] = field(default_factory=dict)  # records of the batch per topic
    changes_by_table: dict[str, int] = field(default_factory=dict)  # row changes decoded per ERP table


class BatchStep:
    def __init__(self, processor: Processor, decoder: Decoder, table_of_topic: dict[str, str], *,
                 control_topic: str, receipts_topic: str, max_command_bytes: int,
                 schema_id: int | None = None) -> None:
        self.processor = processor
        self.decoder = decoder
        self.table_of_topic = table_of_topic
        self.control_topic = control_topic
        self.receipts_topic = receipts_topic
        self.max_command_bytes = max_command_bytes
        self.schema_id = schema_id  # the schema registry's id of the command schema: wire format

    def run(self, records: Sequence[KafkaRecord], behind: bool = False, now: float | None = None,
            with_chunk: bool = True) -> BatchOutcome:
        """One batch; ``behind``: more records wait in the source topics than one batch holds
        (a backlog). Behind, or in a bulk load (a snapshot, a large transaction), the roots the
        changes touch are deferred (``Processor.defer``) and projected once it has passed.

        ``with_chunk`` False: the batch projects the roots of its own records only, not a chunk
        of a queued pass; the worker then carries out ``run([])`` (the chunk alone) after it, so
        that live changes reach casavi without waiting for a chunk of their own batch."""
        processor = self.processor
        out = BatchOutcome(records=len(records))
        changes: list[RowChange] = []
        receipts: list[Receipt] = []
        control = Control()
        for record in records:
            if record.topic == self.control_topic:
                control.read(record.value)
            elif record.topic == self.receipts_topic:
                if record.value:
                    try:
                        receipts.append(decode_receipt(record.value))
                    except ReceiptCodecError as exc:
                        out.dead_letters.append(letter(record, "decode", str(exc)))
            else:
                try:
                    decoded = self.decoder.decode(record.topic, record.partition, record.offset, record.key,
                                                  record.value)
                except MalformedEvent as exc:
                    out.dead_letters.append(letter(record, "decode", exc.reason,
                                                   table=self.table_of_topic.get(record.topic)))
                    continue
                if not isinstance(decoded, Tombstone):
                    changes.append(decoded)
        step = processor.fold(changes, now, behind)
        out.changes, out.replayed, out.source_ts_ms = len(changes), step.replayed, step.newest_source_ts_ms
        out.events_by_topic = dict(Counter(r.topic for r in records))
        out.changes_by_table = dict(Counter(c.table for c in changes))
        out.row_writes = step.row_writes
        out.content_writes = step.content_writes
        out.dead_letters.extend(step.dead_letters)
        roots = step.roots
        if behind or step.bulk:
            out.deferred = processor.defer(roots, now)
            roots = set()
        else:
            # The roots projected now are journaled in the pending table until their commands
            # are delivered: a worker stopped in between finds the batch's changes already in
            # its state table (a re-read skips them as replays), but their roots still pending.
            journal = sorted(r.key for r in roots if r not in processor.pending)
            out.deferred = [(key, True) for key in journal]
            out.projected_pending = [(key, False) for key in journal]
        flushing = processor.due_pending(behind, now, bulk=step.bulk)
        if flushing:  # a chunk per batch: the rest stays pending and follows with the next batches
            flushed, taken = processor.take_pending(processor.pass_chunk)
            out.projected_pending += taken
            roots = roots | flushed
        if receipts:
            fed = processor.apply_receipts(receipts)
            out.emitted_writes.extend(fed.emitted_writes)
            roots = roots | fed.roots
        if control.slots:
            redriven, writes, unknown = processor.redrive(control.slots)
            out.emitted_writes.extend(writes)
            roots = roots | redriven
            log.info("redrive: %d slots, %d roots projected again, %d slots not known as emitted",
                     len(control.slots), len(redriven), unknown)
        if control.resync:
            processor.queue_all(force=True)
        if control.reproject:
            processor.queue_all()
        if control.tick:
            due = processor.tick()
            log.info("tick: %d roots due, %d roots queued", due, processor.queued)
        chunk = processor.next_chunk() if with_chunk else None
        commands = processor.project(roots | chunk.roots if chunk else roots, step.newest_source_ts_ms,
                                     chunk=chunk is not None)
        if chunk is not None:
            if chunk.forced:
                commands += processor.project(chunk.forced, force=True, chunk=True)
            out.meta_writes = chunk.meta_writes
        out.more_queued = (processor.queued if with_chunk else 0) + (len(processor.pending) if flushing else 0)
        encoded = [(c, encode(c, self.schema_id)) for c in commands]
        limit = self.max_command_bytes
        too_large = [c for c, value in encoded if len(value) > limit]
        if too_large:  # never fits casavi's request limit: a dead letter instead of a blocked stream
            out.emitted_writes.extend(processor.refuse(
                too_large, "TOO_LARGE", f"the command exceeds {limit} bytes (BRIDGE_KAFKA__MAX_COMMAND_BYTES); "
                "shorten the ERP row's large fields"))
            encoded = [(c, value) for c, value in encoded if len(value) <= limit]
        out.commands = encoded
        out.dead_letters.extend(processor.take_dead_letters())
        return out

    def delivered(self, outcome: BatchOutcome) -> list[EmittedWrite]:
        """The emitted-table writes that record the outcome's commands as sent."""
        return self.processor.emitted_writes([c for c, _ in outcome.commands])

    def failed(self, records: Sequence[KafkaRecord]) -> list[DeadLetter]:
        """A batch that failed as a whole (the glue around folding and projecting): its records
        go to the DLQ by position and every root is projected again, so no command the batch
        owed casavi is lost."""
        self.processor.queue_all()
        return [letter(r, "fold", "unexpected error while processing batch") for r in records]


def letter(record: KafkaRecord, stage: Literal["decode", "fold"], reason: str, table: str | None = None) -> DeadLetter:
    return DeadLetter(stage=stage, reason=reason, topic=record.topic, partition=record.partition,
                      offset=record.offset, table=table, at_ms=int(time.time() * 1000))
