"""The protocol page's figures: counts per minute and entity from the commands and receipts
topics, dead letters by reason with their command, rates and time left, records per minute
from offsets (pure parts, no Kafka)."""

from __future__ import annotations

import shlex
from collections.abc import Collection

from streams.commands.model import CasaviCommand, DeadLetter
from streams.commands.receipts import Receipt
from streams.ui.activity import DAY_MINUTES, MINUTE_MS, Activity, MinuteCounts, entity_of_key
from streams.ui.letters import OTHER_REASONS, LetterBook, command_for
from streams.ui.rates import RateMeter, TopicMinutes

NOW_MS = 1_790_000_000_000 - 1_790_000_000_000 % MINUTE_MS + 30_000  # half a minute into a minute
HOUR_MS = 60 * MINUTE_MS


def receipt(entity: str, status: str, *, system: str = "test", source_ts_ms: int | None = None) -> bytes:
    command = CasaviCommand.upsert(entity, "R1", {"id": "R1"}, source_ts_ms=source_ts_ms)  # type: ignore[arg-type]
    return Receipt.of(command, system, status, NOW_MS).encode()  # type: ignore[arg-type]


def test_minute_counts_split_hour_and_day_and_forget_older() -> None:
    counts = MinuteCounts()
    counts.add(NOW_MS, "unit")
    counts.add(NOW_MS - 59 * MINUTE_MS, "unit")  # still in the last hour (current minute and 59 before)
    counts.add(NOW_MS - 60 * MINUTE_MS, "unit")  # an hour ago: the day only
    counts.add(NOW_MS - DAY_MINUTES * MINUTE_MS, "unit")  # older than a day
    assert counts.total("unit", NOW_MS, 60) == 2
    assert counts.total("unit", NOW_MS, DAY_MINUTES) == 3
    counts.prune(NOW_MS)
    assert counts.total("unit", NOW_MS, 10 * DAY_MINUTES) == 3
    assert counts.per_minute(NOW_MS, 3) == [0, 0, 1]


def test_entity_is_read_from_the_slot_key() -> None:
    assert entity_of_key(b"contract:7001-E801-0001-V1") == "contract"
    assert entity_of_key(b"nonsense") == "other"
    assert entity_of_key(None) == "other"
    assert entity_of_key(b"\xff\xfe") == "other"


def test_activity_counts_commands_applied_and_failed_per_entity() -> None:
    activity = Activity("test")
    for _ in range(3):
        activity.command(b"contact:K1", NOW_MS)
    activity.command(b"unit:U1", NOW_MS - 2 * HOUR_MS)
    activity.receipt(receipt("contact", "applied"), NOW_MS)
    activity.receipt(receipt("contact", "unconfirmed"), NOW_MS)  # applied, casavi gave no per-item result
    activity.receipt(receipt("contact", "failed"), NOW_MS - 2 * HOUR_MS)
    activity.receipt(receipt("contact", "applied", system="production"), NOW_MS)  # another casavi system (R22)
    activity.receipt(b"not a receipt", NOW_MS)
    activity.receipt(None, NOW_MS)  # a tombstone
    rows = {e.entity: e for e in activity.entities(NOW_MS)}
    assert list(rows)[:6] == ["contact", "property", "unit", "contract", "staff", "responsibility"]
    assert {"document", "ticket", "post", "comment", "attachment"} <= set(rows)  # every casavi entity, sent or not
    contact = rows["contact"]
    assert (contact.commands_hour, contact.commands_day) == (3, 3)
    assert (contact.applied_hour, contact.applied_day, contact.failed_hour, contact.failed_day) == (2, 2, 0, 1)
    assert (rows["unit"].commands_hour, rows["unit"].commands_day) == (0, 1)
    assert activity.unreadable_receipts == 1


def test_latency_is_receipt_time_minus_the_erp_commit() -> None:
    activity = Activity("test")
    activity.receipt(receipt("unit", "applied", source_ts_ms=NOW_MS - 2_000), NOW_MS)
    activity.receipt(receipt("unit", "applied", source_ts_ms=NOW_MS - 4_000), NOW_MS)
    activity.receipt(receipt("unit", "failed", source_ts_ms=NOW_MS - 60_000), NOW_MS)  # not applied: no latency
    activity.receipt(receipt("unit", "applied"), NOW_MS)  # no commit time (a reconcile's delete)
    changes, (mean, largest) = activity.series(NOW_MS, 5)
    assert mean.points == [None, None, None, None, 3.0] and largest.points == [None, None, None, None, 4.0]
    assert [s.name for s in changes] == ["commands", "applied in casavi"]
    assert changes[1].points[-1] == 3.0


def letter(stage: str = "sink", code: str = "INVALID_FIELD", ref: str | None = "E803-1", at_ms: int = NOW_MS,
           reason: str = "email: not an e-mail address", table: str | None = None) -> bytes:
    return DeadLetter(stage=stage, reason=reason, error_code=code, topic="casavi.commands", partition=0,  # type: ignore[arg-type]
                      offset=3, entity="contact" if ref else None, reference_id=ref, table=table, key="k" if table else None,
                      at_ms=at_ms).model_dump_json().encode()


def test_letters_grouped_by_reason_with_the_command_to_copy() -> None:
    book = LetterBook(since_ms=NOW_MS - 7 * DAY_MINUTES * MINUTE_MS)
    book.add(0, 1, letter(ref="E803-1", at_ms=NOW_MS - 2 * HOUR_MS), NOW_MS)
    book.add(0, 2, letter(ref="E803-2"), NOW_MS)
    book.add(0, 3, letter(stage="decode", code="", ref=None, table="person", reason="not a Debezium envelope"), NOW_MS)
    book.add(0, 4, b"\x00garbage", NOW_MS)
    summary = book.summary(NOW_MS)
    assert (summary.total, summary.last_hour, summary.last_day, summary.unreadable) == (3, 2, 3, 1)
    sink, decode = summary.groups[0], summary.groups[1]
    assert (sink.stage, sink.reason, sink.count) == ("sink", "INVALID_FIELD", 2)
    assert sink.latest == ["contact:E803-2", "contact:E803-1"]  # newest first
    assert sink.redrivable and sink.command == "bridge dlq redrive --stage sink --reason INVALID_FIELD"
    assert not decode.redrivable and decode.latest == ["person key k casavi.commands[0]@3"]
    assert decode.command == 'bridge dlq show --stage decode --reason "not a Debezium envelope"'


def test_letters_of_too_many_reasons_share_one_group() -> None:
    book = LetterBook(since_ms=0, max_groups=2, latest=1)
    for i in range(5):
        book.add(0, i, letter(code=f"CODE_{i}"), NOW_MS)
    groups = book.summary(NOW_MS).groups
    assert [(g.reason, g.count) for g in groups][-1] == (OTHER_REASONS, 3)
    assert groups[-1].command == "" and all(len(g.latest) == 1 for g in groups)


def test_command_quotes_reasons_for_the_shell() -> None:
    for reason in ("it's $HOME", "unsupported op 'x'", 'a "b" `c` \\ !', "MISSING_REFERENCE"):
        assert shlex.split(command_for("fold", reason, False))[-1] == reason
    assert command_for("sink", "MISSING_REFERENCE", True).endswith("--reason MISSING_REFERENCE")
    assert command_for("decode", "unsupported op 'x'", False).endswith('--reason "unsupported op \'x\'"')


def test_rate_over_the_window_and_a_restart_of_the_count() -> None:
    meter = RateMeter(window_s=60)
    assert meter.rate() is None
    meter.observe(0.0, 100)
    meter.observe(0.5, 150)
    assert meter.rate() is None  # less than a second apart
    meter.observe(10.0, 1100)
    assert meter.rate() == 100.0
    for t in range(11, 200):
        meter.observe(float(t), 1100 + (t - 10) * 10)
    assert meter.rate() == 10.0  # the last minute only
    meter.observe(200.0, 0)  # a replay moved the offsets back
    assert meter.rate() is None


def test_topic_minutes_from_offsets_ask_each_past_minute_once() -> None:
    start = NOW_MS - NOW_MS % MINUTE_MS
    offsets = {start - 2 * MINUTE_MS: 10, start - MINUTE_MS: 15, start: 40}  # first offset at or after each minute
    asked: list[int] = []

    def offsets_at(ms: int, partitions: Collection[str]) -> dict[str, int]:
        asked.append(ms)
        return {p: offsets[ms] for p in partitions}

    minutes = TopicMinutes(offsets_at)
    assert minutes.per_minute(NOW_MS, 3, ["t-0"], {"t-0": 42}) == [5, 25, 2]
    assert minutes.per_minute(NOW_MS, 3, ["t-0"], {"t-0": 50}) == [5, 25, 10]
    assert sorted(asked) == sorted(offsets)  # cached: past minutes never change
