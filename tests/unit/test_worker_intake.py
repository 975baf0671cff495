"""A batch of the worker's intake: everything waiting at once, up to the batch size, and what
arrives shortly after the first record."""

from __future__ import annotations

import asyncio

from mode.utils.queues import FlowControlEvent, ThrowableQueue

from streams.worker.intake import take


def test_a_batch_takes_what_waits_up_to_its_size() -> None:
    async def run() -> tuple[list[int], list[int], int]:
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(12):
            queue.put_nowait(i)
        first = await take(queue, 5, 10.0)  # full: returns without waiting for the 10 s
        second = await take(queue, 100, 0.01)
        return first, second, queue.qsize()

    first, second, left = asyncio.run(run())
    assert first == [0, 1, 2, 3, 4] and second == list(range(5, 12)) and left == 0


def test_a_batch_waits_for_its_first_record_and_takes_what_follows_within_the_window() -> None:
    async def run() -> list[str]:
        queue: asyncio.Queue[str] = asyncio.Queue()

        async def produce() -> None:
            await queue.put("first")
            await asyncio.sleep(0)  # the batch has begun
            await queue.put("second")

        taking = asyncio.ensure_future(take(queue, 10, 0.5))
        await asyncio.sleep(0)
        assert not taking.done()  # nothing there yet: waits
        await produce()
        return await taking

    assert asyncio.run(run()) == ["first", "second"]


def test_a_record_after_a_quiet_spell_goes_at_once_with_what_came_with_it() -> None:
    async def run() -> list[str]:
        queue: asyncio.Queue[str] = asyncio.Queue()
        taking = asyncio.ensure_future(take(queue, 10, 0.0))  # the window is over before the record comes
        await asyncio.sleep(0)
        queue.put_nowait("late")
        queue.put_nowait("with it")
        return await asyncio.wait_for(taking, 5.0)

    assert asyncio.run(run()) == ["late", "with it"]


def test_the_flow_control_queue_of_faust_resumes_its_partitions_when_a_batch_drains_it() -> None:
    async def run() -> list[str]:
        queue: ThrowableQueue[int] = ThrowableQueue(maxsize=10, flow_control=FlowControlEvent())
        resumed: list[str] = []

        def resume() -> None:  # the conductor's callback of one partition
            resumed.append("tp")

        for i in range(10):  # filled to its size: the partition is paused, its callback pending
            queue.put_nowait_enhanced(i, on_pressure_high=lambda: None, on_pressure_drop=resume)
        assert await take(queue, 100, 0.0) == list(range(10))
        return resumed

    assert asyncio.run(run()) == ["tp"]


def test_a_worker_with_work_of_its_own_takes_what_is_there_without_waiting_for_more() -> None:
    async def run() -> tuple[list[str], list[str]]:
        queue: asyncio.Queue[str] = asyncio.Queue()
        queue.put_nowait("pass")
        # a window of 30 s, not waited for: the deadline of 5 s would raise
        busy = await asyncio.wait_for(take(queue, 10, 30.0, busy=lambda: True), 5.0)
        queue.put_nowait("change")
        idle = asyncio.ensure_future(take(queue, 10, 30.0, busy=lambda: False))
        for _ in range(5):  # turns of the loop: the first record taken, the window begun
            await asyncio.sleep(0)
        assert not idle.done()  # without work of its own it waits for the window
        queue.put_nowait("next")
        idle.cancel()
        return busy, [queue.get_nowait() for _ in range(queue.qsize())]

    busy, left = asyncio.run(run())
    assert busy == ["pass"] and left == ["next"]
