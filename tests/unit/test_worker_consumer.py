"""The worker's consumer hands a record to the conductor's callback directly when that cannot
block, and through Faust's ``wait_first`` (abandoned when the flow is suspended) otherwise.
Real Faust app, consumer and channel queue; no broker is contacted."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from faust.transport.drivers import aiokafka as driver

from streams.worker.consumer import App, Consumer


def _setup(maxsize: int = 2) -> tuple[Any, Any, Any]:
    app = App("consumer-test", broker="kafka://127.0.0.1:1", store="memory://", stream_buffer_maxsize=maxsize)
    channel = app.topic("erp.erp.unit").clone(is_iterator=True)
    app.topics.add(channel)
    consumer = app.consumer
    return app, consumer, channel


def _faust_path(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Records calls of Faust's own ``wait_first`` (the fallback)."""
    calls: list[int] = []

    async def faust_wait_first(self: Any, *coros: Any, timeout: Any = None) -> Any:
        calls.append(len(coros))
        for coro in coros:
            coro.close()
        return None

    monkeypatch.setattr(driver.Consumer, "wait_first", faust_wait_first, raising=False)
    return calls


def test_the_worker_app_builds_the_batching_consumer() -> None:
    _, consumer, _ = _setup()
    assert isinstance(consumer, Consumer)


def test_a_record_goes_to_the_callback_directly_while_the_queue_has_room(monkeypatch: pytest.MonkeyPatch) -> None:
    app, consumer, channel = _setup()
    calls = _faust_path(monkeypatch)
    handed: list[str] = []

    async def callback(value: str) -> str:
        channel.queue.put_nowait(value)
        handed.append(value)
        return value

    async def run() -> Any:
        suspended = consumer.suspend_flow.wait()
        result = await consumer.wait_first(callback("r1"), suspended)
        assert suspended.cr_frame is None  # closed, never awaited
        return result

    result = asyncio.run(run())
    assert handed == ["r1"] and calls == []
    assert list(result.results) == ["r1"] and not result.stopped


@pytest.mark.parametrize("blocked", ["queue_full", "flow_suspended", "lock_held"])
def test_a_record_that_could_block_takes_faust_s_path(monkeypatch: pytest.MonkeyPatch, blocked: str) -> None:
    app, consumer, channel = _setup(maxsize=1)
    calls = _faust_path(monkeypatch)

    async def callback() -> None:
        raise AssertionError("not called directly")

    async def run() -> None:
        if blocked == "queue_full":
            channel.queue.put_nowait("waiting")
        elif blocked == "flow_suspended":
            consumer.suspend_flow.set()
        else:
            await app.topics._tp_to_callback_lock.acquire()
        await consumer.wait_first(callback(), consumer.suspend_flow.wait())

    asyncio.run(run())
    assert calls == [2]
