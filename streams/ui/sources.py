"""What the page reads besides Kafka: the status files of worker and sink, the reconcile report
and progress, the data-quality report (``<state>/``), and Kafka Connect's REST API."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
from pydantic import ValidationError

from streams.projection.quality import QualityReport
from streams.reconcile.progress import ReconcileProgress, progress_path, read_progress
from streams.report import quality_path
from streams.settings import BridgeSettings
from streams.stack import connect
from streams.stack.status import bridge_processes
from streams.ui.model import Connector


def connect_url(settings: BridgeSettings) -> str:
    return (settings.ui.connect_url or connect.url(settings.stack)).rstrip("/")


def connectors(url: str, timeout_s: float = 3.0) -> list[Connector] | None:
    """Every connector with its state and its tasks' states; None when Kafka Connect does not answer."""
    try:
        response = httpx.get(f"{url}/connectors", params={"expand": "status"}, timeout=timeout_s)
        response.raise_for_status()
        expanded = response.json()
    except (httpx.HTTPError, ValueError):
        return None
    if not isinstance(expanded, dict):
        return None
    out = []
    for name, info in sorted(expanded.items()):
        status = (info or {}).get("status") or {}
        out.append(Connector(name=str(name), state=str((status.get("connector") or {}).get("state", "UNKNOWN")),
                             tasks=[str(t.get("state", "UNKNOWN")) for t in status.get("tasks") or []]))
    return out


def status_files(settings: BridgeSettings) -> dict[str, dict[str, Any] | None]:
    """The worker's and the sink's status files with ``running`` (their pid alive on this machine)."""
    return bridge_processes(settings.stack.state_dir)


def reconcile_report(settings: BridgeSettings) -> dict[str, Any] | None:
    from streams.reconcile.run import report_path

    try:
        report = json.loads(report_path(settings).read_text())
    except (OSError, ValueError):
        return None
    return report if isinstance(report, dict) else None


def reconcile_progress(settings: BridgeSettings) -> ReconcileProgress | None:
    return read_progress(progress_path(settings.stack.state_dir))


def quality_report(settings: BridgeSettings) -> QualityReport | None:
    path: Path = quality_path(settings)
    try:
        return QualityReport.model_validate_json(path.read_text())
    except (OSError, ValidationError):
        return None
