"""The worker refuses to start on CDC topics with more than one partition."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from kafka.admin import KafkaAdminClient, NewTopic

from streams.settings import KafkaSettings
from streams.worker.topics import TopicLayoutError, check_single_partition, ensure_topics


def test_topics_with_several_partitions_are_refused_with_a_clear_error(stack: dict[str, Any]) -> None:
    prefix = f"layout{uuid.uuid4().hex[:8]}"
    kafka = KafkaSettings(bootstrap_servers=stack["kafka_bootstrap_servers"], cdc_topic_prefix=prefix,
                          commands_topic=f"{prefix}.commands", dlq_topic=f"{prefix}.dlq",
                          ticks_topic=f"{prefix}.ticks")
    admin = KafkaAdminClient(bootstrap_servers=stack["kafka_bootstrap_servers"])
    try:
        admin.create_topics([NewTopic(name=f"{prefix}.erp.person", num_partitions=3, replication_factor=1)])
    finally:
        admin.close()
    ensure_topics(kafka)  # creates the others with one partition
    with pytest.raises(TopicLayoutError, match=rf"{prefix}\.erp\.person \(3 partitions\)"):
        check_single_partition(kafka)


def test_single_partition_topics_pass(stack: dict[str, Any]) -> None:
    prefix = f"layout{uuid.uuid4().hex[:8]}"
    kafka = KafkaSettings(bootstrap_servers=stack["kafka_bootstrap_servers"], cdc_topic_prefix=prefix,
                          commands_topic=f"{prefix}.commands", dlq_topic=f"{prefix}.dlq",
                          ticks_topic=f"{prefix}.ticks")
    ensure_topics(kafka)
    check_single_partition(kafka)
