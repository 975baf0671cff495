"""Reading the DLQ topic from its beginning to its end (nothing is consumed or committed)."""

from __future__ import annotations

import time

from kafka import KafkaConsumer, TopicPartition

from streams.commands.model import DeadLetter
from streams.dlq.report import Unreadable, parse_record
from streams.settings import KafkaSettings


def read_dlq(kafka: KafkaSettings, timeout_s: float = 300.0) -> tuple[list[DeadLetter], list[Unreadable]]:
    """Every record of ``kafka.dlq_topic`` as it holds them now."""
    topic = kafka.dlq_topic
    consumer = KafkaConsumer(bootstrap_servers=kafka.bootstrap_servers.split(","), client_id="casavi-bridge-dlq",
                             enable_auto_commit=False, group_id=None)
    letters: list[DeadLetter] = []
    unreadable: list[Unreadable] = []
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        if not tps:
            return letters, unreadable
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        ends = consumer.end_offsets(tps)
        deadline = time.monotonic() + timeout_s
        while any(consumer.position(tp) < ends[tp] for tp in tps):
            if time.monotonic() > deadline:
                raise TimeoutError(f"reading {topic} took longer than {timeout_s:.0f} s")
            for records in consumer.poll(timeout_ms=500, max_records=10_000).values():
                for r in records:
                    parsed = parse_record(r.partition, r.offset, r.value, r.timestamp)
                    if isinstance(parsed, DeadLetter):
                        letters.append(parsed)
                    else:
                        unreadable.append(parsed)
    finally:
        consumer.close()
    return letters, unreadable
