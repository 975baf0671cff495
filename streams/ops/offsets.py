"""Read from Kafka itself: how many records a topic holds (its end offsets), and the records
it holds now."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from streams.settings import KafkaSettings

log = logging.getLogger(__name__)


def end_offsets(kafka: KafkaSettings, topic: str, client_id: str = "casavi-bridge-offsets") -> int | None:
    """The sum of ``topic``'s end offsets over its partitions: every record ever written to it
    (compaction removes records but never renumbers them). 0 for a topic that does not exist;
    None when Kafka cannot be asked."""
    try:
        consumer = KafkaConsumer(bootstrap_servers=kafka.bootstrap_servers.split(","), enable_auto_commit=False,
                                 client_id=client_id)
    except Exception as exc:  # noqa: BLE001 - advisory: the caller counts from its own deliveries
        log.warning("could not read the end offsets of %s (%s)", topic, type(exc).__name__)
        return None
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        return sum(consumer.end_offsets(tps).values()) if tps else 0
    except Exception as exc:  # noqa: BLE001
        log.warning("could not read the end offsets of %s (%s)", topic, type(exc).__name__)
        return None
    finally:
        consumer.close()


def read_topic(kafka: KafkaSettings, topic: str, keep: Callable[[bytes | None], bool] | None = None,
               timeout_s: float = 600.0, client_id: str = "casavi-bridge-read",
               between: tuple[int, int] | None = None) -> Iterator[Any]:
    """The records of ``topic`` (those whose key ``keep`` accepts), from its beginning to the end
    it has now, or ``between`` two offsets of partition 0, inclusive (a compacted topic may hold
    fewer); nothing is consumed or committed. ``TimeoutError`` after ``timeout_s``."""
    consumer = KafkaConsumer(bootstrap_servers=kafka.bootstrap_servers.split(","), client_id=client_id,
                             enable_auto_commit=False, group_id=None, max_partition_fetch_bytes=16 * 2**20)
    try:
        if between is None:
            tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
            if not tps:
                return
            consumer.assign(tps)
            consumer.seek_to_beginning(*tps)
            ends = consumer.end_offsets(tps)
        else:
            tps = [TopicPartition(topic, 0)]
            consumer.assign(tps)
            consumer.seek(tps[0], between[0])
            ends = {tps[0]: between[1] + 1}
        deadline = time.monotonic() + timeout_s
        while any(consumer.position(tp) < ends[tp] for tp in tps):
            if time.monotonic() > deadline:
                raise TimeoutError(f"reading {topic} took longer than {timeout_s:.0f} s")
            for records in consumer.poll(timeout_ms=500, max_records=10_000).values():
                for r in records:
                    if r.offset < ends[TopicPartition(r.topic, r.partition)] and (keep is None or keep(r.key)):
                        yield r
    finally:
        consumer.close()
