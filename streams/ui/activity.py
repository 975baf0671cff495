"""Counts per minute over the last day: commands per casavi entity, receipts per entity and
outcome, and the latency from the ERP's COMMIT to casavi's receipt.

Plain objects fed record by record (``streams.ui.collect`` reads the topics); memory is bounded
by the minutes kept (a day) times the keys (entity and outcome), never by the records.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import get_args

from pydantic import ValidationError

from streams.casavi.models import EntityType
from streams.commands.receipts import Receipt, ReceiptCodecError, decode_receipt
from streams.ui.model import EntityActivity, Series

MINUTE_MS = 60_000
HOUR_MINUTES = 60
DAY_MINUTES = 24 * 60
ENTITIES: tuple[str, ...] = get_args(EntityType)  # every casavi entity the bridge writes
OTHER = "other"  # a command whose key names no known entity


def minute_of(at_ms: int) -> int:
    return at_ms - at_ms % MINUTE_MS


class MinuteCounts:
    """``key -> count`` per minute for the last ``keep_minutes`` minutes."""

    def __init__(self, keep_minutes: int = DAY_MINUTES) -> None:
        self.keep_minutes = keep_minutes
        self._minutes: dict[int, Counter[str]] = {}

    def add(self, at_ms: int, key: str, n: int = 1) -> None:
        self._minutes.setdefault(minute_of(at_ms), Counter())[key] += n

    def prune(self, now_ms: int) -> None:
        oldest = minute_of(now_ms) - (self.keep_minutes - 1) * MINUTE_MS
        for minute in [m for m in self._minutes if m < oldest]:
            del self._minutes[minute]

    def total(self, key: str, now_ms: int, minutes: int) -> int:
        """Count of ``key`` in the current minute and the ``minutes - 1`` before it."""
        oldest = minute_of(now_ms) - (minutes - 1) * MINUTE_MS
        return sum(c[key] for m, c in self._minutes.items() if m >= oldest)

    def per_minute(self, now_ms: int, minutes: int, keys: tuple[str, ...] | None = None) -> list[int]:
        """Counts of ``keys`` (all keys when None) per minute, oldest first, ending with the current minute."""
        current = minute_of(now_ms)
        out = []
        for i in range(minutes - 1, -1, -1):
            counts = self._minutes.get(current - i * MINUTE_MS, Counter())
            out.append(sum(counts.values()) if keys is None else sum(counts[k] for k in keys))
        return out

    def keys(self) -> set[str]:
        return {k for c in self._minutes.values() for k in c}


@dataclass
class _Latency:
    count: int = 0
    total_s: float = 0.0
    max_s: float = 0.0


class MinuteLatency:
    """Mean and largest latency per minute for the last ``keep_minutes`` minutes."""

    def __init__(self, keep_minutes: int = HOUR_MINUTES) -> None:
        self.keep_minutes = keep_minutes
        self._minutes: dict[int, _Latency] = {}

    def add(self, at_ms: int, latency_s: float) -> None:
        m = self._minutes.setdefault(minute_of(at_ms), _Latency())
        m.count += 1
        m.total_s += latency_s
        m.max_s = max(m.max_s, latency_s)

    def prune(self, now_ms: int) -> None:
        oldest = minute_of(now_ms) - (self.keep_minutes - 1) * MINUTE_MS
        for minute in [m for m in self._minutes if m < oldest]:
            del self._minutes[minute]

    def series(self, now_ms: int, minutes: int) -> tuple[list[float | None], list[float | None]]:
        """(mean, max) per minute, oldest first; None for a minute without receipts."""
        current = minute_of(now_ms)
        means: list[float | None] = []
        maxima: list[float | None] = []
        for i in range(minutes - 1, -1, -1):
            m = self._minutes.get(current - i * MINUTE_MS)
            means.append(round(m.total_s / m.count, 3) if m and m.count else None)
            maxima.append(round(m.max_s, 3) if m and m.count else None)
        return means, maxima


def entity_of_key(key: bytes | None) -> str:
    """The casavi entity of a commands-topic key (the slot ``<entity>:<reference id>``)."""
    try:
        entity = (key or b"").decode().split(":", 1)[0]
    except UnicodeDecodeError:
        return OTHER
    return entity if entity in ENTITIES else OTHER


APPLIED = "applied"  # applied, or applied without per-item results from casavi (unconfirmed)
FAILED = "failed"


class Activity:
    """What the commands and receipts topics say about the last hour and day, for one casavi system."""

    def __init__(self, system: str) -> None:
        self.system = system
        self.commands = MinuteCounts()
        self.outcomes = MinuteCounts()  # "<entity>:applied" / "<entity>:failed"
        self.latency = MinuteLatency()
        self.unreadable_receipts = 0

    def command(self, key: bytes | None, at_ms: int) -> None:
        """One record of the commands topic (its key and the time Kafka has for it)."""
        self.commands.add(at_ms, entity_of_key(key))

    def receipt(self, value: bytes | None, at_ms: int) -> None:
        """One record of the receipts topic; ``at_ms``: when the sink wrote it (after casavi answered)."""
        if value is None:
            return
        try:
            receipt: Receipt = decode_receipt(value)
        except (ReceiptCodecError, ValidationError):
            self.unreadable_receipts += 1
            return
        if receipt.system != self.system:
            return
        outcome = FAILED if receipt.status == "failed" else APPLIED
        self.outcomes.add(at_ms, f"{receipt.entity}:{outcome}")
        if outcome == APPLIED and receipt.source_ts_ms is not None:
            self.latency.add(at_ms, max(at_ms - receipt.source_ts_ms, 0) / 1000)

    def prune(self, now_ms: int) -> None:
        self.commands.prune(now_ms)
        self.outcomes.prune(now_ms)
        self.latency.prune(now_ms)

    def entities(self, now_ms: int) -> list[EntityActivity]:
        seen = {k.split(":", 1)[0] for k in self.outcomes.keys()} | self.commands.keys()
        names = [*ENTITIES, *sorted(seen - set(ENTITIES))]
        out = []
        for e in names:
            out.append(EntityActivity(
                entity=e,
                commands_hour=self.commands.total(e, now_ms, HOUR_MINUTES),
                commands_day=self.commands.total(e, now_ms, DAY_MINUTES),
                applied_hour=self.outcomes.total(f"{e}:{APPLIED}", now_ms, HOUR_MINUTES),
                applied_day=self.outcomes.total(f"{e}:{APPLIED}", now_ms, DAY_MINUTES),
                failed_hour=self.outcomes.total(f"{e}:{FAILED}", now_ms, HOUR_MINUTES),
                failed_day=self.outcomes.total(f"{e}:{FAILED}", now_ms, DAY_MINUTES),
            ))
        return out

    def series(self, now_ms: int, minutes: int = HOUR_MINUTES) -> tuple[list[Series], list[Series]]:
        """(changes per minute: commands and applied, latency: mean and max) over the last ``minutes``."""
        applied_keys = tuple(f"{e}:{APPLIED}" for e in {k.split(":", 1)[0] for k in self.outcomes.keys()})
        changes = [
            Series(name="commands", unit="per minute",
                   points=[float(n) for n in self.commands.per_minute(now_ms, minutes)]),
            Series(name="applied in casavi", unit="per minute",
                   points=[float(n) for n in self.outcomes.per_minute(now_ms, minutes, applied_keys)]),
        ]
        means, maxima = self.latency.series(now_ms, minutes)
        latency = [Series(name="mean", unit="s", points=means), Series(name="max", unit="s", points=maxima)]
        return changes, latency
