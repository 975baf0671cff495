"""``SinkStats``: what the sink has done, and its status file for operators.

The file ``<stack home>/state/sink-status.json`` is replaced atomically after every batch,
when the sink's position or lag changes while idle, and at stop. It holds counts and times
only, never commands or their contents: counts per entity type, operation, outcome, casavi
endpoint (ids replaced by ``{id}``), HTTP status and error code.

Counts are totals across restarts: a sink starting with the status file of an earlier run of
the same consumer group, commands topic and casavi system continues them (``since_start``
has the counts of this process). ``requests`` and ``responses`` so agree with what casavi
received from this sink; ``committed`` (the group's committed offsets) and ``end_offset``
(the commands topic's end offsets) agree with the topic: ``end_offset - committed`` commands
are still to apply.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from streams.sink.client import ClientCounters

log = logging.getLogger(__name__)

COUNTS = ("batches", "records", "commands", "applied", "dead_lettered", "imports", "bisections", "polls", "retries",
          "rate_limited", "reauthentications", "transport_errors")
CLIENT_COUNTS = ("retries", "rate_limited", "reauthentications", "transport_errors")


@dataclass
class SinkStats:
    system: str = ""
    group_id: str = ""
    commands_topic: str = ""
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
    transport_errors: int = 0
    pacing_wait_s: float = 0.0  # requests waiting for the client-side pacing, in seconds
    retry_wait_s: float = 0.0  # waiting before retries (backoff, casavi's Retry-After), in seconds
    last_batch_at: float | None = None
    last_commit_at: float | None = None
    lag: int | None = None
    committed: int | None = None  # commands of the topic the sink has finished (committed offsets, summed)
    end_offset: int | None = None  # commands on the topic (end offsets, summed)
    gaps: list[str] = field(default_factory=list)  # commands deleted before they were read (streams/gaps.py)
    # entity -> op -> outcome (applied, unconfirmed, failed) -> commands
    outcomes: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)
    responses: dict[str, dict[str, int]] = field(default_factory=dict)  # endpoint -> HTTP status -> requests
    dead_letters_by_code: dict[str, int] = field(default_factory=dict)
    since_start: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTS, 0))

    def __post_init__(self) -> None:
        self.lock = threading.RLock()  # the ops server's thread reads while the sink counts
        self._rebase()

    def _rebase(self) -> None:
        """The totals of earlier runs that the client counters of this process add to."""
        self._base_requests: Counter[str] = Counter(self.requests)
        self._base_responses = {e: Counter(s) for e, s in self.responses.items()}
        self._base_client = {name: getattr(self, name) for name in CLIENT_COUNTS}
        self._base_waits = (self.pacing_wait_s, self.retry_wait_s)
        self._base_polls = self.polls

    @classmethod
    def continued(cls, path: Path, *, system: str, group_id: str, commands_topic: str) -> SinkStats:
        """The totals of the earlier run in ``path`` when it was the same sink; else from zero."""
        fresh = cls(system=system, group_id=group_id, commands_topic=commands_topic)
        try:
            old = json.loads(path.read_text())
        except (OSError, ValueError):
            return fresh
        identity = {"system": system, "group_id": group_id, "commands_topic": commands_topic}
        if not isinstance(old, dict) or any(old.get(k) != v for k, v in identity.items()):
            return fresh
        try:
            counts = {name: int(old.get(name) or 0) for name in COUNTS}
            stats = cls(
                system=system, group_id=group_id, commands_topic=commands_topic,
                requests={str(k): int(v) for k, v in (old.get("requests") or {}).items()},
                pacing_wait_s=float(old.get("pacing_wait_s") or 0.0), retry_wait_s=float(old.get("retry_wait_s") or 0.0),
                outcomes={str(e): {str(op): {str(o): int(n) for o, n in outcomes.items()} for op, outcomes in ops.items()}
                          for e, ops in (old.get("outcomes") or {}).items()},
                responses={str(e): {str(s): int(n) for s, n in statuses.items()}
                           for e, statuses in (old.get("responses") or {}).items()},
                dead_letters_by_code={str(k): int(v) for k, v in (old.get("dead_letters_by_code") or {}).items()},
            )
        except (TypeError, ValueError, AttributeError):
            log.warning("the counts in %s are not readable; counting from zero", path)
            return fresh
        for name, n in counts.items():
            setattr(stats, name, n)
        stats._rebase()
        return stats

    def add(self, **counts: int) -> None:
        with self.lock:
            for name, n in counts.items():
                setattr(self, name, getattr(self, name) + n)
                self.since_start[name] = self.since_start.get(name, 0) + n

    def outcome(self, entity: str, op: str, outcome: str, n: int = 1) -> None:
        with self.lock:
            ops = self.outcomes.setdefault(entity, {}).setdefault(op, {})
            ops[outcome] = ops.get(outcome, 0) + n

    def dead_letter(self, code: str) -> None:
        with self.lock:
            self.dead_letters_by_code[code] = self.dead_letters_by_code.get(code, 0) + 1

    def take_client(self, counters: ClientCounters) -> None:
        """The casavi client's counters of this process, added to the totals of earlier runs."""
        with self.lock:
            self.requests = dict(self._base_requests + Counter(counters.requests))
            self.since_start["polls"] = counters.requests["job"]
            self.polls = self._base_polls + counters.requests["job"]
            for name in CLIENT_COUNTS:
                now = getattr(counters, name)
                setattr(self, name, self._base_client[name] + now)
                self.since_start[name] = now
            responses = {e: Counter(s) for e, s in self._base_responses.items()}
            for (endpoint, status), n in counters.responses.items():
                responses.setdefault(endpoint, Counter())[status] += n
            self.responses = {e: dict(sorted(s.items())) for e, s in sorted(responses.items())}
            self.pacing_wait_s = round(self._base_waits[0] + counters.pacing_wait_s, 3)
            self.retry_wait_s = round(self._base_waits[1] + counters.retry_wait_s, 3)

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {"pid": os.getpid(), "updated_at": time.time(), **asdict(self)}

    def write(self, path: Path) -> None:
        snapshot = self.snapshot()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(snapshot, indent=2))
        os.replace(tmp, path)
