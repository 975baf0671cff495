"""``bridge stack status`` also reports the worker's and the sink's last status."""

from __future__ import annotations

import json
import os
from pathlib import Path

from streams.stack.status import bridge_processes


def test_status_files_are_reported_with_running_flag(tmp_path: Path) -> None:
    (tmp_path / "worker-status.json").write_text(json.dumps({"pid": os.getpid(), "events": 12, "commands": 3}))
    (tmp_path / "sink-status.json").write_text(json.dumps({"pid": 2**22 + 12345, "applied": 3}))
    report = bridge_processes(tmp_path)
    assert report["worker"] == {"running": True, "pid": os.getpid(), "events": 12, "commands": 3}
    assert report["sink"] is not None and report["sink"]["running"] is False


def test_missing_or_broken_status_files_are_null(tmp_path: Path) -> None:
    (tmp_path / "sink-status.json").write_text("{not json")
    assert bridge_processes(tmp_path) == {"worker": None, "sink": None}


def test_r08_the_worker_status_carries_the_data_quality_counts(tmp_path: Path) -> None:
    from streams.stack.status import render

    (tmp_path / "worker-status.json").write_text(json.dumps({"pid": os.getpid(), "events": 1,
                                                             "quality": {"R08": 2, "R12": 1}}))
    bridge = bridge_processes(tmp_path)
    assert bridge["worker"] is not None and bridge["worker"]["quality"] == {"R08": 2, "R12": 1}
    service = {"state": "up", "pid": 1, "bootstrap_servers": "k", "url": "c", "dsn": "p", "connectors": {}}
    report = {"services": {"kafka": service, "connect": service, "postgres": service}, "state": "up",
              "postgres_dsn": "p", "postgres_password_env": "X", "cdc_topics": {"person": "erp.erp.person"},
              "versions": {"kafka": "4", "debezium": "3", "postgres": "15"}, "state_dir": "s", "log_dir": "l",
              "bridge": bridge}
    assert "  data quality: R08 2, R12 1 (bridge report quality)" in render(report).splitlines()
