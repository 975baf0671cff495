"""``SinkStats``: what the sink has done since it started, and its status file for operators.

The file ``<stack home>/state/sink-status.json`` is replaced atomically after every batch.
It holds counts and times only, never commands or their contents.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class SinkStats:
    system: str = ""
    started_at: float = field(default_factory=time.time)
    batches: int = 0
    records: int = 0
    commands: int = 0
    applied: int = 0
    dead_lettered: int = 0
    deferred: int = 0  # waiting for a referenced entity (R20 across partitions)
    imports: int = 0
    bisections: int = 0
    polls: int = 0
    requests: dict[str, int] = field(default_factory=dict)
    retries: int = 0
    rate_limited: int = 0
    reauthentications: int = 0
    last_batch_at: float | None = None
    last_commit_at: float | None = None
    lag: int | None = None
    gaps: list[str] = field(default_factory=list)  # commands deleted before they were read (streams/gaps.py)

    def snapshot(self) -> dict[str, Any]:
        return {"pid": os.getpid(), "updated_at": time.time(), **asdict(self)}

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.snapshot(), indent=2))
        os.replace(tmp, path)
