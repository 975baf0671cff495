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


DAY_MS = 24 * 3600 * 1000
# The largest record the bridge's topics take (Kafka's default is 1 MiB): a CDC event carries
# a row twice (before and after) with its schema, so an ERP row with a large text or document
# needs room; Debezium's producer, the Connect worker and the broker are configured to match.
MAX_RECORD_BYTES = 16 * 1024 * 1024

# How long each kind of topic keeps its records. Nothing the bridge needs to replay or heal
# may expire: the CDC topics keep the latest change per row (key = primary key; a delete's
# tombstone is dropped after delete.retention.ms), the commands topic the latest command per
# casavi slot, receipts the latest outcome per slot. Dead letters and control records are
# history: kept long enough for an operator to look back after a holiday.
COMPACTED: dict[str, str] = {"cleanup.policy": "compact", "delete.retention.ms": str(7 * DAY_MS),
                             "min.compaction.lag.ms": str(DAY_MS), "max.message.bytes": str(MAX_RECORD_BYTES)}
TOPIC_CONFIGS: dict[str, dict[str, str]] = {
    "cdc": COMPACTED,
    "commands": COMPACTED,
    "receipts": COMPACTED,
    "content": COMPACTED,
    "inbound": COMPACTED,
    "dlq": {"cleanup.policy": "delete", "retention.ms": str(90 * DAY_MS)},
    "control": {"cleanup.policy": "delete", "retention.ms": str(30 * DAY_MS)},
}


def bridge_topics(kafka: KafkaSettings, source: SourceSettings | None = None) -> dict[str, dict[str, str]]:
    """``{topic: configs}`` of every topic the bridge reads or writes (not Faust's changelogs)."""
    topics = {name: TOPIC_CONFIGS["cdc"] for name in cdc_topics(kafka, source)}
    topics.update({kafka.commands_topic: TOPIC_CONFIGS["commands"], kafka.receipts_topic: TOPIC_CONFIGS["receipts"],
                   kafka.content_topic: TOPIC_CONFIGS["content"], kafka.inbound_topic: TOPIC_CONFIGS["inbound"],
                   kafka.dlq_topic: TOPIC_CONFIGS["dlq"], kafka.ticks_topic: TOPIC_CONFIGS["control"]})
    return topics


def ensure_topics(kafka: KafkaSettings, replication_factor: int = 1, source: SourceSettings | None = None) -> None:
    """Create the CDC, command, receipt, DLQ and control topics when missing, with the
    retention of ``TOPIC_CONFIGS`` (one partition each: commands keep casavi's referential
    order across entities, R20). Existing topics keep their configs (a production cluster's
    administrators own them); ``bridge stack status`` and the README say what they should be."""
    wanted = bridge_topics(kafka, source)
    admin = KafkaAdminClient(bootstrap_servers=kafka.bootstrap_servers.split(","), client_id="casavi-bridge-admin")
    try:
        existing = set(admin.list_topics())
        missing = [n for n in wanted if n not in existing]
        if not missing:
            return
        try:
            admin.create_topics([NewTopic(name=n, num_partitions=1, replication_factor=replication_factor,
                                          topic_configs=wanted[n]) for n in missing])
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
