"""The worker's status file: what operators (``bridge stack status``) and ``/metrics`` read.

Counts are totals across restarts: a worker starting with the status file of an earlier run
of the same application id, casavi system and commands topic continues its counts, so a
restart does not take the figures back to zero (``since_start`` has the counts of this
process). ``commands`` is the number of records on the commands topic (its end offset, read
at start and advanced with every delivery): the worker is the topic's only writer, so this
figure agrees with the topic also after a crash that lost the last second of counts.

The file is rewritten atomically at most once a second while batches come, by the worker's
one-second timer once they stop (``flush``), and at shutdown; it never holds personal data:
counts per topic, table, entity, operation and error code.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from streams.commands.model import CasaviCommand, DeadLetter

log = logging.getLogger(__name__)

COUNTERS = ("batches", "events", "changes", "replayed", "commands", "dead_letters")


def letter_code(letter: DeadLetter) -> str:
    """The code a dead letter is counted under: casavi's or the bridge's error code, else its stage's
    kind (``decode``, ``fold``): never its free-text reason, which may name a reference id."""
    return letter.error_code or letter.stage.upper()


class WorkerStatus:
    """Counters of the worker (totals and since start), written atomically."""

    def __init__(self, path: Path, *, app_id: str = "", system: str = "", commands_topic: str = "",
                 min_interval_s: float = 1.0) -> None:
        self.path = path
        self.identity = {"app_id": app_id, "system": system, "commands_topic": commands_topic}
        self.min_interval_s = min_interval_s
        self.started_at = time.time()
        self.since_start: dict[str, int] = dict.fromkeys(COUNTERS, 0)
        self.counters: dict[str, int] = dict.fromkeys(COUNTERS, 0)
        self.events_by_topic: Counter[str] = Counter()
        self.changes_by_table: Counter[str] = Counter()
        self.commands_by_entity: dict[str, Counter[str]] = {}  # entity -> op -> count
        self.dead_letters_by_code: dict[str, Counter[str]] = {}  # stage -> code -> count
        self.commands_on_topic: int | None = None  # end offset of the commands topic, as last known
        self.lag: dict[str, int] = {}  # records behind, per source topic (as of the last batch)
        self.newest_source_ts_ms: int | None = None
        self.quality: dict[str, int] = {}  # data-quality cases per rule (``bridge report quality``)
        self.gauges: dict[str, int] = {}  # state_rows, emitted_slots, pending_roots, queued_roots
        self._written_at = 0.0
        self._dirty = False
        # the ops server's thread reads snapshots while the worker's loop counts
        self.lock = threading.RLock()
        self._continue_from_file()

    def _continue_from_file(self) -> None:
        """Take over the totals of an earlier run of the same worker (same id, system and topic)."""
        try:
            old = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return
        if not isinstance(old, dict) or any(old.get(k) != v for k, v in self.identity.items()):
            return
        try:
            counters = {name: int(old.get(name) or 0) for name in COUNTERS}
            by_topic = Counter({str(k): int(v) for k, v in (old.get("events_by_topic") or {}).items()})
            by_table = Counter({str(k): int(v) for k, v in (old.get("changes_by_table") or {}).items()})
            by_entity = {str(e): Counter({str(op): int(n) for op, n in ops.items()})
                         for e, ops in (old.get("commands_by_entity") or {}).items()}
            by_code = {str(s): Counter({str(c): int(n) for c, n in codes.items()})
                       for s, codes in (old.get("dead_letters_by_code") or {}).items()}
            newest = old.get("newest_source_ts_ms")
        except (TypeError, ValueError, AttributeError):
            log.warning("the counts in %s are not readable; counting from zero", self.path)
            return
        self.counters, self.events_by_topic, self.changes_by_table = counters, by_topic, by_table
        self.commands_by_entity, self.dead_letters_by_code = by_entity, by_code
        self.newest_source_ts_ms = newest if isinstance(newest, int) else None

    # --- what happened -------------------------------------------------------------------

    def record_batch(self, *, events: int, changes: int, replayed: int, source_ts_ms: int | None,
                     events_by_topic: Mapping[str, int] | None = None,
                     changes_by_table: Mapping[str, int] | None = None) -> None:
        """One batch done (its commands and dead letters are recorded as they are delivered)."""
        with self.lock:
            self._add(batches=1, events=events, changes=changes, replayed=replayed)
            self.events_by_topic.update(events_by_topic or {})
            self.changes_by_table.update(changes_by_table or {})
            if source_ts_ms is not None:
                self.newest_source_ts_ms = max(self.newest_source_ts_ms or 0, source_ts_ms)
        if time.monotonic() - self._written_at >= self.min_interval_s:
            self.write()

    def record_commands(self, commands: Iterable[CasaviCommand], end_offset: int | None) -> None:
        """Commands delivered to the commands topic; ``end_offset``: the topic's end offset after them."""
        with self.lock:
            n = 0
            for c in commands:
                self.commands_by_entity.setdefault(c.entity, Counter())[c.op] += 1
                n += 1
            self.since_start["commands"] += n
            if end_offset is not None:
                self.topic_records(max(end_offset, self.commands_on_topic or 0))
            else:
                self.counters["commands"] += n
            self._dirty = True

    def topic_records(self, end_offset: int) -> None:
        """The commands topic holds ``end_offset`` records (read at start, advanced by deliveries)."""
        with self.lock:
            self.commands_on_topic = end_offset
            self.counters["commands"] = end_offset
            self._dirty = True

    def record_dead_letters(self, letters: Iterable[DeadLetter]) -> None:
        with self.lock:
            n = 0
            for letter in letters:
                self.dead_letters_by_code.setdefault(letter.stage, Counter())[letter_code(letter)] += 1
                n += 1
            self._add(dead_letters=n)

    def observe(self, *, lag: Mapping[str, int] | None = None, quality: Mapping[str, int] | None = None,
                **gauges: int) -> None:
        """Levels rather than counts: records behind per topic, data-quality cases per rule, and
        ``state_rows``, ``emitted_slots``, ``pending_roots``, ``queued_roots``."""
        with self.lock:
            before = (dict(self.lag), self.quality, dict(self.gauges))
            if lag is not None:
                self.lag.update(lag)
            if quality is not None:
                self.quality = dict(quality)
            self.gauges.update(gauges)
            self._dirty = self._dirty or before != (self.lag, self.quality, self.gauges)

    def _add(self, **counts: int) -> None:
        for name, n in counts.items():
            self.counters[name] += n
            self.since_start[name] += n
        self._dirty = True

    # --- the file --------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return self._snapshot()

    def _snapshot(self) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            **self.identity,
            "started_at": self.started_at,
            "updated_at": time.time(),
            "newest_source_ts_ms": self.newest_source_ts_ms,
            **self.counters,
            "commands_on_topic": self.commands_on_topic,
            "since_start": dict(self.since_start),
            "events_by_topic": dict(sorted(self.events_by_topic.items())),
            "changes_by_table": dict(sorted(self.changes_by_table.items())),
            "commands_by_entity": {e: dict(sorted(ops.items())) for e, ops in sorted(self.commands_by_entity.items())},
            "dead_letters_by_code": {s: dict(sorted(c.items())) for s, c in sorted(self.dead_letters_by_code.items())},
            "lag_by_topic": dict(sorted(self.lag.items())),
            **self.gauges,
            "quality": dict(self.quality),
        }

    def flush(self) -> None:
        """Write what changed since the last write (the worker's timer calls this every second)."""
        if self._dirty:
            self.write()

    def write(self) -> None:
        self._written_at = time.monotonic()
        self._dirty = False
        snapshot = self.snapshot()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(snapshot, indent=2))
        os.replace(tmp, self.path)
