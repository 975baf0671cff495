"""Versions of the stack's parts. connect/pom.xml and docker-compose.yml pin the same ones (unit-tested)."""

from __future__ import annotations

KAFKA_VERSION = "4.3.1"
SCALA_VERSION = "2.13"
# 3.6.1.Final is the newest 3.6.x published for both the PostgreSQL and the SQL Server connector.
DEBEZIUM_VERSION = "3.6.1.Final"
LOG4J_VERSION = "2.25.4"

CONNECTOR_PLUGINS: tuple[str, ...] = ("debezium-connector-postgres", "debezium-connector-sqlserver")
