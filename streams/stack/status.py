"""What runs, and where: the ``bridge stack status`` report (human table or stable JSON)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from streams.mapping.topics import topics_by_source_table
from streams.settings import BridgeSettings
from streams.stack import connect, kafka, postgres, processes
from streams.stack.paths import SERVICES, StackPaths
from streams.stack.versions import DEBEZIUM_VERSION, KAFKA_VERSION, SCALA_VERSION

PASSWORD_ENV = "BRIDGE_STACK__POSTGRES_PASSWORD"


def cdc_topics(settings: BridgeSettings) -> dict[str, str]:
    """``{source table: CDC topic}`` of every captured table (the reference table names unless
    ``BRIDGE_SOURCE__MAPPING`` names an ERP's own)."""
    return topics_by_source_table(settings.kafka.cdc_topic_prefix, settings.source)


def _service_state(alive: bool, ready: bool) -> str:
    if not alive:
        return "stopped"
    return "running" if ready else "starting"


BRIDGE_STATUS_FILES = {"worker": "worker-status.json", "sink": "sink-status.json"}


def _pid_alive(pid: object) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def bridge_processes(state_dir: Path) -> dict[str, dict[str, Any] | None]:
    """The last status the worker and the sink wrote (counters, pid, times), with ``running``;
    None for a process that never ran with this state directory."""
    result: dict[str, dict[str, Any] | None] = {}
    for name, file in BRIDGE_STATUS_FILES.items():
        try:
            data: dict[str, Any] = json.loads((state_dir / file).read_text())
        except (OSError, ValueError):
            result[name] = None
            continue
        result[name] = {"running": _pid_alive(data.get("pid")), **data}
    return result


def collect(settings: BridgeSettings) -> dict[str, Any]:
    """The status report. Keys and their meaning are part of the interface (docs/stack.md)."""
    stack = settings.stack
    paths = StackPaths.of(stack)
    records = {s: processes.running(paths.pid_file(s)) for s in SERVICES}

    kafka_alive = records["kafka"] is not None
    connect_alive = records["connect"] is not None
    pg_alive = records["postgres"] is not None
    connectors = connect.connector_states(stack) if connect_alive else {}
    services: dict[str, dict[str, Any]] = {
        "kafka": {
            "state": _service_state(kafka_alive, kafka_alive and kafka.probe(stack)),
            "pid": records["kafka"].pid if records["kafka"] else None,
            "bootstrap_servers": kafka.bootstrap_servers(stack),
        },
        "connect": {
            "state": _service_state(connect_alive, connect_alive and connect.probe(stack) is not None),
            "pid": records["connect"].pid if records["connect"] else None,
            "url": connect.url(stack),
            "connectors": connectors,
        },
        "postgres": {
            "state": _service_state(pg_alive, pg_alive and postgres.probe(stack)),
            "pid": records["postgres"].pid if records["postgres"] else None,
            "dsn": postgres.dsn_without_password(stack),
        },
    }
    states = {s["state"] for s in services.values()}
    overall = "up" if states == {"running"} else "down" if states == {"stopped"} else "partial"
    bin_dir = postgres.find_bin_dir()
    return {
        "state": overall,
        "services": services,
        "kafka_bootstrap_servers": kafka.bootstrap_servers(stack),
        "connect_url": connect.url(stack),
        "postgres_dsn": postgres.dsn_without_password(stack),
        "postgres_password_env": PASSWORD_ENV,
        "cdc_topics": cdc_topics(settings),
        "versions": {
            "kafka": KAFKA_VERSION,
            "scala": SCALA_VERSION,
            "debezium": DEBEZIUM_VERSION,
            "postgres": postgres.version(bin_dir) if bin_dir else None,
        },
        "state_dir": str(paths.state_dir),
        "log_dir": str(paths.log_dir),
        "cache_dir": str(paths.cache_dir),
        "bridge": bridge_processes(paths.state_dir),
    }


def render(report: dict[str, Any]) -> str:
    """The human-readable table."""
    rows = [("SERVICE", "STATE", "PID", "ENDPOINT")]
    services = report["services"]
    endpoints = {
        "kafka": services["kafka"]["bootstrap_servers"],
        "connect": services["connect"]["url"],
        "postgres": services["postgres"]["dsn"],
    }
    for name, info in services.items():
        rows.append((name, info["state"], str(info["pid"] or "-"), endpoints[name]))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows]
    for name, info in services["connect"]["connectors"].items():
        tasks = ",".join(info["tasks"]) or "no tasks"
        lines.append(f"connector {name}: {info['state']} (tasks: {tasks})")
    lines.append(f"stack: {report['state']}   (password of {report['postgres_dsn']}: ${report['postgres_password_env']})")
    topics = list(report["cdc_topics"].values())
    lines.append(f"CDC topics: {len(topics)} ({topics[0]} ... {topics[-1]})")
    versions = report["versions"]
    lines.append(
        f"versions: Kafka {versions['kafka']}, Debezium {versions['debezium']}, PostgreSQL {versions['postgres']}"
    )
    lines.append(f"state: {report['state_dir']}   logs: {report['log_dir']}")
    for name, info in report["bridge"].items():
        if info is None:
            continue
        state = "running" if info["running"] else "stopped"
        counters = ", ".join(f"{k} {info[k]}" for k in ("events", "commands", "applied", "dead_letters",
                                                          "dead_lettered", "lag") if k in info)
        lines.append(f"{name}: {state} (pid {info.get('pid')}) {counters}")
        if info.get("quality"):
            cases = ", ".join(f"{rule} {n}" for rule, n in info["quality"].items())
            lines.append(f"  data quality: {cases} (bridge report quality)")
    return "\n".join(lines)
