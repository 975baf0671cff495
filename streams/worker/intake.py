"""Batches of source records for the worker's agent, without Faust's per-record stream path.

``Stream.take_events`` hands every record through the stream on its own: a turn of the event
loop, the stream's processors and sensors per record, at most 5,000-7,000 records/s on the
bench machine, and none while a batch is being processed (``bench/README.md``).
``take_batches`` reads the agent's channel queue, which Faust's conductor fills from the
consumer, in one go: up to ``max_records`` that are there or arrive within ``within_s``. Per
record it does what the stream does for the consumer's offsets: a record is tracked as unacked
when taken and acked when its batch is done (the consumer commits acked offsets), and a record
read before a rebalance (an earlier consumer generation, or taken while flow control is
suspended) is acked without being handed over, as the stream skips it.

Everything else stays Faust's: subscription, fetching and flow control (a full queue pauses
its partitions, ``stream_buffer_maxsize``), tables, commits and the agent's lifecycle.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol, TypeVar

from faust.types import EventT, StreamT

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


class _Queue(Protocol[T_co]):
    def empty(self) -> bool: ...

    def get_nowait(self) -> T_co: ...

    async def get(self) -> T_co: ...


async def take(queue: _Queue[T], max_records: int, within_s: float,
               busy: Callable[[], bool] | None = None) -> list[T]:
    """Up to ``max_records`` items of ``queue``: waits for the first, then takes what is there
    and what arrives until ``within_s`` after the call (a record that comes after a quiet
    spell goes at once, with what came with it). While ``busy()`` (the worker has work of its
    own queued: deferred roots to project) it takes what is there and does not wait for more:
    that work goes on at once, with the records that came meanwhile."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    items = [await queue.get()]
    while len(items) < max_records:
        if not queue.empty():
            items.append(queue.get_nowait())
            continue
        if busy is not None and busy():
            break
        remaining = deadline - loop.time()
        if remaining <= 0:
            break
        try:
            items.append(await asyncio.wait_for(queue.get(), remaining))
        except asyncio.TimeoutError:
            break
    return items


async def take_batches(stream: StreamT[Any], max_records: int, within_s: float,
                       busy: Callable[[], bool] | None = None) -> AsyncIterator[list[EventT[Any]]]:
    """The agent's records in batches (module docstring; ``busy`` as for ``take``); each batch
    is acked when the loop body that got it is done, also when it raised. Ends when the
    channel is stopped (the worker shutting down)."""
    app = stream.app
    channel = aiter(stream.channel)  # the channel the conductor delivers to, as iterating the stream makes it
    queue = channel.queue  # type: ignore[attr-defined]
    consumer = app.consumer
    sensors = app.sensors
    acking = app.topics.acking_topics
    while True:
        try:
            taken: list[EventT[Any]] = await take(queue, max_records, within_s, busy)
        except StopAsyncIteration:  # Faust stops the channel
            return
        generation, active = app.consumer_generation_id, app.flow_control.is_active()
        events: list[EventT[Any]] = []
        last: dict[Any, EventT[Any]] = {}  # partition -> its last record in the batch
        for event in taken:
            message = event.message
            if not active or message.generation_id != generation:
                event.ack()  # read before a rebalance: fetched again from the committed offset
                continue
            if message.topic in acking and not message.tracked:
                message.tracked = True
                consumer.track_message(message)
            events.append(event)
            last[message.tp] = event
        if not events:
            continue
        # the sensors once per partition and batch: Faust's consumer watches them to tell a
        # partition whose stream stopped processing
        seen = [(tp, event, sensors.on_stream_event_in(tp, event.message.offset, stream, event))
                for tp, event in last.items()]
        try:
            yield events
        finally:
            for event in events:
                event.ack()
            for tp, event, state in seen:
                sensors.on_stream_event_out(tp, event.message.offset, stream, event, state)
