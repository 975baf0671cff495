"""The Kafka broker: one KRaft node acting as broker and controller on 127.0.0.1."""

from __future__ import annotations

import base64
import logging
import subprocess
import uuid
from pathlib import Path

from streams.settings import StackSettings
from streams.stack import processes
from streams.stack.errors import StackError
from streams.stack.jvm import java_command, write_properties
from streams.stack.paths import StackPaths
from streams.worker.topics import MAX_RECORD_BYTES

log = logging.getLogger(__name__)

SERVICE = "kafka"
NODE_ID = 1


def bootstrap_servers(stack: StackSettings) -> str:
    return f"{stack.host}:{stack.kafka_port}"


def server_properties(stack: StackSettings, paths: StackPaths) -> dict[str, str]:
    return {
        "process.roles": "broker,controller",
        "node.id": str(NODE_ID),
        "controller.quorum.voters": f"{NODE_ID}@{stack.host}:{stack.kafka_controller_port}",
        "listeners": f"PLAINTEXT://{stack.host}:{stack.kafka_port},CONTROLLER://{stack.host}:{stack.kafka_controller_port}",
        "advertised.listeners": f"PLAINTEXT://{stack.host}:{stack.kafka_port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": str(paths.kafka_data),
        "num.partitions": "1",
        "default.replication.factor": "1",
        "auto.create.topics.enable": "true",
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "transaction.state.log.num.partitions": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
        "log.retention.hours": "168",
        "message.max.bytes": str(MAX_RECORD_BYTES),
        "replica.fetch.max.bytes": str(MAX_RECORD_BYTES),
        "log.segment.bytes": str(64 * 1024 * 1024),
    }


def _config_file(paths: StackPaths) -> Path:
    return paths.config_dir / "kafka-server.properties"


def _format_storage(java: Path, stack: StackSettings, paths: StackPaths) -> None:
    """``kafka-storage format`` (kafka.tools.StorageTool) on first start only."""
    if (paths.kafka_data / "meta.properties").exists():
        return
    paths.kafka_data.mkdir(parents=True, exist_ok=True)
    cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    cmd = java_command(
        java, paths, "kafka-storage", "kafka.tools.StorageTool",
        "format", "--cluster-id", cluster_id, "--config", str(_config_file(paths)), "--ignore-formatted",
    )
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    with paths.log_file(SERVICE).open("a") as f:
        f.write(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        raise StackError(f"kafka: formatting the KRaft storage failed:\n{(proc.stdout + proc.stderr)[-3000:]}")


def start(java: Path, stack: StackSettings, paths: StackPaths) -> processes.PidRecord:
    write_properties(_config_file(paths), server_properties(stack, paths))
    paths.log_dir.mkdir(parents=True, exist_ok=True)
    _format_storage(java, stack, paths)
    cmd = java_command(java, paths, SERVICE, "kafka.Kafka", str(_config_file(paths)))
    return processes.start(SERVICE, cmd, pid_file=paths.pid_file(SERVICE), log_file=paths.log_file(SERVICE))


def probe(stack: StackSettings, timeout_s: float = 3.0) -> bool:
    """A real metadata round trip: the broker answers and has a controller."""
    from kafka import KafkaAdminClient

    try:
        admin = KafkaAdminClient(
            bootstrap_servers=bootstrap_servers(stack), client_id="bridge-stack-probe",
            request_timeout_ms=int(timeout_s * 1000), bootstrap_timeout_ms=int(timeout_s * 1000),
        )
    except Exception:  # noqa: BLE001 - any failure means "not ready yet"
        return False
    try:
        cluster = admin.describe_cluster()
        return bool(cluster.get("brokers")) and cluster.get("controller_id", -1) != -1
    except Exception:  # noqa: BLE001
        return False
    finally:
        admin.close()
