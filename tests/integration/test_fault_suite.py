"""The fault suite's quick cases on the real stack (``bench/faults.py --quick``): the worker and
the sink killed with SIGKILL, poison records, drift in casavi, re-keyed ERP rows, a replay of
the CDC history and planted personal data. Every case must end with casavi equal to the
projection of the final ERP state, nothing sent twice by the replay and no planted value in
any log, dead letter, status file or report. The full suite (Kafka, Connect and PostgreSQL
killed, casavi outages, a switch of casavi system) runs as a script; its results are in
``bench/results/``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from conftest import REPO

CASES = "kill9,poison,drift,rekey,replay,pii"


def test_quick_fault_cases_end_with_casavi_equal_to_the_projection(stack: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "faults.json"
    done = subprocess.run([sys.executable, "bench/faults.py", "--quick", "--cases", CASES, "--name", "ci",
                           "--out", str(out)], cwd=REPO, env=dict(os.environ), capture_output=True, text=True,
                          timeout=1500)
    assert out.exists(), done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads(out.read_text())
    failed = {c["case"]: c["details"].get("error") for c in report["cases"] if not c["passed"]}
    assert not failed, f"{failed}\n{done.stdout[-3000:]}"
    summary = report["summary"]
    assert summary["cases"] == len(CASES.split(",")) == summary["cases_passed"]
    assert (summary["missing"], summary["extra"], summary["stale"]) == (0, 0, 0)
    assert summary["duplicates_sent"] == 0 and summary["pii_hits"] == 0
    assert done.returncode == 0
