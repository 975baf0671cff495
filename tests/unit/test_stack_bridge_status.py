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
