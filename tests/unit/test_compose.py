"""docker-compose.yml runs the same versions and connector settings as connect/ and the local stack."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from streams.stack import versions

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    return data


@pytest.fixture(scope="module")
def connector() -> dict[str, Any]:
    spec: dict[str, Any] = json.loads((REPO / "connect" / "sqlserver-connector.json").read_text())
    return spec


def _env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    assert isinstance(env, dict)
    return {str(k): str(v) for k, v in env.items()}


def test_images_match_pinned_versions(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert services["kafka"]["image"] == f"apache/kafka:{versions.KAFKA_VERSION}"
    assert services["connect"]["image"] == f"quay.io/debezium/connect:{versions.DEBEZIUM_VERSION}"
    assert services["sqlserver"]["image"] == "mcr.microsoft.com/mssql/server:2022-latest"
    pom = (REPO / "connect" / "pom.xml").read_text()
    assert f"<version.kafka>{versions.KAFKA_VERSION}</version.kafka>" in pom
    assert f"<version.debezium>{versions.DEBEZIUM_VERSION}</version.debezium>" in pom


def test_sqlserver_has_agent_and_init_job(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert _env(services["sqlserver"])["MSSQL_AGENT_ENABLED"] == "true"
    init = services["sqlserver-init"]
    assert "./connect/sqlserver:/sql:ro" in init["volumes"]
    script = " ".join(init["command"])
    assert script.index("/sql/erp_schema.sql") < script.index("/sql/enable_cdc.sql")
    assert "CONNECTOR_PASSWORD" in script


def test_registered_connector_is_the_sqlserver_config(compose: dict[str, Any], connector: dict[str, Any]) -> None:
    register = compose["services"]["connect-register"]
    assert "./connect/sqlserver-connector.json:/connector.json:ro" in register["volumes"]
    assert "/connectors/%s/config" in "\n".join(register["command"]) and 'method="PUT"' in "\n".join(
        register["command"]
    )
    assert register["depends_on"]["sqlserver-init"]["condition"] == "service_completed_successfully"


def test_connect_worker_agrees_with_connector(compose: dict[str, Any], connector: dict[str, Any]) -> None:
    env = _env(compose["services"]["connect"])
    config = connector["config"]
    assert env["KEY_CONVERTER"] == config["key.converter"]
    assert env["VALUE_CONVERTER"] == config["value.converter"]
    assert env["CONNECT_KEY_CONVERTER_SCHEMAS_ENABLE"] == config["key.converter.schemas.enable"]
    assert env["CONNECT_VALUE_CONVERTER_SCHEMAS_ENABLE"] == config["value.converter.schemas.enable"]
    assert env["CONNECT_CONFIG_PROVIDERS"] == "env"
    # every ${env:NAME} of the connector config is set in the Connect container
    for value in config.values():
        if value.startswith("${env:"):
            assert value[len("${env:"):-1] in env, value
    assert env["ERP_KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"


def test_bridge_reads_the_sqlserver_topics(compose: dict[str, Any], connector: dict[str, Any]) -> None:
    """The worker's settings, read from the compose environment, name exactly the topics the
    registered connector writes: <topic.prefix>.<database.names>.<schema>.<table>."""
    from streams.mapping.topics import topics_by_source_table
    from streams.settings import BridgeSettings

    config = connector["config"]
    worker = _env(compose["services"]["worker"])
    assert worker["BRIDGE_KAFKA__BOOTSTRAP_SERVERS"] == "kafka:9092"
    settings = BridgeSettings.model_validate(_nested(worker))
    topics = topics_by_source_table(settings.kafka.cdc_topic_prefix, settings.source)
    tables = [t.replace("\\.", ".") for t in config["table.include.list"].split(",")]
    assert sorted(topics.values()) == sorted(f"{config['topic.prefix']}.{config['database.names']}.{t}"
                                             for t in tables)


def _nested(env: dict[str, str]) -> dict[str, Any]:
    """``BRIDGE_A__B=v`` → ``{"a": {"b": v}}`` (how the settings read their environment)."""
    out: dict[str, Any] = {}
    for key, value in env.items():
        if key.startswith("BRIDGE_"):
            *parents, leaf = key.removeprefix("BRIDGE_").lower().split("__")
            node = out
            for part in parents:
                node = node.setdefault(part, {})
            node[leaf] = value
    return out


def test_kafka_is_single_node_kraft(compose: dict[str, Any]) -> None:
    env = _env(compose["services"]["kafka"])
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "true"
    assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "1"


def test_kafka_ui_wired_to_kafka_and_connect(compose: dict[str, Any]) -> None:
    env = _env(compose["services"]["kafka-ui"])
    assert env["KAFKA_CLUSTERS_0_BOOTSTRAPSERVERS"] == "kafka:9092"
    assert env["KAFKA_CLUSTERS_0_KAFKACONNECT_0_ADDRESS"] == "http://connect:8083"


def test_bridge_services_use_the_image(compose: dict[str, Any]) -> None:
    services = compose["services"]
    commands = {name: services[name]["command"][:2] for name in ("worker", "sink", "sim")}
    assert commands == {"worker": ["bridge", "worker"], "sink": ["bridge", "sink"], "sim": ["bridge", "sim"]}
    assert services["sim"]["command"][2:4] == ["--host", "0.0.0.0"]
    for name in ("worker", "sink", "sim"):
        assert services[name]["build"]["dockerfile"] == "Dockerfile"
    assert (REPO / "Dockerfile").exists()


def test_large_records_fit_everywhere(compose: dict[str, Any]) -> None:
    """A CDC event of a row with large content (up to MAX_RECORD_BYTES) passes the broker and
    Debezium's producer in compose as on the local stack; a connector never dies of it."""
    from streams.stack.connect import worker_properties
    from streams.stack.kafka import server_properties
    from streams.stack.paths import StackPaths
    from streams.settings import StackSettings
    from streams.worker.topics import MAX_RECORD_BYTES, TOPIC_CONFIGS

    size = str(MAX_RECORD_BYTES)
    assert _env(compose["services"]["kafka"])["KAFKA_MESSAGE_MAX_BYTES"] == size
    assert _env(compose["services"]["connect"])["CONNECT_PRODUCER_MAX_REQUEST_SIZE"] == size
    paths = StackPaths(cache_dir=Path("/tmp/c"), state_dir=Path("/tmp/s"))
    assert server_properties(StackSettings(), paths)["message.max.bytes"] == size
    assert worker_properties(StackSettings(), paths)["producer.max.request.size"] == size
    assert TOPIC_CONFIGS["cdc"]["max.message.bytes"] == size


def test_worker_and_sink_are_healthy_when_ready_and_serve_their_metrics(compose: dict[str, Any]) -> None:
    from streams.settings import OpsSettings

    services = compose["services"]
    ops = OpsSettings()
    for name, port in (("worker", ops.worker_port), ("sink", ops.sink_port)):
        service = services[name]
        assert _env(service)["BRIDGE_OPS__HOST"] == "0.0.0.0"  # Prometheus scrapes from another container
        assert f"http://localhost:{port}/readyz" in " ".join(service["healthcheck"]["test"])
        assert f"{port}:{port}" in service["ports"]


def _registry_url(compose: dict[str, Any]) -> str:
    registry = compose["services"]["schema-registry"]
    port = _env(registry)["SCHEMA_REGISTRY_LISTENERS"].rsplit(":", 1)[1]
    return f"http://schema-registry:{port}"


def test_schema_registry_stores_in_kafka_and_answers_where_the_others_look(compose: dict[str, Any]) -> None:
    registry = compose["services"]["schema-registry"]
    env = _env(registry)
    assert registry["image"].startswith("confluentinc/cp-schema-registry:")
    assert env["SCHEMA_REGISTRY_KAFKASTORE_BOOTSTRAP_SERVERS"] == "PLAINTEXT://kafka:9092"
    assert env["SCHEMA_REGISTRY_HOST_NAME"] == "schema-registry"
    assert registry["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert "/subjects" in " ".join(registry["healthcheck"]["test"])
    assert _env(compose["services"]["kafka-ui"])["KAFKA_CLUSTERS_0_SCHEMAREGISTRY"] == _registry_url(compose)


def test_bridge_writes_commands_in_the_registry_format(compose: dict[str, Any]) -> None:
    """Worker and sink read the registry's address from the compose environment and wait for it."""
    from streams.settings import BridgeSettings

    for name in ("worker", "sink"):
        service = compose["services"][name]
        settings = BridgeSettings.model_validate(_nested(_env(service)))
        assert settings.kafka.schema_registry_url == _registry_url(compose)
        assert service["depends_on"]["schema-registry"]["condition"] == "service_healthy"


def _serdes(env: dict[str, str]) -> dict[str, str]:
    """Kafka UI's serdes: name -> the pattern of topics whose values it shows."""
    serdes = {}
    for i in range(10):
        name = env.get(f"KAFKA_CLUSTERS_0_SERDE_{i}_NAME")
        if name is not None:
            serdes[name] = env[f"KAFKA_CLUSTERS_0_SERDE_{i}_TOPICVALUESPATTERN"]
    return serdes


def test_kafka_ui_decodes_commands_and_shows_the_dlq_as_json(compose: dict[str, Any]) -> None:
    """Kafka UI picks the first serde whose pattern matches a topic: the registry's for the commands
    topic (Avro in the wire format), text for the DLQ, receipts and control records (JSON)."""
    import re

    from streams.settings import KafkaSettings

    env = _env(compose["services"]["kafka-ui"])
    kafka = KafkaSettings()
    serdes = _serdes(env)
    first = {topic: next((name for name, pattern in serdes.items() if re.fullmatch(pattern, topic)),
                         env["KAFKA_CLUSTERS_0_DEFAULTVALUESERDE"])
             for topic in (kafka.commands_topic, kafka.dlq_topic, kafka.receipts_topic, kafka.ticks_topic)}
    assert first == {kafka.commands_topic: "SchemaRegistry", kafka.dlq_topic: "String",
                     kafka.receipts_topic: "String", kafka.ticks_topic: "String"}
    assert env["KAFKA_CLUSTERS_0_DEFAULTKEYSERDE"] == "String"
    assert compose["services"]["kafka-ui"]["depends_on"]["schema-registry"]["condition"] == "service_healthy"
    # the Debezium connector is listed from Kafka Connect's REST API
    assert env["KAFKA_CLUSTERS_0_KAFKACONNECT_0_ADDRESS"] == "http://connect:8083"


def test_compose_project_name_for_compose_v1_and_v2(compose: dict[str, Any]) -> None:
    """Debian's docker-compose (v1) refuses a top-level ``name``: the project name is in .env."""
    assert "name" not in compose
    assert "COMPOSE_PROJECT_NAME=casavi-bridge" in (REPO / ".env").read_text().splitlines()
