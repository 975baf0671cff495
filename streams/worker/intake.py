"""The worker's source records, from the consumer to its agent a fetch at a time.

Faust hands every fetched record on its own: a ``Message`` per record, the conductor's callback,
an ``Event`` decoded into the agent's channel queue, then taken, tracked and acked one by one —
25-30 µs of the worker's main thread per record on the bench machine, spent between the worker's
batches, so that hand-over and batch took turns: a quarter of the worker's throughput
(``bench/README.md``, "(b) throughput"). ``RecordQueue`` takes that path's place for the
worker's source topics: the consumer (``streams.worker.consumer``) puts each partition's fetched
records in as the fetch returned them, the agent takes up to ``max_records`` at once and acks them
by partition when its batch is done. What Faust's path does for the offsets stays: the records of
an earlier consumer generation (read before a rebalance) are dropped, not processed — the consumer
reads them again from the committed offset —, the acked offsets are what the consumer commits, and
a rebalance or a stop waits for the batch in progress before it commits (``idle``).

Everything else stays Faust's: subscription, fetching, flow control around rebalances, tables,
commits and the agent's lifecycle. The queue takes a partition's fetched records while it holds
fewer than ``maxsize`` (one batch read ahead); a full queue holds the consumer's fetch loop back
until the agent takes a batch, or until a rebalance suspends the flow.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from faust.types import TP

from streams.records import KafkaRecord


@dataclass
class Batch:
    """Records taken at once, in the order of each partition; ``parts`` the same records by
    partition, as the consumer acks them."""

    records: list[KafkaRecord] = field(default_factory=list)
    parts: list[tuple[TP, list[KafkaRecord]]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.records)

    def offsets(self) -> dict[TP, list[int]]:
        """The offsets by partition, in order: what the consumer acks."""
        out: dict[TP, list[int]] = {}
        for tp, records in self.parts:
            out.setdefault(tp, []).extend([r.offset for r in records])
        return out

    def ends(self) -> dict[TP, int]:
        """The last offset of each partition the batch holds."""
        return {tp: records[-1].offset for tp, records in self.parts}


class RecordQueue:
    """Fetched records of ``topics``, a partition's list at a time (module docstring)."""

    def __init__(self, topics: Iterable[str], maxsize: int) -> None:
        self.topics = frozenset(topics)
        self.maxsize = maxsize
        self._parts: deque[tuple[int, TP, list[KafkaRecord]]] = deque()  # (consumer generation, partition, records)
        self._size = 0
        self._arrived = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        self._idle = asyncio.Event()  # no batch taken and not acked yet
        self._idle.set()

    def __len__(self) -> int:
        return self._size

    def full(self) -> bool:
        return self._size >= self.maxsize

    def put_nowait(self, generation: int, tp: TP, records: list[KafkaRecord]) -> None:
        if not records:
            return
        self._parts.append((generation, tp, records))
        self._size += len(records)
        self._arrived.set()
        if self.full():
            self._room.clear()

    async def put(self, generation: int, tp: TP, records: list[KafkaRecord], suspended: asyncio.Event) -> bool:
        """Put once there is room; False (the records not put) when ``suspended`` is set first:
        a rebalance, after which the consumer reads from the committed offsets again."""
        while self.full():
            if suspended.is_set():
                return False
            room, halt = asyncio.ensure_future(self._room.wait()), asyncio.ensure_future(suspended.wait())
            try:
                await asyncio.wait({room, halt}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                room.cancel()
                halt.cancel()
        self.put_nowait(generation, tp, records)
        return True

    async def take(self, max_records: int, within_s: float, current: Callable[[int], bool],
                   busy: Callable[[], bool] | None = None) -> Batch:
        """Up to ``max_records`` records: waits for the first, then takes what is there and what
        arrives until ``within_s`` after the first came (a record after a quiet spell goes at
        once, with what came with it). While ``busy()`` (the worker has work of its own queued:
        deferred roots to project) it takes what is there and does not wait for more.
        ``current(generation)``: whether records of that consumer generation are still to be
        processed; the others are dropped."""
        batch = Batch()
        while not batch.records:
            await self._wait(None)
            deadline = asyncio.get_running_loop().time() + within_s
            self._pop(batch, max_records, current)
        while len(batch) < max_records and not (busy is not None and busy()):
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0 or not await self._wait(remaining):
                break
            self._pop(batch, max_records, current)
        return batch

    def begin(self) -> None:
        """A batch taken is being processed (until ``end``)."""
        self._idle.clear()

    def end(self) -> None:
        """The batch is done: acked, or given up (the worker stopping)."""
        self._idle.set()

    async def idle(self) -> None:
        """Until no batch is being processed: a rebalance commits what its batch acked."""
        await self._idle.wait()

    async def _wait(self, timeout: float | None) -> bool:
        """Until records are queued (at once when they are); False when ``timeout`` passed first."""
        if self._parts:
            return True
        self._arrived.clear()
        if timeout is None:
            await self._arrived.wait()
            return True
        try:
            await asyncio.wait_for(self._arrived.wait(), timeout)
        except asyncio.TimeoutError:
            return False
        return True

    def _pop(self, batch: Batch, max_records: int, current: Callable[[int], bool]) -> None:
        parts = self._parts
        while parts and len(batch) < max_records:
            generation, tp, records = parts.popleft()
            self._size -= len(records)
            if not current(generation):
                continue
            room = max_records - len(batch)
            if len(records) > room:  # the rest stays first in line
                parts.appendleft((generation, tp, records[room:]))
                self._size += len(records) - room
                records = records[:room]
            batch.records.extend(records)
            batch.parts.append((tp, records))
        if not self.full():
            self._room.set()

