"""``LetterBook``: the dead letters grouped by stage and reason, as ``bridge dlq list`` groups
them, with what the newest letters of each group name and the command an operator copies.

Fed record by record from the DLQ topic; memory is bounded: at most ``max_groups`` groups
(letters of further reasons are counted under one "other reasons" group) and ``latest`` places
per group.
"""

from __future__ import annotations

import re
import shlex
from collections import deque
from dataclasses import dataclass, field

from streams.commands.model import DeadLetter
from streams.dlq.report import Unreadable, parse_record, place_of, reason_of, slot_of, source_of
from streams.ui.activity import DAY_MINUTES, HOUR_MINUTES, MinuteCounts
from streams.ui.model import LetterGroup, Letters

OTHER_REASONS = "(other reasons)"


_PLAIN = re.compile(r"^[A-Za-z0-9_.:/=+-]+$")
_SHELL_SPECIAL = set('"$`\\!')


def shell_word(text: str) -> str:
    """``text`` as one shell word, as a person would type it: bare, in double quotes, or quoted
    the safe way when it holds characters the shell would expand."""
    if _PLAIN.match(text):
        return text
    if not _SHELL_SPECIAL & set(text):
        return f'"{text}"'
    return shlex.quote(text)


def command_for(stage: str, reason: str, redrivable: bool) -> str:
    """What an operator runs for a group: the redrive of the slots its letters name (after the
    cause is fixed), or, for letters naming a CDC record, the list of them."""
    verb = "redrive" if redrivable else "show"
    return f"bridge dlq {verb} --stage {stage} --reason {shell_word(reason)}"


def named(letter: DeadLetter) -> str:
    """What a letter names: its casavi slot, else its ERP table and key with the CDC record it sits at."""
    place = place_of(letter)
    if slot_of(letter) is None and letter.topic and place != source_of(letter):
        return f"{place} {source_of(letter)}"
    return place


@dataclass
class _Group:
    stage: str
    reason: str
    count: int = 0
    first_ms: int = 0
    last_ms: int = 0
    redrivable: bool = False
    latest: deque[str] = field(default_factory=deque)


class LetterBook:
    def __init__(self, since_ms: int, max_groups: int = 50, latest: int = 5) -> None:
        self.since_ms = since_ms  # the DLQ was read from this time on
        self.max_groups = max_groups
        self.latest = latest
        self.groups: dict[tuple[str, str], _Group] = {}
        self.unreadable = 0
        self.times = MinuteCounts()

    def add(self, partition: int, offset: int, value: bytes | None, timestamp_ms: int) -> None:
        """One record of the DLQ topic."""
        parsed = parse_record(partition, offset, value, timestamp_ms)
        if isinstance(parsed, Unreadable):
            self.unreadable += 1
            return
        self.letter(parsed)

    def letter(self, letter: DeadLetter) -> None:
        key: tuple[str, str] = (letter.stage, reason_of(letter))
        group = self.groups.get(key)
        if group is None:
            if len(self.groups) >= self.max_groups:
                key = ("", OTHER_REASONS)
                group = self.groups.setdefault(key, _Group("", OTHER_REASONS, first_ms=letter.at_ms))
            else:
                group = self.groups[key] = _Group(*key, first_ms=letter.at_ms)
        group.count += 1
        group.first_ms = min(group.first_ms, letter.at_ms)
        group.last_ms = max(group.last_ms, letter.at_ms)
        group.redrivable = group.redrivable or slot_of(letter) is not None
        group.latest.appendleft(named(letter))
        while len(group.latest) > self.latest:
            group.latest.pop()
        self.times.add(letter.at_ms, "letter")

    def summary(self, now_ms: int) -> Letters:
        self.times.prune(now_ms)
        ordered = sorted(self.groups.values(), key=lambda g: (g.reason == OTHER_REASONS, -g.last_ms))
        groups = [LetterGroup(stage=g.stage, reason=g.reason, count=g.count, first_ms=g.first_ms, last_ms=g.last_ms,
                              latest=list(g.latest), redrivable=g.redrivable,
                              command="" if g.reason == OTHER_REASONS else command_for(g.stage, g.reason, g.redrivable))
                  for g in ordered]
        return Letters(since_ms=self.since_ms, total=sum(g.count for g in self.groups.values()),
                       last_hour=self.times.total("letter", now_ms, HOUR_MINUTES),
                       last_day=self.times.total("letter", now_ms, DAY_MINUTES),
                       unreadable=self.unreadable, groups=groups)
