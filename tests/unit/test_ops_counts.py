"""The counts in the status files and in /metrics: totals across restarts, the commands
topic's records, the last batch written, one source for both (no reference ids in labels)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client import generate_latest

from streams.commands.model import CasaviCommand, DeadLetter
from streams.sink.client import ClientCounters, endpoint_of
from streams.sink.metrics import SinkMetrics
from streams.sink.stats import SinkStats
from streams.worker.metrics import WorkerMetrics
from streams.worker.status import WorkerStatus

IDENTITY = {"app_id": "casavi-bridge", "system": "test", "commands_topic": "casavi.commands"}


def _commands(n: int) -> list[CasaviCommand]:
    return [CasaviCommand.upsert("contact", f"7001-E{i}", {"lastName": "Muster"}) for i in range(n)]


def _status(path: Path, **identity: str) -> WorkerStatus:
    return WorkerStatus(path, **{**IDENTITY, **identity})


def test_worker_counts_continue_after_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "worker-status.json"
    first = _status(path)
    first.topic_records(0)
    first.record_batch(events=40, changes=38, replayed=2, source_ts_ms=1_700_000_000_000,
                       events_by_topic={"erp.erp.person": 40}, changes_by_table={"person": 38})
    first.record_commands(_commands(30), end_offset=30)
    first.record_dead_letters([DeadLetter(stage="decode", reason="broken", topic="t", partition=0, offset=1)])
    first.write()

    again = _status(path)  # the restarted worker, which finds 36 records on the topic
    again.topic_records(36)
    again.record_batch(events=5, changes=5, replayed=0, source_ts_ms=None, events_by_topic={"erp.erp.person": 5},
                       changes_by_table={"person": 5})
    again.record_commands(_commands(6), end_offset=42)
    again.write()
    status = json.loads(path.read_text())
    assert status["commands"] == status["commands_on_topic"] == 42  # what the topic holds, not 6
    assert status["since_start"]["commands"] == 6 and status["since_start"]["events"] == 5
    assert status["events"] == 45 and status["changes"] == 43 and status["replayed"] == 2 and status["batches"] == 2
    assert status["events_by_topic"] == {"erp.erp.person": 45} and status["changes_by_table"] == {"person": 43}
    assert status["commands_by_entity"] == {"contact": {"UPSERT": 36}}
    assert status["dead_letters"] == 1 and status["dead_letters_by_code"] == {"decode": {"DECODE": 1}}

    other = _status(path, commands_topic="casavi.commands.other")  # another worker's topic: its own counts
    assert other.counters["events"] == 0 and other.commands_by_entity == {}


def test_worker_status_writes_the_last_batch_once_batches_stop(tmp_path: Path) -> None:
    path = tmp_path / "worker-status.json"
    status = WorkerStatus(path, min_interval_s=3600)
    status.record_batch(events=1, changes=1, replayed=0, source_ts_ms=None)  # the first is written at once
    status.record_batch(events=7, changes=7, replayed=0, source_ts_ms=None)
    status.record_commands(_commands(3), end_offset=None)
    assert json.loads(path.read_text())["events"] == 1
    status.flush()  # the worker's one-second timer
    written = json.loads(path.read_text())
    assert written["events"] == 8 and written["commands"] == 3
    before = path.stat().st_mtime_ns
    status.flush()  # nothing new: not rewritten
    assert path.stat().st_mtime_ns == before


def test_a_broken_status_file_is_counted_from_zero(tmp_path: Path) -> None:
    path = tmp_path / "worker-status.json"
    path.write_text(json.dumps({**IDENTITY, "events": "many", "commands": 3}))
    assert _status(path).counters["events"] == 0


def _labels(registry: Any) -> dict[str, list[dict[str, str]]]:
    text = generate_latest(registry).decode()
    return {f.name: [s.labels for s in f.samples] for f in text_string_to_metric_families(text)}


def test_worker_metrics_are_the_status_and_carry_no_reference_id(tmp_path: Path) -> None:
    status = _status(tmp_path / "w.json")
    status.record_commands(_commands(4), end_offset=4)
    status.record_dead_letters([DeadLetter(stage="project", reason="unexpected KeyError while projecting root P:1",
                                           error_code="UNEXPECTED", topic="", partition=-1, offset=-1,
                                           reference_id="7001-E1")])
    status.observe(lag={"erp.erp.person": 3}, quality={"R08": 2}, state_rows=10, emitted_slots=4, pending_roots=0,
                   queued_roots=0)
    metrics = WorkerMetrics(status)
    metrics.batch_duration.observe(0.2)
    text = generate_latest(metrics.registry).decode()
    assert 'casavi_bridge_worker_commands_total{entity="contact",op="UPSERT"} 4.0' in text
    assert 'casavi_bridge_worker_dead_letters_total{code="UNEXPECTED",stage="project"} 1.0' in text
    assert 'casavi_bridge_worker_consumer_lag_records{topic="erp.erp.person"} 3.0' in text
    assert "casavi_bridge_worker_state_rows 10.0" in text and "casavi_bridge_worker_batch_duration_seconds_count 1.0" in text
    assert "7001-E" not in text and "Muster" not in text and "P:1" not in text


def test_sink_counts_continue_after_a_restart_and_add_the_client_of_this_run(tmp_path: Path) -> None:
    path = tmp_path / "sink-status.json"
    identity = {"system": "test", "group_id": "casavi-bridge-sink", "commands_topic": "casavi.commands"}
    first = SinkStats.continued(path, **identity)
    first.add(batches=1, commands=30, applied=29, dead_lettered=1, imports=2)
    first.outcome("contact", "UPSERT", "applied", 29)
    counters = ClientCounters()
    counters.requests.update({"authenticate": 1, "import": 2, "job": 5})
    counters.responses.update({("POST /import", "200"): 2, ("GET /jobs/{id}", "200"): 5,
                               ("POST /authenticate", "200"): 1})
    first.take_client(counters)
    first.write(path)

    again = SinkStats.continued(path, **identity)
    again.add(batches=1, commands=6, applied=6)
    counters = ClientCounters()
    counters.requests.update({"authenticate": 1, "import": 1, "job": 1})
    counters.responses.update({("POST /import", "429"): 1, ("POST /import", "200"): 1})
    counters.rate_limited = 1
    again.take_client(counters)
    again.write(path)
    status = json.loads(path.read_text())
    assert status["commands"] == 36 and status["applied"] == 35 and status["since_start"]["commands"] == 6
    assert status["requests"] == {"authenticate": 2, "import": 3, "job": 6} and status["polls"] == 6
    assert status["responses"]["POST /import"] == {"200": 3, "429": 1} and status["rate_limited"] == 1
    assert status["outcomes"] == {"contact": {"UPSERT": {"applied": 29}}}

    other = SinkStats.continued(path, **{**identity, "system": "production"})
    assert other.commands == 0 and other.requests == {}


def test_sink_metrics_are_the_status(tmp_path: Path) -> None:
    stats = SinkStats(system="test", commands_topic="casavi.commands")
    stats.outcome("unit", "DELETE", "applied", 2)
    stats.dead_letter("INVALID_FIELD")
    counters = ClientCounters()
    counters.responses.update({("GET /properties/{id}/units", "200"): 3})
    stats.take_client(counters)
    stats.lag, stats.committed, stats.end_offset = 4, 10, 14
    metrics = SinkMetrics(stats)
    metrics.commit_to_casavi.observe(0.8)
    text = generate_latest(metrics.registry).decode()
    assert 'casavi_bridge_sink_commands_total{entity="unit",op="DELETE",outcome="applied"} 2.0' in text
    assert 'casavi_bridge_casavi_requests_total{endpoint="GET /properties/{id}/units",status="200"} 3.0' in text
    assert 'casavi_bridge_sink_consumer_lag_records{topic="casavi.commands"} 4.0' in text
    assert 'casavi_bridge_sink_dead_letters_total{code="INVALID_FIELD"} 1.0' in text
    assert 'casavi_bridge_sink_commit_to_casavi_seconds_bucket{le="1.0"} 1.0' in text


@pytest.mark.parametrize(("method", "path", "endpoint"), [
    ("GET", "/properties/7001-E801/units?page=2", "GET /properties/{id}/units"),
    ("GET", "/jobs/4f1c", "GET /jobs/{id}"),
    ("DELETE", "/staff/U%2017", "DELETE /staff/{id}"),
    ("POST", "/import", "POST /import"),
])
def test_casavi_endpoints_are_named_without_their_ids(method: str, path: str, endpoint: str) -> None:
    assert endpoint_of(method, path) == endpoint


def test_status_files_are_written_by_this_process(tmp_path: Path) -> None:
    status = WorkerStatus(tmp_path / "w.json")
    status.write()
    written = json.loads((tmp_path / "w.json").read_text())
    assert written["pid"] == os.getpid() and written["updated_at"] <= time.time()


def test_the_grafana_dashboard_charts_only_series_worker_and_sink_serve(tmp_path: Path) -> None:
    import re

    status = _status(tmp_path / "w.json")
    status.record_commands(_commands(1), end_offset=1)
    status.record_dead_letters([DeadLetter(stage="decode", reason="x", topic="t", partition=0, offset=0)])
    status.record_batch(events=1, changes=1, replayed=0, source_ts_ms=1, events_by_topic={"t": 1},
                        changes_by_table={"person": 1})
    status.observe(lag={"t": 0}, state_rows=1, emitted_slots=1, pending_roots=0, queued_roots=0)
    worker = WorkerMetrics(status)
    worker.batch_duration.observe(0.1)
    stats = SinkStats(commands_topic="casavi.commands", lag=0)
    stats.outcome("contact", "UPSERT", "applied")
    stats.dead_letter("INVALID_FIELD")
    counters = ClientCounters()
    counters.responses[("POST /import", "200")] += 1
    stats.take_client(counters)
    sink = SinkMetrics(stats)
    sink.commit_to_casavi.observe(1.0)
    served = {s.name for registry in (worker.registry, sink.registry)
              for f in text_string_to_metric_families(generate_latest(registry).decode()) for s in f.samples}
    dashboard = json.loads((Path(__file__).resolve().parents[2] / "docs" / "grafana" / "bridge.json").read_text())
    charted = {name for panel in dashboard["panels"] for target in panel["targets"]
               for name in re.findall(r"casavi_bridge_\w+", target["expr"])}
    assert charted and charted <= served, charted - served
