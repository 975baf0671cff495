"""A batch of the worker's intake: everything waiting at once, up to the batch size, and what
arrives shortly after the first record; records read before a rebalance are not handed over; a
full queue holds the consumer back until the agent takes a batch, or until a rebalance."""

from __future__ import annotations

import asyncio

from faust.types import TP

from streams.worker.intake import RecordQueue
from streams.worker.step import Record

UNIT, PERSON = TP("erp.erp.unit", 0), TP("erp.erp.person", 0)


def _records(tp: TP, offsets: range) -> list[Record]:
    return [Record(tp.topic, tp.partition, o, None, b"{}") for o in offsets]


def _any(generation: int) -> bool:
    return True


def test_a_batch_takes_what_waits_up_to_its_size_and_the_rest_stays_first_in_line() -> None:
    async def run() -> tuple[list[int], list[int], int]:
        queue = RecordQueue([UNIT.topic], maxsize=100)
        queue.put_nowait(1, UNIT, _records(UNIT, range(0, 8)))
        queue.put_nowait(1, UNIT, _records(UNIT, range(8, 12)))
        first = await queue.take(5, 10.0, _any)  # full: returns without waiting for the 10 s
        second = await queue.take(100, 0.01, _any)
        return [r.offset for r in first.records], [r.offset for r in second.records], len(queue)

    first, second, left = asyncio.run(run())
    assert first == [0, 1, 2, 3, 4] and second == list(range(5, 12)) and left == 0


def test_a_batch_waits_for_its_first_record_and_takes_what_follows_within_the_window() -> None:
    async def run() -> list[int]:
        queue = RecordQueue([UNIT.topic], maxsize=100)
        taking = asyncio.ensure_future(queue.take(10, 0.5, _any))
        await asyncio.sleep(0)
        assert not taking.done()  # nothing there yet: waits
        queue.put_nowait(1, UNIT, _records(UNIT, range(0, 1)))
        await asyncio.sleep(0)  # the batch has begun
        queue.put_nowait(1, UNIT, _records(UNIT, range(1, 2)))
        return [r.offset for r in (await taking).records]

    assert asyncio.run(run()) == [0, 1]


def test_a_record_after_a_quiet_spell_goes_at_once_with_what_came_with_it() -> None:
    async def run() -> list[int]:
        queue = RecordQueue([UNIT.topic], maxsize=100)
        taking = asyncio.ensure_future(queue.take(10, 0.0, _any))  # the window is over before the record comes
        await asyncio.sleep(0)
        queue.put_nowait(1, UNIT, _records(UNIT, range(0, 2)))
        return [r.offset for r in (await asyncio.wait_for(taking, 5.0)).records]

    assert asyncio.run(run()) == [0, 1]


def test_a_worker_with_work_of_its_own_takes_what_is_there_without_waiting_for_more() -> None:
    async def run() -> tuple[list[int], list[int]]:
        queue = RecordQueue([UNIT.topic], maxsize=100)
        queue.put_nowait(1, UNIT, _records(UNIT, range(0, 1)))
        # a window of 30 s, not waited for: the deadline of 5 s would raise
        busy = await asyncio.wait_for(queue.take(10, 30.0, _any, busy=lambda: True), 5.0)
        queue.put_nowait(1, UNIT, _records(UNIT, range(1, 2)))
        idle = asyncio.ensure_future(queue.take(10, 30.0, _any, busy=lambda: False))
        for _ in range(5):  # turns of the loop: the first record taken, the window begun
            await asyncio.sleep(0)
        assert not idle.done()  # without work of its own it waits for the window
        queue.put_nowait(1, UNIT, _records(UNIT, range(2, 3)))
        idle.cancel()
        rest = await queue.take(10, 0.0, _any)
        return [r.offset for r in busy.records], [r.offset for r in rest.records]

    busy, rest = asyncio.run(run())
    assert busy == [0] and rest == [2]


def test_records_read_before_a_rebalance_are_dropped_not_handed_over() -> None:
    async def run() -> list[tuple[str, int]]:
        queue = RecordQueue([UNIT.topic, PERSON.topic], maxsize=100)
        queue.put_nowait(1, UNIT, _records(UNIT, range(0, 3)))  # read in generation 1
        queue.put_nowait(2, PERSON, _records(PERSON, range(7, 9)))  # after the rebalance
        batch = await queue.take(10, 0.0, lambda generation: generation == 2)
        assert len(queue) == 0
        return [(r.topic, r.offset) for r in batch.records]

    assert asyncio.run(run()) == [(PERSON.topic, 7), (PERSON.topic, 8)]


def test_a_batch_acks_its_offsets_by_partition() -> None:
    async def run() -> tuple[dict[TP, list[int]], dict[TP, int]]:
        queue = RecordQueue([UNIT.topic, PERSON.topic], maxsize=100)
        queue.put_nowait(1, UNIT, _records(UNIT, range(0, 3)))
        queue.put_nowait(1, PERSON, _records(PERSON, range(10, 12)))
        queue.put_nowait(1, UNIT, _records(UNIT, range(3, 5)))
        batch = await queue.take(100, 0.0, _any)
        return batch.offsets(), batch.ends()

    offsets, last = asyncio.run(run())
    assert offsets == {UNIT: [0, 1, 2, 3, 4], PERSON: [10, 11]}
    assert last == {UNIT: 4, PERSON: 11}


def test_a_full_queue_holds_the_consumer_back_until_a_batch_is_taken() -> None:
    async def run() -> tuple[bool, int]:
        queue = RecordQueue([UNIT.topic], maxsize=4)
        suspended = asyncio.Event()
        assert await queue.put(1, UNIT, _records(UNIT, range(0, 4)), suspended)
        putting = asyncio.ensure_future(queue.put(1, UNIT, _records(UNIT, range(4, 6)), suspended))
        for _ in range(5):
            await asyncio.sleep(0)
        assert not putting.done()  # full: the consumer's fetch loop waits
        await queue.take(4, 0.0, _any)
        return await asyncio.wait_for(putting, 5.0), len(queue)

    assert asyncio.run(run()) == (True, 2)


def test_a_rebalance_releases_a_consumer_held_back_by_a_full_queue_without_putting() -> None:
    async def run() -> tuple[bool, int]:
        queue = RecordQueue([UNIT.topic], maxsize=2)
        suspended = asyncio.Event()
        await queue.put(1, UNIT, _records(UNIT, range(0, 2)), suspended)
        putting = asyncio.ensure_future(queue.put(1, UNIT, _records(UNIT, range(2, 4)), suspended))
        await asyncio.sleep(0)
        suspended.set()  # Faust suspends the flow: the fetch loop must not stay blocked
        return await asyncio.wait_for(putting, 5.0), len(queue)

    assert asyncio.run(run()) == (False, 2)


def test_a_rebalance_waits_for_the_batch_in_progress() -> None:
    async def run() -> list[str]:
        queue = RecordQueue([UNIT.topic], maxsize=10)
        steps: list[str] = []
        queue.begin()  # the agent took a batch

        async def rebalance() -> None:
            await queue.idle()
            steps.append("committed")

        waiting = asyncio.ensure_future(rebalance())
        for _ in range(5):
            await asyncio.sleep(0)
        steps.append("batch done")
        queue.end()
        await asyncio.wait_for(waiting, 5.0)
        await asyncio.wait_for(queue.idle(), 5.0)  # no batch in progress: at once
        return steps

    assert asyncio.run(run()) == ["batch done", "committed"]
