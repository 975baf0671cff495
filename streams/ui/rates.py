"""Rates from samples: how fast a count moves (records read, commands applied, entities read
back) and when it reaches its total; and records per minute of a set of topics from their
offsets, without reading a record.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Collection, Mapping
from typing import Generic, TypeVar

from streams.ui.activity import MINUTE_MS, minute_of
from streams.ui.model import Progress

P = TypeVar("P")


class RateMeter:
    """The rate of a growing count over the last ``window_s`` seconds, and the time to its total.
    A count that goes back (a replay moved the offsets back) starts the measurement anew."""

    def __init__(self, window_s: float = 60.0) -> None:
        self.window_s = window_s
        self._samples: deque[tuple[float, int]] = deque()

    def observe(self, at_s: float, done: int) -> None:
        if self._samples and done < self._samples[-1][1]:
            self._samples.clear()
        self._samples.append((at_s, done))
        while len(self._samples) > 2 and at_s - self._samples[1][0] >= self.window_s:
            self._samples.popleft()

    def rate(self) -> float | None:
        """Per second; None until two samples at least a second apart."""
        if len(self._samples) < 2:
            return None
        (t0, d0), (t1, d1) = self._samples[0], self._samples[-1]
        if t1 - t0 < 1.0:
            return None
        return (d1 - d0) / (t1 - t0)

    def progress(self, job: str, done: int, total: int | None, unit: str) -> Progress:
        rate = self.rate()
        eta = None
        if total is not None and rate:
            eta = max(total - done, 0) / rate if rate > 0 else None
        return Progress(job=job, done=done, total=total, unit=unit,
                        rate_per_s=round(rate, 1) if rate is not None else None,
                        eta_s=round(eta, 1) if eta is not None else None)


class TopicMinutes(Generic[P]):
    """Records per minute of some topic partitions, from their offsets at each minute's start.

    ``offsets_at(ms, partitions)`` answers, per partition, the offset of the first record at or
    after ``ms`` (the end offset when there is none): Kafka's ListOffsets by time. The offsets
    of a minute that has passed never change, so each is asked once per partition.
    """

    def __init__(self, offsets_at: Callable[[int, Collection[P]], Mapping[P, int]]) -> None:
        self._offsets_at = offsets_at
        self._cache: dict[int, dict[P, int]] = {}  # minute start -> partition -> offset

    def per_minute(self, now_ms: int, minutes: int, partitions: Collection[P], end: Mapping[P, int]) -> list[int]:
        """Records per minute, oldest first, ending with the current minute (``end``: the end offsets now)."""
        current = minute_of(now_ms)
        starts = [current - i * MINUTE_MS for i in range(minutes - 1, -1, -1)]
        for start in [s for s in list(self._cache) if s < starts[0]]:
            del self._cache[start]
        at_start = {start: self._at(start, partitions) for start in starts}
        counts = []
        for i, start in enumerate(starts):
            upper = at_start[starts[i + 1]] if i + 1 < len(starts) else end
            counts.append(sum(max(upper.get(p, 0) - at_start[start].get(p, 0), 0) for p in partitions))
        return counts

    def _at(self, start_ms: int, partitions: Collection[P]) -> dict[P, int]:
        known = self._cache.setdefault(start_ms, {})
        missing = [p for p in partitions if p not in known]
        if missing:
            known.update(self._offsets_at(start_ms, missing))
        return known
