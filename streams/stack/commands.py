"""``bridge stack up|down|status|logs``: the entry points called by streams.cli."""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path

from streams.settings import BridgeSettings
from streams.stack import artifacts, connect, kafka, postgres, processes
from streams.stack import status as stack_status
from streams.stack.errors import StackError
from streams.stack.java import find_java
from streams.stack.paths import SERVICES, StackPaths
from streams.stack.ports import ensure_free
from streams.stack.waiting import wait_for

log = logging.getLogger(__name__)
# the probes' HTTP and Kafka clients are chatty at INFO
for _noisy in ("httpx", "httpcore"):
    logging.getLogger(_noisy).setLevel(logging.WARNING)
# a refused connection while waiting for the broker is expected, not an error
logging.getLogger("kafka").setLevel(logging.CRITICAL)

LOG_TAIL_LINES = 40
STOP_TIMEOUT_S = 30.0


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _died(paths: StackPaths, service: str) -> Callable[[], str | None]:
    """A check for wait_for: the message (with the log tail) once the service's process is gone."""

    def check() -> str | None:
        if processes.running(paths.pid_file(service)) is not None:
            return None
        log_file = paths.log_file(service)
        return (
            f"{service} exited while starting. Last lines of {log_file}:\n"
            f"{processes.tail(log_file, LOG_TAIL_LINES)}"
        )

    return check


def _start_service(
    service: str, paths: StackPaths, ports: list[int], host: str, starter: Callable[[], processes.PidRecord]
) -> bool:
    """Start ``service`` unless our own process already runs. Returns True if it was started."""
    if processes.running(paths.pid_file(service)) is not None:
        return False
    for port in ports:
        ensure_free(service, host, port)
    record = starter()
    _say(f"started {service} (pid {record.pid}), log {paths.log_file(service)}")
    return True


def bring_up(settings: BridgeSettings, *, register_connector: bool = True) -> dict[str, bool]:
    """Start whatever is not running and wait until all of it is ready. Returns {service: started}."""
    stack = settings.stack
    paths = StackPaths.of(stack)
    timeout = stack.ready_timeout_s
    started: dict[str, bool] = {}
    with processes.file_lock(paths.state_lock):
        # every port of every service that is not running must be free before anything starts
        ports = {"postgres": [stack.postgres_port], "kafka": [stack.kafka_port, stack.kafka_controller_port],
                 "connect": [stack.connect_port]}
        for service, service_ports in ports.items():
            if processes.running(paths.pid_file(service)) is None:
                for port in service_ports:
                    ensure_free(service, stack.host, port)
        need_jvm = any(processes.running(paths.pid_file(s)) is None for s in ("kafka", "connect"))
        java = find_java() if need_jvm else None
        if need_jvm and artifacts.ensure_artifacts(paths):
            _say(f"jars resolved into {paths.cache_dir}")

        started["postgres"] = _start_service(
            "postgres", paths, [stack.postgres_port], stack.host, lambda: postgres.start(stack, paths)
        )
        if java is not None:
            jvm = java
            started["kafka"] = _start_service(
                "kafka", paths, [stack.kafka_port, stack.kafka_controller_port], stack.host,
                lambda: kafka.start(jvm, stack, paths),
            )
        else:
            started["kafka"] = False

        wait_for(
            f"PostgreSQL on {stack.host}:{stack.postgres_port}", lambda: True if postgres.probe(stack, paths) else None,
            timeout, still_alive=_died(paths, "postgres"),
        )
        postgres.bootstrap(stack, paths)
        wait_for(
            f"Kafka on {kafka.bootstrap_servers(stack)}", lambda: True if kafka.probe(stack) else None, timeout,
            still_alive=_died(paths, "kafka"),
        )
        if java is not None:
            jvm = java
            started["connect"] = _start_service(
                "connect", paths, [stack.connect_port], stack.host, lambda: connect.start(jvm, stack, paths)
            )
        else:
            started["connect"] = False
        wait_for(
            f"Kafka Connect REST API at {connect.url(stack)}", lambda: connect.probe(stack), timeout,
            still_alive=_died(paths, "connect"),
        )
        if register_connector:
            name, config = connect.postgres_connector(settings)
            if connect.register(stack, name, config):
                _say(f"registered connector {name}")
            connect.wait_running(stack, name, timeout, still_alive=_died(paths, "connect"))
    return started


def up(args: argparse.Namespace, settings: BridgeSettings) -> int:
    began = time.monotonic()
    try:
        started = bring_up(settings, register_connector=not getattr(args, "no_connector", False))
    except StackError as exc:
        _say(f"bridge stack up: {exc}")
        return 1
    report = stack_status.collect(settings)
    what = ", ".join(s for s, v in started.items() if v) or "nothing (already running)"
    _say(f"stack up in {time.monotonic() - began:.1f} s; started: {what}")
    print(stack_status.render(report))
    return 0


def bring_down(settings: BridgeSettings, *, purge: bool = False) -> list[str]:
    """Stop what ``up`` started (connect, kafka, postgres in that order). Returns the stopped services."""
    paths = StackPaths.of(settings.stack)
    stopped: list[str] = []
    with processes.file_lock(paths.state_lock):
        for service in ("connect", "kafka", "postgres"):
            sig = postgres.STOP_SIGNAL if service == "postgres" else None
            record = (
                processes.stop(paths.pid_file(service), sig=sig, timeout_s=STOP_TIMEOUT_S)
                if sig is not None
                else processes.stop(paths.pid_file(service), timeout_s=STOP_TIMEOUT_S)
            )
            if record is not None:
                stopped.append(service)
                _say(f"stopped {service} (pid {record.pid})")
        if purge:
            data_link = paths.postgres_data
            if data_link.is_symlink():
                shutil.rmtree(data_link.resolve(), ignore_errors=True)
            # the worker's local stores and the status files belong to this Kafka: a worker started
            # again on the purged stack must not find stores ahead of their (new, empty) changelogs
            for path in (paths.state_dir / "kafka", paths.postgres_root, paths.config_dir, paths.log_dir, paths.run_dir,
                         paths.worker_dir, paths.state_dir / "worker-status.json", paths.state_dir / "sink-status.json"):
                if path.is_symlink() or path.is_file():
                    path.unlink()
                else:
                    shutil.rmtree(path, ignore_errors=True)
            _say(f"purged data and logs under {paths.state_dir} (download cache {paths.cache_dir} kept)")
    return stopped


def down(args: argparse.Namespace, settings: BridgeSettings) -> int:
    stopped = bring_down(settings, purge=getattr(args, "purge", False))
    if not stopped:
        _say("nothing of this stack was running")
    return 0


def status(args: argparse.Namespace, settings: BridgeSettings) -> int:
    report = stack_status.collect(settings)
    if getattr(args, "json", False):
        print(json.dumps(report, indent=2, sort_keys=False))
    else:
        print(stack_status.render(report))
    return 0 if report["state"] == "up" else 3


def logs(args: argparse.Namespace, settings: BridgeSettings) -> int:
    paths = StackPaths.of(settings.stack)
    services = [args.service] if getattr(args, "service", None) else list(SERVICES)
    for service in services:
        log_file: Path = paths.log_file(service)
        if len(services) > 1:
            print(f"==> {log_file} <==")
        if not log_file.exists():
            print(f"(no log yet: {log_file})")
            continue
        print(processes.tail(log_file, args.lines))
    return 0

