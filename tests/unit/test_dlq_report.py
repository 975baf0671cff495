"""``bridge dlq``: filtering, grouping and the redrive plan of dead letters (pure parts)."""

from __future__ import annotations

import pytest

from streams.commands.model import DeadLetter
from streams.dlq.report import Filter, group, parse_since, redrive_plan

NOW = 1_790_000_000.0


def letter(stage: str = "sink", code: str = "INVALID_FIELD", at_s: float = NOW, entity: str | None = "contact",
           ref: str | None = "K1", reason: str = "email: not an e-mail address") -> DeadLetter:
    return DeadLetter(stage=stage, reason=reason, error_code=code, topic="casavi.commands", partition=0, offset=7,
                      entity=entity, reference_id=ref, at_ms=int(at_s * 1000))  # type: ignore[arg-type]


def test_since_takes_durations_and_iso_times() -> None:
    assert parse_since("24h", now=NOW) == int((NOW - 86400) * 1000)
    assert parse_since("30m", now=NOW) == int((NOW - 1800) * 1000)
    assert parse_since("2026-11-20T08:00:00") == parse_since("2026-11-20T08:00:00+00:00")
    with pytest.raises(ValueError, match="duration like"):
        parse_since("yesterday")


def test_filter_by_time_stage_and_reason() -> None:
    old, new = letter(at_s=NOW - 7200), letter(at_s=NOW)
    fold = letter(stage="fold", code="", reason="contract 4711: end before start", entity=None, ref=None)
    assert [x for x in (old, new, fold) if Filter(since_ms=int((NOW - 3600) * 1000))(x)] == [new, fold]
    assert [x for x in (old, new, fold) if Filter(stage="fold")(x)] == [fold]
    assert [x for x in (old, new, fold) if Filter(reason="invalid_field")(x)] == [old, new]
    assert [x for x in (old, new, fold) if Filter(reason="END BEFORE")(x)] == [fold]


def test_grouped_by_stage_and_error_code_most_frequent_first() -> None:
    letters = [letter(at_s=NOW - 10), letter(at_s=NOW), letter(code="MISSING_REFERENCE", entity="contract", ref="C1"),
               letter(stage="decode", code="", reason="x" * 200, entity=None, ref=None)]
    groups = group(letters)
    assert [(g.stage, g.reason, g.count) for g in groups][:1] == [("sink", "INVALID_FIELD", 2)]
    assert groups[0].first_ms == int((NOW - 10) * 1000) and groups[0].last_ms == int(NOW * 1000)
    assert {len(g.reason) for g in groups if g.stage == "decode"} == {80}


def test_redrive_names_each_slot_once_and_keeps_cdc_letters_apart() -> None:
    decode = letter(stage="decode", code="", entity=None, ref=None)
    plan = redrive_plan([letter(), letter(), letter(entity="contract", ref="C1"), decode])
    assert plan.slots == ["contact:K1", "contract:C1"] and plan.without_slot == [decode]
