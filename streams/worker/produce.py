"""Records produced to one partition in aiokafka's own batches.

``AIOKafkaProducer.send`` takes one record: a future, a place in the accumulator and Faust's
sensors per record, about as much as the rest of a table write. The worker's tables write
every changed row to their changelog, to the one partition they have: ``produce_batches``
fills aiokafka batches (``create_batch``, up to the producer's ``max_batch_size``) and hands
each to the producer whole (``send_batch``), one future per batch. The records and their
order are those of one ``send`` per record.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


async def produce_batches(producer: Any, topic: str, partition: int,
                          records: Sequence[tuple[bytes, bytes | None]]) -> int | None:
    """Produce ``records`` to ``topic``/``partition`` in order and await them; returns the
    partition's end offset after them (None for no records). ``producer``: an
    ``aiokafka.AIOKafkaProducer``."""
    sent: list[tuple[Any, int]] = []  # (the batch's future, its records)
    batch, n = producer.create_batch(), 0
    for key, value in records:
        if batch.append(key=key, value=value, timestamp=None) is None:  # full: sent, the record starts the next
            sent.append((await producer.send_batch(batch, topic, partition=partition), n))
            batch, n = producer.create_batch(), 0
            batch.append(key=key, value=value, timestamp=None)  # an empty batch takes any record
        n += 1
    if n:
        sent.append((await producer.send_batch(batch, topic, partition=partition), n))
    ends = [(await future).offset + count for future, count in sent]  # a batch's base offset, its records
    return max(ends) if ends else None
