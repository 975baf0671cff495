"""Topic names and their creation: the worker creates what it reads and writes, so a
fresh cluster works and partition counts are what ordering needs."""

from __future__ import annotations

import logging

from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError

from streams.erp.schema import ERP_SCHEMA, TABLES
from streams.settings import KafkaSettings

log = logging.getLogger(__name__)


def cdc_topic(kafka: KafkaSettings, table: str) -> str:
    """Debezium's topic for a table: ``<topic.prefix>.erp.<table>`` (PostgreSQL connector).

    The SQL Server connector adds the database name (``<prefix>.<db>.erp.<table>``); set
    ``BRIDGE_KAFKA__CDC_TOPIC_PREFIX`` to ``<prefix>.<db>`` there.
    """
    return f"{kafka.cdc_topic_prefix}.{ERP_SCHEMA}.{table}"


def cdc_topics(kafka: KafkaSettings) -> dict[str, str]:
    return {table: cdc_topic(kafka, table) for table in TABLES}


def ensure_topics(kafka: KafkaSettings, replication_factor: int = 1) -> None:
    """Create the CDC, command, DLQ and tick topics when missing (one partition each:
    commands keep casavi's referential order across entities, R20)."""
    names = [*cdc_topics(kafka).values(), kafka.commands_topic, kafka.dlq_topic, kafka.ticks_topic]
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
