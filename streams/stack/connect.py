"""The Kafka Connect distributed worker with the Debezium plugins, and connector registration."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from streams.settings import BridgeSettings, StackSettings
from streams.stack import processes
from streams.stack.errors import StackError
from streams.stack.jvm import java_command, write_properties
from streams.stack.kafka import bootstrap_servers
from streams.stack.paths import StackPaths
from streams.stack.waiting import wait_for
from streams.worker.topics import MAX_RECORD_BYTES

log = logging.getLogger(__name__)

SERVICE = "connect"
GROUP_ID = "casavi-bridge-connect"
# The worker resolves ${env:...} in connector configs from its environment: the password is
# handed to the worker process and never stored in the connector config topic.
PASSWORD_ENV = "BRIDGE_STACK__POSTGRES_PASSWORD"


def url(stack: StackSettings) -> str:
    return f"http://{stack.host}:{stack.connect_port}"


def worker_properties(stack: StackSettings, paths: StackPaths) -> dict[str, str]:
    return {
        "bootstrap.servers": bootstrap_servers(stack),
        "group.id": GROUP_ID,
        "config.storage.topic": f"{GROUP_ID}-configs",
        "offset.storage.topic": f"{GROUP_ID}-offsets",
        "status.storage.topic": f"{GROUP_ID}-status",
        "config.storage.replication.factor": "1",
        "offset.storage.replication.factor": "1",
        "status.storage.replication.factor": "1",
        "offset.storage.partitions": "1",
        "status.storage.partitions": "1",
        "key.converter": "org.apache.kafka.connect.json.JsonConverter",
        "value.converter": "org.apache.kafka.connect.json.JsonConverter",
        "key.converter.schemas.enable": "true",
        "value.converter.schemas.enable": "true",
        "offset.flush.interval.ms": "1000",
        "plugin.path": str(paths.plugin_path),
        "listeners": url(stack),
        "rest.advertised.host.name": stack.host,
        "rest.advertised.port": str(stack.connect_port),
        "topic.creation.enable": "true",
        "producer.max.request.size": str(MAX_RECORD_BYTES),  # Debezium's records of large rows
        "consumer.max.partition.fetch.bytes": str(MAX_RECORD_BYTES),
        "config.providers": "env",
        "config.providers.env.class": "org.apache.kafka.common.config.provider.EnvVarConfigProvider",
    }


def _config_file(paths: StackPaths) -> Path:
    return paths.config_dir / "connect-distributed.properties"


def start(java: Path, stack: StackSettings, paths: StackPaths) -> processes.PidRecord:
    write_properties(_config_file(paths), worker_properties(stack, paths))
    cmd = java_command(java, paths, SERVICE, "org.apache.kafka.connect.cli.ConnectDistributed", str(_config_file(paths)))
    env = dict(os.environ)
    env[PASSWORD_ENV] = stack.postgres_password.get_secret_value()
    return processes.start(SERVICE, cmd, pid_file=paths.pid_file(SERVICE), log_file=paths.log_file(SERVICE), env=env)


def _get(stack: StackSettings, path: str, timeout_s: float = 3.0) -> Any:
    response = httpx.get(url(stack) + path, timeout=timeout_s)
    response.raise_for_status()
    return response.json()


def probe(stack: StackSettings) -> list[str] | None:
    """The registered connector names once the REST API answers, else None."""
    try:
        names = _get(stack, "/connectors")
    except (httpx.HTTPError, ValueError):
        return None
    return [str(n) for n in names] if isinstance(names, list) else None


def plugins(stack: StackSettings) -> list[str]:
    return [str(p["class"]) for p in _get(stack, "/connector-plugins?connectorsOnly=true")]


def connector_states(stack: StackSettings) -> dict[str, dict[str, Any]]:
    """{name: {"state": ..., "tasks": [states]}} of every registered connector (empty if unreachable)."""
    try:
        expanded = _get(stack, "/connectors?expand=status")
    except (httpx.HTTPError, ValueError):
        return {}
    result: dict[str, dict[str, Any]] = {}
    for name, info in sorted(expanded.items()):
        status = info.get("status", {})
        result[name] = {
            "state": status.get("connector", {}).get("state", "UNKNOWN"),
            "tasks": [t.get("state", "UNKNOWN") for t in status.get("tasks", [])],
        }
    return result


def postgres_connector(settings: BridgeSettings) -> tuple[str, dict[str, str]]:
    """Name and config of the PostgreSQL connector: connect/postgres-connector.json capturing the
    tables of the ERP mapping (``BRIDGE_SOURCE__MAPPING``), with this stack's endpoints."""
    from streams.mapping.connector import connector_config
    from streams.mapping.topics import mapping_of

    name, config = connector_config("postgresql", settings, mapping_of(settings.source))
    stack = settings.stack
    config.update(
        {
            "database.hostname": stack.host,
            "database.port": str(stack.postgres_port),
            "database.user": stack.postgres_user,
            "database.password": f"${{env:{PASSWORD_ENV}}}",
            "database.dbname": stack.postgres_db,
        }
    )
    return name, config


def register(stack: StackSettings, name: str, config: dict[str, str]) -> bool:
    """Create or update the connector (PUT is idempotent). Returns True if the config changed."""
    try:
        current = _get(stack, f"/connectors/{name}/config")
    except httpx.HTTPStatusError:
        current = None
    if isinstance(current, dict) and {k: v for k, v in current.items() if k != "name"} == config:
        return False
    response = httpx.put(f"{url(stack)}/connectors/{name}/config", json=config, timeout=60.0)
    if response.status_code >= 400:
        raise StackError(f"connect: registering connector {name} failed ({response.status_code}): {response.text[:2000]}")
    return True


def restart_failed(stack: StackSettings, name: str) -> None:
    """Restart the connector and those of its tasks that FAILED (Kafka Connect's REST API)."""
    response = httpx.post(f"{url(stack)}/connectors/{name}/restart", params={"includeTasks": "true",
                                                                          "onlyFailed": "true"}, timeout=60.0)
    if response.status_code >= 400:
        raise StackError(f"connect: restarting connector {name} failed ({response.status_code}): {response.text[:500]}")


def wait_running(
    stack: StackSettings, name: str, timeout_s: float, still_alive: Callable[[], str | None] | None = None,
    restarts: int = 2,
) -> None:
    """Wait until the connector and all its tasks are RUNNING. A FAILED one (e.g. its database
    was down when the task started) is restarted up to ``restarts`` times; then it fails with
    its trace."""
    left = [restarts]

    def check() -> bool | None:
        try:
            status = _get(stack, f"/connectors/{name}/status")
        except (httpx.HTTPError, ValueError):
            return None
        states = [status.get("connector", {})] + list(status.get("tasks", []))
        for part in states:
            if part.get("state") == "FAILED":
                if left[0] > 0:
                    left[0] -= 1
                    log.warning("connect: connector %s FAILED; restarting it (%d restarts left)", name, left[0])
                    restart_failed(stack, name)
                    return None
                trace = str(part.get("trace", ""))[:3000]
                raise StackError(f"connect: connector {name} FAILED:\n{trace}")
        tasks = status.get("tasks", [])
        if status.get("connector", {}).get("state") == "RUNNING" and tasks and all(
            t.get("state") == "RUNNING" for t in tasks
        ):
            return True
        return None

    wait_for(f"connector {name} and its task to be RUNNING", check, timeout_s, still_alive=still_alive)
