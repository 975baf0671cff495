"""Liveness and readiness of a bridge process (``/healthz``, ``/readyz``).

Liveness: the process's event loop still turns. Its one-second timer beats a ``Heartbeat``;
a loop that has not beaten for ``stall_s`` is stuck (a hung call, a dead loop) and the process
should be restarted. A long batch does not count as stuck as long as it ends within
``stall_s``.

Readiness: the named checks of the process all pass (the worker: state loaded, partitions
assigned; the sink: partitions assigned, casavi reachable). A process that is alive but not
ready is starting, rebalancing or waiting for casavi: restarting it would not help.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal

from pydantic import BaseModel


class Check(BaseModel):
    name: str
    ok: bool
    detail: str = ""


class HealthReport(BaseModel):
    status: Literal["ok", "fail"]
    checks: list[Check]

    @property
    def ok(self) -> bool:
        return self.status == "ok"


CheckFn = Callable[[], Check]


def report(checks: list[Check]) -> HealthReport:
    return HealthReport(status="ok" if all(c.ok for c in checks) else "fail", checks=checks)


class Heartbeat:
    """Beaten by the process's event loop; read by the ops server's thread."""

    def __init__(self, stall_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.stall_s = stall_s
        self._clock = clock
        self._last = clock()

    def beat(self) -> None:
        self._last = self._clock()

    def check(self) -> Check:
        age = self._clock() - self._last
        if age > self.stall_s:
            return Check(name="event_loop", ok=False, detail=f"no heartbeat for {age:.0f} s (limit {self.stall_s:.0f} s)")
        return Check(name="event_loop", ok=True, detail=f"last heartbeat {age:.1f} s ago")


class Health:
    """The liveness and readiness checks of one process."""

    def __init__(self, heartbeat: Heartbeat, readiness: dict[str, CheckFn] | None = None) -> None:
        self.heartbeat = heartbeat
        self.readiness: dict[str, CheckFn] = dict(readiness or {})

    def live(self) -> HealthReport:
        return report([self.heartbeat.check()])

    def ready(self) -> HealthReport:
        checks = [self.heartbeat.check()]
        for name, fn in self.readiness.items():
            try:
                checks.append(fn())
            except Exception as exc:  # noqa: BLE001 - a check that fails to run is a failed check
                checks.append(Check(name=name, ok=False, detail=f"check failed ({type(exc).__name__})"))
        return report(checks)


def flag(name: str, ok: bool, yes: str, no: str) -> Check:
    return Check(name=name, ok=ok, detail=yes if ok else no)
