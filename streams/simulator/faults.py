"""What makes the casavi simulator misbehave on purpose: switchable faults and the
rate limit. Both apply to the casavi API only, never to the ``/_sim/`` admin endpoints.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator


class FaultRequest(BaseModel):
    """Body of ``POST /_sim/faults``.

    ``status``: answer the next ``count`` requests with this HTTP status;
    ``delay_s``: wait that long before answering (with ``status`` or ``drop``: then fail);
    ``drop``: close the connection without a complete response;
    ``path``: only requests whose path starts with this (e.g. ``/import``);
    ``expire_tokens``: every token issued so far expires now (no count).
    """

    model_config = ConfigDict(extra="forbid")

    status: int | None = Field(default=None, ge=400, le=599)
    delay_s: float | None = Field(default=None, ge=0, le=3600)
    drop: bool = False
    count: int = Field(default=1, ge=1)
    path: str | None = None
    expire_tokens: bool = False

    @model_validator(mode="after")
    def _something(self) -> FaultRequest:
        if self.status is None and self.delay_s is None and not self.drop and not self.expire_tokens:
            raise ValueError("give at least one of status, delay_s, drop, expire_tokens")
        if self.status is not None and self.drop:
            raise ValueError("status and drop exclude each other")
        return self

    @property
    def per_request(self) -> bool:
        return self.status is not None or self.delay_s is not None or self.drop


class Fault(BaseModel):
    """One pending fault and how many requests it still affects."""

    status: int | None
    delay_s: float | None
    drop: bool
    path: str | None
    remaining: int


class FaultInjector:
    def __init__(self) -> None:
        self._pending: list[Fault] = []
        self._lock = threading.Lock()

    def add(self, request: FaultRequest) -> None:
        if request.per_request:
            with self._lock:
                self._pending.append(Fault(status=request.status, delay_s=request.delay_s, drop=request.drop,
                                           path=request.path, remaining=request.count))

    def take(self, path: str) -> Fault | None:
        """The fault for this request, if any: the oldest pending one that matches."""
        with self._lock:
            for fault in self._pending:
                if fault.path is None or path.startswith(fault.path):
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._pending.remove(fault)
                    return fault
        return None

    def pending(self) -> list[dict[str, Any]]:
        with self._lock:
            return [fault.model_dump() for fault in self._pending]

    def clear(self) -> None:
        with self._lock:
            self._pending.clear()


class RateLimiter:
    """At most ``per_minute`` requests in any 60-second window (0 = unlimited)."""

    WINDOW_S = 60.0

    def __init__(self, per_minute: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._limit = max(1, math.floor(per_minute)) if per_minute > 0 else 0
        self._clock = clock
        self._accepted: deque[float] = deque()
        self._lock = threading.Lock()

    def acquire(self) -> int | None:
        """None if the request may pass (it is counted), else the seconds to wait."""
        if not self._limit:
            return None
        with self._lock:
            now = self._clock()
            while self._accepted and self._accepted[0] <= now - self.WINDOW_S:
                self._accepted.popleft()
            if len(self._accepted) < self._limit:
                self._accepted.append(now)
                return None
            return max(1, math.ceil(self._accepted[0] + self.WINDOW_S - now))

    def reset(self) -> None:
        with self._lock:
            self._accepted.clear()
