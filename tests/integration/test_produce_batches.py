"""A table's changelog records produced in aiokafka batches (``streams.worker.produce``), against
the real broker: every record, in order, and the end offset the worker moves its store to."""

from __future__ import annotations

import uuid
from typing import Any, Callable

import pytest

from streams.worker.produce import produce_batches

pytestmark = pytest.mark.integration


async def test_records_produced_in_batches_arrive_in_order_and_the_end_offset_is_the_partitions(
        stack: dict[str, Any], topic_reader: Callable[[str], Any]) -> None:
    from aiokafka import AIOKafkaProducer

    topic = f"produce-batches-{uuid.uuid4().hex[:12]}"
    # small batches: the records fill many of them; one value larger than a batch goes alone
    producer = AIOKafkaProducer(bootstrap_servers=stack["kafka_bootstrap_servers"], acks="all",
                                enable_idempotence=True, max_batch_size=16_384)
    await producer.start()
    try:
        first = [(f"k{i}".encode(), None if i % 50 == 7 else f"v{i}".encode() * 100) for i in range(1_000)]
        assert await produce_batches(producer, topic, 0, first) == 1_000
        second = [(b"large", b"x" * 40_000), (b"after", b"y")]
        assert await produce_batches(producer, topic, 0, second) == 1_002
        assert await produce_batches(producer, topic, 0, []) is None
    finally:
        await producer.stop()
    async with topic_reader(topic) as reader:
        await reader.wait_for(lambda r: r.key == b"after", 30, "the last record")
        got = [(r.key, r.value, r.offset) for r in reader.records]
    assert got == [(k, v, i) for i, (k, v) in enumerate(first + second)]
