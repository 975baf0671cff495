"""The worker's status file: what operators (and ``bridge status``) read without Kafka."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any


class WorkerStatus:
    """Counters since start, written atomically at most once a second."""

    def __init__(self, path: Path, min_interval_s: float = 1.0) -> None:
        self.path = path
        self.min_interval_s = min_interval_s
        self.started_at = time.time()
        self.counters: dict[str, int] = {"batches": 0, "events": 0, "changes": 0, "replayed": 0, "commands": 0,
                                     "dead_letters": 0}
        self.newest_source_ts_ms: int | None = None
        self.quality: dict[str, int] = {}  # data-quality cases per rule (``bridge report quality``)
        self._written_at = 0.0

    def record_batch(self, *, events: int, changes: int, replayed: int, commands: int, dead_letters: int,
                     source_ts_ms: int | None) -> None:
        c = self.counters
        c["batches"] += 1
        c["events"] += events
        c["changes"] += changes
        c["replayed"] += replayed
        c["commands"] += commands
        c["dead_letters"] += dead_letters
        if source_ts_ms is not None:
            self.newest_source_ts_ms = max(self.newest_source_ts_ms or 0, source_ts_ms)
        if time.monotonic() - self._written_at >= self.min_interval_s:
            self.write()

    def snapshot(self) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "started_at": self.started_at,
            "updated_at": time.time(),
            "newest_source_ts_ms": self.newest_source_ts_ms,
            **self.counters,
            "quality": self.quality,
        }

    def write(self) -> None:
        self._written_at = time.monotonic()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.snapshot(), indent=2))
        os.replace(tmp, self.path)
