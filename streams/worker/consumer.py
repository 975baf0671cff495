"""The worker's Kafka consumer: Faust's, handing the source topics' records over a fetch at a time.

Faust's consumer hands every fetched record to the conductor (which decodes it into an event of
the agent's channel) through ``Service.wait_first(callback(message), suspend_flow.wait())``:
a ``Message``, four asyncio tasks, an ``Event`` and a queue entry per record, then tracking and
an ack per record in the stream. At the CDC topics' rates that was a large part of the worker's
time per event (``bench/README.md``, "(b) throughput").

With a ``RecordQueue`` on the app (``App.intake``), ``Consumer.getmany`` puts the fetched records of
the queue's topics into it as the fetch returned them (a list per partition), after the
bookkeeping Faust's fetch loop does per record: records already read are skipped, offsets Kafka
skipped (transaction markers, compaction) are noted as gaps the commit may pass over, the read
offset moves on. ``ack_offsets`` acks a batch's offsets by partition, as ``Consumer.ack`` does
per message; the consumer commits them as before, and ``wait_empty`` (a rebalance, a stop) waits
for the batch in progress first. Records of other topics (none in the worker: its agent's
topics are the queue's) take Faust's path.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import faust
from faust.transport.drivers import aiokafka as driver
from faust.types import TP, Message, TransportT
from faust.types.tuples import ack_lock
from mode.utils.futures import notify

from streams.records import KafkaRecord
from streams.worker.intake import RecordQueue


class Consumer(driver.Consumer):
    @property
    def intake(self) -> RecordQueue | None:
        return getattr(self.app, "intake", None)  # App.intake

    async def getmany(self, timeout: float) -> AsyncIterator[tuple[TP, Message]]:
        intake = self.intake
        if intake is None:
            async for item in super().getmany(timeout):
                yield item
            return
        records, active = await self._wait_next_records(timeout)
        generation = self.app.consumer_generation_id
        if records is None or self.should_stop:
            return
        if not self.flow_active:  # as Faust: seek back to the committed offsets
            try:
                await self.perform_seek()
            except Exception as exc:  # noqa: BLE001 - Faust logs it and goes on
                self.log.warning(f"exception performing seek when flow not active {exc}")
            return
        for tp, fetched in records.items():
            if not self.flow_active or self.app.consumer_generation_id != generation:
                break  # a rebalance began: what was fetched is read again from the committed offsets
            if active is not None and tp not in active and tp not in self._buffered_partitions:
                continue
            self.app.monitor.track_tp_end_offset(tp, self.highwater(tp))
            if tp.topic in intake.topics:
                fresh = await self._read(tp, fetched)
                if fresh and not await intake.put(generation, tp, fresh, self.suspend_flow):
                    break
            else:
                for record in fetched:
                    yield tp, self._to_message(tp, record)

    async def _read(self, tp: TP, fetched: Sequence[Any]) -> list[KafkaRecord]:
        """What Faust's fetch loop does per record before it hands one over: skip records
        already read, note skipped offsets as gaps, move the read offset."""
        read = self._read_offset[tp]
        fresh = list(fetched)
        if read is not None and fresh and fresh[0].offset < read:  # read before: after a seek back
            fresh = [r for r in fresh if r.offset >= read]
        if not fresh:
            return fresh
        if self.app.topics.acks_enabled_for(tp.topic):
            previous = read
            for record in fresh:
                if previous and record.offset - previous > 1:
                    await self._add_gap(tp, previous + 1, record.offset)
                previous = record.offset
        self._read_offset[tp] = fresh[-1].offset
        return fresh

    def ack_offsets(self, offsets: Mapping[TP, Sequence[int]]) -> None:
        """``Consumer.ack`` for a batch's records, by partition."""
        acks_enabled_for = self.app.topics.acks_enabled_for
        with ack_lock:
            for tp, tp_offsets in offsets.items():
                if not acks_enabled_for(tp.topic):
                    continue
                committed = self._committed_offset[tp]
                index = self._acked_index[tp]
                new = [o for o in tp_offsets if (committed is None or o >= committed) and o not in index]
                index.update(new)
                self._acked[tp].extend(new)
                self._n_acked += len(new)
            notify(self._waiting_for_ack)

    async def wait_empty(self) -> None:
        """Faust's: commit once every record handed over is acked; the intake's batch in
        progress too (its records are not tracked one by one)."""
        if self.intake is not None:
            await self.intake.idle()
        await super().wait_empty()


class Transport(driver.Transport):
    Consumer = Consumer


class App(faust.App):
    """A Faust app whose consumer is ``Consumer`` (the producer stays Faust's); ``intake``: the
    queue its source topics' records go to (None: Faust's path for every record)."""

    intake: RecordQueue | None = None

    def _new_transport(self) -> TransportT:
        return Transport(self.conf.broker_consumer, self)
