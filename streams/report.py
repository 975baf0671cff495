"""``bridge report quality``: the data-quality report the worker keeps (no personal data).

The worker writes ``<state>/quality-report.json`` (atomically, at most every
``QUALITY_INTERVAL_S`` while the ERP changes) and puts the counts per rule into its status
file (``quality``), so ``bridge stack status`` shows them. This command prints the cases
(rule and ERP numbers only), ``--json`` the file as it is. Exit code 3 when the worker has
not written a report yet.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from streams.projection.quality import QualityReport
from streams.settings import BridgeSettings

QUALITY_FILE = "quality-report.json"
QUALITY_INTERVAL_S = 10.0


def quality_path(settings: BridgeSettings) -> Path:
    return settings.stack.state_dir / QUALITY_FILE


def write_report(path: Path, report: QualityReport) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(report.model_dump_json(indent=2))
    os.replace(tmp, path)


def read_report(path: Path) -> QualityReport | None:
    try:
        return QualityReport.model_validate_json(path.read_text())
    except FileNotFoundError:
        return None


def quality(args: argparse.Namespace, settings: BridgeSettings) -> int:
    path = quality_path(settings)
    report = read_report(path)
    if report is None:
        print(f"no data-quality report in {path} yet: it is written by a running bridge worker", file=sys.stderr)
        return 3
    if args.json:
        print(json.dumps(report.model_dump(mode="json"), indent=2))
        return 0
    counts = ", ".join(f"{rule} {n}" for rule, n in report.counts().items()) or "none"
    print(f"data quality on {report.today.isoformat()} (as of {report.generated_at.isoformat(timespec='seconds')}):"
          f" {len(report.cases)} cases ({counts})")
    for line in report.lines():
        print(f"  {line}")
    return 0
