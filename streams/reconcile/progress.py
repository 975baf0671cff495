"""``<state>/reconcile-progress.json``: how far a running reconcile has read casavi back.

Written by ``bridge reconcile`` and the sink's scheduled reconcile while they read (at most once
a second) and when they finish; the protocol page shows the count, the rate and the time left
from it. Counts only: entities read, requests, the entities the projection expects and the
requests reading them back takes (an estimate).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from pydantic import BaseModel, ValidationError

PROGRESS_FILE = "reconcile-progress.json"


class ReconcileProgress(BaseModel):
    pid: int
    system: str
    started_at: float
    updated_at: float
    expected: int  # entities the projection expects in casavi: about what reading back will find
    estimate: int = 0  # read requests that takes, about (0: not estimated)
    read: int = 0  # casavi entities read back so far
    requests: int = 0
    finished: bool = False


def progress_path(state_dir: Path) -> Path:
    return state_dir / PROGRESS_FILE


class ProgressFile:
    def __init__(self, path: Path, system: str, expected: int, estimate: int = 0, min_interval_s: float = 1.0) -> None:
        now = time.time()
        self.path = path
        self.min_interval_s = min_interval_s
        self.progress = ReconcileProgress(pid=os.getpid(), system=system, started_at=now, updated_at=now,
                                          expected=expected, estimate=estimate)
        self._written_at = 0.0
        self.write()

    def update(self, read: int, requests: int, finished: bool = False) -> None:
        self.progress = self.progress.model_copy(update={"read": read, "requests": requests, "finished": finished,
                                                         "updated_at": time.time()})
        if finished or time.monotonic() - self._written_at >= self.min_interval_s:
            self.write()

    def write(self) -> None:
        self._written_at = time.monotonic()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(self.progress.model_dump_json())
        os.replace(tmp, self.path)


def read_progress(path: Path) -> ReconcileProgress | None:
    try:
        return ReconcileProgress.model_validate_json(path.read_text())
    except (OSError, ValidationError):
        return None
