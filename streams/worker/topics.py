"""Topic names and their creation: the worker creates what it reads and writes, so a
fresh cluster works and partition counts are what ordering needs."""

from __future__ import annotations

import logging

from kafka import KafkaConsumer
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError

from streams.mapping.topics import source_topics
from streams.settings import KafkaSettings, SourceSettings

log = logging.getLogger(__name__)


def cdc_topics(kafka: KafkaSettings, source: SourceSettings | None = None) -> dict[str, str]:
    """``{topic: reference table}`` of every captured table: ``<prefix>.<schema>.<table>``,
    with the database (``BRIDGE_SOURCE__DATABASE``) after the prefix for SQL Server; schema
    and table as the ERP mapping names them (``streams.mapping.topics``)."""
    return {topic: t.target.name for topic, t in source_topics(kafka.cdc_topic_prefix, source or SourceSettings()).items()}


def ensure_topics(kafka: KafkaSettings, replication_factor: int = 1, source: SourceSettings | None = None) -> None:
    """Create the CDC, command, DLQ and tick topics when missing (one partition each:
    commands keep casavi's referential order across entities, R20)."""
    names = [*cdc_topics(kafka, source), kafka.commands_topic, kafka.dlq_topic, kafka.ticks_topic, kafka.receipts_topic]
    admin = KafkaAdminClient(bootstrap_servers=kafka.bootstrap_servers.split(","), client_id="casavi-bridge-admin")
    try:
        existing = set(admin.list_topics())
        missing = [n for n in names if n not in existing]
        if not missing:
            return
        try:
            admin.create_topics(
                [NewTopic(name=n, num_partitions=1, replication_factor=replication_factor) for n in missing]
            )
            log.info("created topics: %s", ", ".join(missing))
        except TopicAlreadyExistsError:
            pass
    finally:
        admin.close()


class TopicLayoutError(RuntimeError):
    """A topic the worker reads or writes has more than one partition."""


def check_single_partition(kafka: KafkaSettings, source: SourceSettings | None = None) -> None:
    """The worker's tables and the commands' referential order rely on one partition per
    CDC topic and on the commands topic (docs/design.md); refuse to start otherwise,
    before any event is read."""
    names = [*cdc_topics(kafka, source), kafka.commands_topic, kafka.ticks_topic]
    consumer = KafkaConsumer(bootstrap_servers=kafka.bootstrap_servers.split(","), client_id="casavi-bridge-check")
    try:
        wrong = {n: len(p) for n in names if (p := consumer.partitions_for_topic(n)) and len(p) != 1}
    finally:
        consumer.close()
    if wrong:
        listed = ", ".join(f"{n} ({count} partitions)" for n, count in sorted(wrong.items()))
        raise TopicLayoutError(
            f"the worker needs exactly one partition per topic, but found: {listed}. "
            "Create these topics with one partition (Debezium: topic.creation.default.partitions=1)."
        )
