"""Progress of long work — a bulk load, a replay's catch-up, a reconcile: counts, rate, time left.

``Meter`` turns successive (done, total) readings into a ``ProgressSnapshot`` with the rate
over the last ``window_s`` seconds and the estimated time left; ``catch_up`` reads the
worker's and the sink's status (``bridge stack status --json``'s ``bridge`` key) as two such
readings. Both are plain functions of their inputs, so the protocol page can show the same
figures; ``TerminalProgress`` draws them with rich.
"""

from __future__ import annotations

import sys
import time
from collections import deque
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any

from pydantic import BaseModel


class ProgressSnapshot(BaseModel):
    what: str
    unit: str
    done: int
    total: int | None  # None: not known (yet)
    rate_per_s: float | None  # None: not enough readings yet
    eta_s: float | None  # None: no rate, or nothing left

    @property
    def finished(self) -> bool:
        return self.total is not None and self.done >= self.total


class Meter:
    """Rate and time left of one piece of work, from readings of how much is done."""

    def __init__(self, what: str, unit: str, window_s: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.what = what
        self.unit = unit
        self.window_s = window_s
        self._clock = clock
        self._samples: deque[tuple[float, int]] = deque()

    def update(self, done: int, total: int | None) -> ProgressSnapshot:
        now = self._clock()
        samples = self._samples
        if samples and done < samples[-1][1]:
            samples.clear()  # went back (a replay moved the offsets): measure anew
        samples.append((now, done))
        while len(samples) > 2 and now - samples[1][0] >= self.window_s:
            samples.popleft()
        rate: float | None = None
        if len(samples) >= 2 and now > samples[0][0]:
            rate = (done - samples[0][1]) / (now - samples[0][0])
        total = None if total is None else max(total, done)
        eta: float | None = None
        if total is not None and rate and rate > 0 and total > done:
            eta = (total - done) / rate
        elif total is not None and total <= done:
            eta = 0.0
        return ProgressSnapshot(what=self.what, unit=self.unit, done=done, total=total, rate_per_s=rate, eta_s=eta)


def catch_up(bridge: Mapping[str, Mapping[str, Any] | None]) -> dict[str, tuple[int, int | None]]:
    """(done, total) of the worker reading its topics and of the sink applying the commands, from
    their status: the worker has read ``since_start.events`` records and ``lag_by_topic`` wait; the
    sink has finished ``committed`` of ``end_offset`` commands. A process without a status is left out."""
    out: dict[str, tuple[int, int | None]] = {}
    worker = bridge.get("worker")
    if worker:
        read = int((worker.get("since_start") or {}).get("events") or 0)
        waiting = sum(int(v) for v in (worker.get("lag_by_topic") or {}).values())
        out["worker"] = (read, read + waiting)
    sink = bridge.get("sink")
    if sink and sink.get("committed") is not None:
        end = sink.get("end_offset")
        out["sink"] = (int(sink["committed"]), None if end is None else int(end))
    return out


def caught_up(bridge: Mapping[str, Mapping[str, Any] | None]) -> bool:
    """Nothing waits: the worker has read its topics and projected what it deferred or queued, the
    sink has applied every command on the topic."""
    worker, sink = bridge.get("worker") or {}, bridge.get("sink") or {}
    readings = catch_up(bridge)
    pending = int(worker.get("pending_roots") or 0) + int(worker.get("queued_roots") or 0)
    return bool(readings) and pending == 0 and int(sink.get("deferred") or 0) == 0 and all(
        total is not None and done >= total for done, total in readings.values())


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


class TerminalProgress:
    """Bars with counts, rate and time left on the terminal (standard error)."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self._progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                  TextColumn("{task.fields[rate]}"), TextColumn("left {task.fields[eta]}"),
                                  console=Console(stderr=True), transient=False)
        self._tasks: dict[str, Any] = {}

    def show(self, snapshot: ProgressSnapshot, note: str = "") -> None:
        rate = "-" if snapshot.rate_per_s is None else f"{snapshot.rate_per_s:,.1f} {snapshot.unit}/s"
        eta = duration(snapshot.eta_s)
        description = snapshot.what + (f" ({note})" if note else "")
        task = self._tasks.get(snapshot.what)
        if task is None:
            self._tasks[snapshot.what] = self._progress.add_task(description, total=snapshot.total,
                                                                 completed=snapshot.done, rate=rate, eta=eta)
        else:
            self._progress.update(task, description=description, total=snapshot.total, completed=snapshot.done,
                                  rate=rate, eta=eta)

    def __enter__(self) -> TerminalProgress:
        self._progress.start()
        return self

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self._progress.stop()


def watch(args: Any, settings: Any) -> int:
    """``bridge progress``: the worker's and the sink's catch-up (a bulk load, a replay) until
    nothing waits (``--follow``: until Ctrl-C). Exit code 3 when neither has written a status."""
    from streams.stack.status import bridge_processes

    meters = {"worker": Meter("worker: records read", "records"), "sink": Meter("sink: commands applied", "commands")}
    deadline = None if args.timeout is None else time.monotonic() + args.timeout
    try:
        with TerminalProgress() as terminal:
            while True:
                bridge = bridge_processes(settings.stack.state_dir)
                readings = catch_up(bridge)
                if not readings:
                    print(f"no worker or sink status in {settings.stack.state_dir}", file=sys.stderr)
                    return 3
                for name, (done, total) in readings.items():
                    status = bridge.get(name) or {}
                    note = "" if status.get("running") else "stopped"
                    if name == "worker":
                        waiting = int(status.get("pending_roots") or 0) + int(status.get("queued_roots") or 0)
                        note = ", ".join(x for x in (note, f"{waiting:,} roots to project" if waiting else "") if x)
                    terminal.show(meters[name].update(done, total), note)
                if not args.follow and caught_up(bridge):
                    return 0
                if deadline is not None and time.monotonic() > deadline:
                    return 1
                time.sleep(args.interval)
    except KeyboardInterrupt:
        return 130
