"""/metrics, /healthz and /readyz of worker and sink; JSON log lines without values."""

from __future__ import annotations

import json
import logging
import sys

import httpx
from prometheus_client import CollectorRegistry, Counter

from streams.ops.health import Check, Health, Heartbeat
from streams.ops.logs import JsonLines
from streams.ops.server import OpsServer


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_metrics_liveness_and_readiness_are_served() -> None:
    registry = CollectorRegistry()
    Counter("casavi_bridge_test_things", "things", registry=registry).inc(3)
    clock = Clock()
    ready = {"ok": False}
    health = Health(Heartbeat(stall_s=60, clock=clock),
                    {"state_loaded": lambda: Check(name="state_loaded", ok=ready["ok"], detail="-")})
    server = OpsServer("127.0.0.1", 0, registry, health)
    assert server.start()
    base = f"http://127.0.0.1:{server.port}"
    try:
        metrics = httpx.get(f"{base}/metrics")
        assert metrics.status_code == 200 and "casavi_bridge_test_things_total 3.0" in metrics.text
        assert metrics.headers["content-type"].startswith("text/plain")
        assert httpx.get(f"{base}/healthz").status_code == 200
        not_ready = httpx.get(f"{base}/readyz")
        assert not_ready.status_code == 503
        assert {c["name"]: c["ok"] for c in not_ready.json()["checks"]} == {"event_loop": True, "state_loaded": False}
        ready["ok"] = True
        assert httpx.get(f"{base}/readyz").json()["status"] == "ok"
        clock.now += 61  # the event loop stopped turning: not alive, and so not ready either
        assert httpx.get(f"{base}/healthz").status_code == 503
        assert httpx.get(f"{base}/readyz").status_code == 503
        assert httpx.get(f"{base}/other").status_code == 404
    finally:
        server.stop()


def test_a_port_in_use_is_logged_not_fatal(caplog: object) -> None:
    registry = CollectorRegistry()
    health = Health(Heartbeat(stall_s=60))
    first = OpsServer("127.0.0.1", 0, registry, health)
    assert first.start()
    try:
        assert OpsServer("127.0.0.1", first.port, registry, health).start() is False
    finally:
        first.stop()


def test_a_failing_check_is_a_failed_check() -> None:
    def broken() -> Check:
        raise KeyError("x")

    result = Health(Heartbeat(stall_s=60), {"casavi_reachable": broken}).ready()
    assert result.status == "fail" and result.checks[-1].detail == "check failed (KeyError)"


def test_json_log_lines_leave_out_exception_messages() -> None:
    try:
        raise ValueError("erika.muster@example.org is not valid")
    except ValueError:
        record = logging.LogRecord("streams.sink", logging.ERROR, __file__, 1, "import of %d commands failed", (3,),
                                   sys.exc_info())
    line = json.loads(JsonLines().format(record))
    assert line["message"] == "import of 3 commands failed" and line["level"] == "ERROR"
    assert line["exc_type"] == "ValueError" and "test_ops_server.py" in line["exc_where"]
    assert "muster" not in json.dumps(line)
