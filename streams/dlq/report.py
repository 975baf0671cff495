"""Filtering and grouping of dead letters, and which of them a redrive can repair (pure)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Protocol, TypeVar

from streams.commands.model import DeadLetter

_DURATION = re.compile(r"^(\d+)\s*([smhd])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_since(text: str, now: float | None = None) -> int:
    """``--since``: an ISO-8601 time (a time without zone is UTC) or a duration back from now
    (``30m``, ``24h``, ``7d``) → epoch milliseconds."""
    match = _DURATION.match(text.strip())
    if match:
        seconds = int(match.group(1)) * _UNIT_S[match.group(2)]
        return int(((time.time() if now is None else now) - seconds) * 1000)
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"--since {text!r}: give an ISO-8601 time or a duration like 30m, 24h, 7d") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(moment.timestamp() * 1000)


@dataclass(frozen=True)
class Unreadable:
    """A DLQ record that is not a dead letter (written by something else, or damaged).
    Only where it sits and when Kafka took it are kept, never its content."""

    partition: int
    offset: int
    at_ms: int = 0


def parse_record(partition: int, offset: int, value: bytes | None,
                 timestamp_ms: int | None = None) -> DeadLetter | Unreadable:
    """A DLQ record's value as a dead letter, or where the unreadable record sits."""
    try:
        return DeadLetter.model_validate_json(value or b"")
    except ValueError:
        return Unreadable(partition, offset, max(timestamp_ms or 0, 0))


@dataclass(frozen=True)
class Filter:
    since_ms: int | None = None
    reason: str | None = None  # substring of the reason or the error code, case-insensitive
    stage: str | None = None

    def __call__(self, letter: DeadLetter) -> bool:
        if self.since_ms is not None and letter.at_ms < self.since_ms:
            return False
        if self.stage is not None and letter.stage != self.stage:
            return False
        if self.reason is not None:
            needle = self.reason.lower()
            return needle in letter.reason.lower() or needle in letter.error_code.lower()
        return True

    def admits(self, record: Unreadable) -> bool:
        """An unreadable record has no stage or reason: it is selected by time only, and
        not when a stage or a reason is asked for."""
        if self.stage is not None or self.reason is not None:
            return False
        return self.since_ms is None or record.at_ms >= self.since_ms


def reason_of(letter: DeadLetter) -> str:
    """What groups letters: casavi's error code, else the reason's first 80 characters."""
    return letter.error_code or letter.reason[:80]


@dataclass
class Group:
    stage: str
    reason: str
    count: int = 0
    first_ms: int = 0
    last_ms: int = 0


def group(letters: Iterable[DeadLetter]) -> list[Group]:
    """Letters counted by (stage, reason), most frequent first."""
    groups: dict[tuple[str, str], Group] = {}
    for letter in letters:
        g = groups.setdefault((letter.stage, reason_of(letter)),
                              Group(letter.stage, reason_of(letter), 0, letter.at_ms, letter.at_ms))
        g.count += 1
        g.first_ms = min(g.first_ms, letter.at_ms)
        g.last_ms = max(g.last_ms, letter.at_ms)
    return sorted(groups.values(), key=lambda g: (-g.count, g.stage, g.reason))


class _Timed(Protocol):
    @property
    def at_ms(self) -> int: ...


Entry = TypeVar("Entry", bound=_Timed)


def newest(entries: Iterable[Entry], limit: int) -> list[Entry]:
    """The ``limit`` newest entries, oldest first (newest last); equal times keep the topic's order."""
    if limit <= 0:
        return []
    return sorted(entries, key=lambda e: e.at_ms)[-limit:]


def slot_of(letter: DeadLetter) -> str | None:
    """The casavi slot a letter names, if any."""
    if letter.entity and letter.reference_id:
        return f"{letter.entity}:{letter.reference_id}"
    return None


def source_of(letter: DeadLetter) -> str:
    """Where the record the letter is about sits: ``topic[partition]@offset``."""
    return f"{letter.topic}[{letter.partition}]@{letter.offset}" if letter.topic else "-"


def place_of(letter: DeadLetter) -> str:
    """What a letter is about: its casavi slot, else its ERP table and key, else its source record."""
    slot = slot_of(letter)
    if slot:
        return slot
    if letter.table:
        return f"{letter.table} key {letter.key}" if letter.key else letter.table
    return letter.key or source_of(letter)


@dataclass
class RedrivePlan:
    slots: list[str] = field(default_factory=list)  # distinct, in the order first named
    without_slot: list[DeadLetter] = field(default_factory=list)  # decode/fold letters: the row's next change

    def places_without_slot(self) -> dict[str, int]:
        """Letters without a slot, counted by table and key (by source record when they name neither)."""
        places: dict[str, int] = {}
        for letter in self.without_slot:
            where = place_of(letter)
            places[where] = places.get(where, 0) + 1
        return places


def redrive_plan(letters: Sequence[DeadLetter]) -> RedrivePlan:
    plan = RedrivePlan()
    seen: set[str] = set()
    for letter in letters:
        slot = slot_of(letter)
        if slot is None:
            plan.without_slot.append(letter)
        elif slot not in seen:
            seen.add(slot)
            plan.slots.append(slot)
    return plan


def slots_to_redrive(letters: Sequence[DeadLetter]) -> list[str]:
    """The distinct casavi slots the letters name, in the order first named."""
    return redrive_plan(letters).slots
