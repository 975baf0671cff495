"""Figures read from Kafka itself: how many records a topic holds (its end offsets)."""

from __future__ import annotations

import logging

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
