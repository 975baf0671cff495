"""The worker's consumer puts the source topics' fetched records into the intake a partition's
list at a time (with Faust's read-offset and gap bookkeeping), acks a batch's offsets as Faust
commits them, waits for the batch in progress before a rebalance commits; a record of another
topic takes Faust's path. Real Faust app and consumer; no broker is contacted (a fetch's records
are given)."""

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


def test_the_worker_app_builds_the_batching_consumer() -> None:
    _, consumer, _ = _setup()
    assert isinstance(consumer, Consumer)


def _fetch(consumer: Any, monkeypatch: pytest.MonkeyPatch, records: dict[Any, list[Any]]) -> None:
    """The next fetch returns ``records`` (no broker): Faust's ``_wait_next_records``."""

    async def wait_next_records(timeout: float) -> tuple[dict[Any, list[Any]], None]:
        return records, None

    monkeypatch.setattr(consumer, "_wait_next_records", wait_next_records)
    monkeypatch.setattr(consumer, "highwater", lambda tp: 100)


def _record(topic: str, offset: int) -> Any:
    from aiokafka.structs import ConsumerRecord

    return ConsumerRecord(topic=topic, partition=0, offset=offset, timestamp=0, timestamp_type=0, key=None,
                          value=b"{}", checksum=None, serialized_key_size=0, serialized_value_size=2, headers=())


def test_the_source_topics_records_go_to_the_intake_a_fetch_at_a_time_and_others_take_faust_s_path(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from faust.types import TP

    from streams.worker.intake import RecordQueue

    app, consumer, _ = _setup()
    app.intake = RecordQueue(["erp.erp.unit"], maxsize=100)
    unit, leader = TP("erp.erp.unit", 0), TP("other", 0)
    _fetch(consumer, monkeypatch, {unit: [_record("erp.erp.unit", o) for o in (0, 1, 2)],
                                   leader: [_record("other", 5)]})

    async def run() -> tuple[list[Any], list[int]]:
        handed = [(tp.topic, m.offset) async for tp, m in consumer.getmany(1.0)]
        batch = await app.intake.take(10, 0.0, lambda generation: True)
        return handed, [r.offset for r in batch.records]

    handed, taken = asyncio.run(run())
    assert handed == [("other", 5)] and taken == [0, 1, 2]
    assert consumer._read_offset[unit] == 2


def test_records_already_read_are_skipped_and_skipped_offsets_noted_as_gaps(monkeypatch: pytest.MonkeyPatch) -> None:
    from faust.types import TP

    from streams.worker.intake import RecordQueue

    app, consumer, _ = _setup()
    app.intake = RecordQueue(["erp.erp.unit"], maxsize=100)
    unit = TP("erp.erp.unit", 0)
    monkeypatch.setattr(app.topics, "acks_enabled_for", lambda topic: True)
    consumer._read_offset[unit] = 3
    # 2 was read before; 7 and 8 are transaction markers (Kafka skips their offsets)
    _fetch(consumer, monkeypatch, {unit: [_record("erp.erp.unit", o) for o in (2, 3, 4, 5, 6, 9)]})

    async def run() -> list[int]:
        _ = [item async for item in consumer.getmany(1.0)]
        batch = await app.intake.take(10, 0.0, lambda generation: True)
        return [r.offset for r in batch.records]

    assert asyncio.run(run()) == [3, 4, 5, 6, 9]
    assert consumer._read_offset[unit] == 9
    assert sorted((i.begin, i.end) for i in consumer._gap[unit]) == [(7, 10)]  # as Faust notes a gap


def test_a_batch_s_acked_offsets_are_what_the_consumer_commits(monkeypatch: pytest.MonkeyPatch) -> None:
    from faust.types import TP

    _, consumer, _ = _setup()
    unit, person = TP("erp.erp.unit", 0), TP("erp.erp.person", 0)
    monkeypatch.setattr(consumer.app.topics, "acks_enabled_for", lambda topic: True)
    consumer.ack_offsets({unit: [0, 1], person: [10, 11]})
    consumer.ack_offsets({unit: [1, 3]})  # 1 again: acked once; 2 not yet: the commit stops before it
    assert consumer._new_offset(unit) == 2 and consumer._new_offset(person) == 12
    consumer.ack_offsets({unit: [2]})
    assert consumer._new_offset(unit) == 4


def test_the_consumer_commits_on_a_rebalance_only_after_the_batch_in_progress(monkeypatch: pytest.MonkeyPatch) -> None:
    from streams.worker.intake import RecordQueue

    app, consumer, _ = _setup()
    app.intake = RecordQueue(["erp.erp.unit"], maxsize=10)
    steps: list[str] = []

    async def faust_wait_empty(self: Any) -> None:
        steps.append("faust commits")

    monkeypatch.setattr(driver.Consumer, "wait_empty", faust_wait_empty, raising=False)

    async def run() -> None:
        app.intake.begin()
        waiting = asyncio.ensure_future(consumer.wait_empty())
        for _ in range(5):
            await asyncio.sleep(0)
        steps.append("batch acked")
        app.intake.end()
        await asyncio.wait_for(waiting, 5.0)

    asyncio.run(run())
    assert steps == ["batch acked", "faust commits"]
