"""``bridge dlq list | show | redrive`` against a DLQ held in memory: unreadable records,
``--limit``, what a redrive sends to the control topic, and that only dead-letter fields are printed."""

from __future__ import annotations

import json
from typing import Any

import pytest
from kafka.errors import KafkaConnectionError

from streams.cli import build_parser
from streams.commands.model import DeadLetter
from streams.dlq import cli
from streams.dlq.report import (Filter, Unreadable, newest, parse_record, place_of, redrive_plan,
                                slots_to_redrive, source_of)
from streams.settings import BridgeSettings, KafkaSettings
from streams.worker.control import REDRIVE_CHUNK, redrive_records

NOW_MS = 1_790_000_000_000


def sink(ref: str = "K1", code: str = "INVALID_FIELD", at_ms: int = NOW_MS, entity: str = "contact",
         offset: int = 7) -> DeadLetter:
    return DeadLetter(stage="sink", reason="email: not an e-mail address", error_code=code, topic="casavi.commands",
                      partition=0, offset=offset, entity=entity, reference_id=ref, key=f"{entity}:{ref}",
                      at_ms=at_ms)


def fold(key: str | None = None, at_ms: int = NOW_MS) -> DeadLetter:
    return DeadLetter(stage="fold", reason="contract 4711: end before start", error_code="INVALID_ROW",
                      topic="erp.erp.contract", partition=1, offset=42, table="contract", key=key, at_ms=at_ms)


def decode(offset: int = 3, at_ms: int = NOW_MS) -> DeadLetter:
    return DeadLetter(stage="decode", reason="not a Debezium envelope", topic="erp.erp.person", partition=0,
                      offset=offset, at_ms=at_ms)


# --- reading records ---------------------------------------------------------------------


def test_a_dead_letter_record_is_read_back() -> None:
    letter = sink()
    assert parse_record(0, 5, letter.model_dump_json().encode(), NOW_MS) == letter


@pytest.mark.parametrize("value", [None, b"", b"\xff\xfe", b"not json", b"[1, 2]", b"null",
                                   b'{"stage": "elsewhere", "reason": "x", "topic": "t", "partition": 0, "offset": 1}',
                                   b'{"stage": "sink"}'])
def test_a_record_that_is_not_a_dead_letter_is_unreadable_with_its_place(value: bytes | None) -> None:
    assert parse_record(2, 99, value, NOW_MS) == Unreadable(2, 99, NOW_MS)


def test_an_unreadable_record_without_timestamp_has_time_zero() -> None:
    assert parse_record(0, 1, b"x", -1) == Unreadable(0, 1, 0)
    assert parse_record(0, 1, b"x", None) == Unreadable(0, 1, 0)


# --- pure parts ----------------------------------------------------------------------------


def test_unreadable_records_are_selected_by_time_only() -> None:
    old, new = Unreadable(0, 1, NOW_MS - 10_000), Unreadable(0, 2, NOW_MS)
    assert [u for u in (old, new) if Filter()(sink()) and Filter().admits(u)] == [old, new]
    assert [u for u in (old, new) if Filter(since_ms=NOW_MS - 1).admits(u)] == [new]
    assert not Filter(stage="sink").admits(new) and not Filter(reason="INVALID").admits(new)


def test_newest_keeps_the_last_n_newest_last_and_the_topic_order_on_ties() -> None:
    a, b, c, d = sink("A", at_ms=NOW_MS + 2), sink("B", at_ms=NOW_MS), sink("C", at_ms=NOW_MS), sink("D", at_ms=1)
    assert newest([a, b, c, d], 3) == [b, c, a]
    assert newest([a, b, c, d], 50) == [d, b, c, a]
    assert newest([a, b], 0) == [] and newest([a, b], -1) == []
    u = Unreadable(0, 9, NOW_MS + 1)
    assert newest([a, b, u], 2) == [u, a]


def test_place_and_source_name_the_slot_or_the_table_and_key_or_the_record() -> None:
    assert place_of(sink()) == "contact:K1" and source_of(sink()) == "casavi.commands[0]@7"
    assert place_of(fold("4711")) == "contract key 4711" and place_of(fold()) == "contract"
    assert place_of(decode()) == "erp.erp.person[0]@3"
    project = DeadLetter(stage="project", reason="too large", error_code="TOO_LARGE", topic="", partition=-1,
                         offset=-1, entity="unit", reference_id="U1", at_ms=NOW_MS)
    assert place_of(project) == "unit:U1" and source_of(project) == "-"


def test_slots_are_named_once_and_letters_without_slot_counted_by_place() -> None:
    letters = [sink("K1"), sink("K2"), sink("K1", code="MISSING_REFERENCE"), fold("4711"), fold("4711"), decode()]
    assert slots_to_redrive(letters) == ["contact:K1", "contact:K2"]
    plan = redrive_plan(letters)
    assert plan.places_without_slot() == {"contract key 4711": 2, "erp.erp.person[0]@3": 1}


def test_redrive_records_hold_at_most_10000_slots_each() -> None:
    slots = [f"contact:K{i}" for i in range(REDRIVE_CHUNK + 1)]
    records = redrive_records(slots, cli.REDRIVE_REASON)
    assert [key for key, _ in records] == [b"redrive", b"redrive"]
    docs = [json.loads(value) for _, value in records]
    assert [len(d["slots"]) for d in docs] == [REDRIVE_CHUNK, 1]
    assert [s for d in docs for s in d["slots"]] == slots
    assert all(d["kind"] == "redrive" and d["reason"] == "dlq redrive" and isinstance(d["at"], float) for d in docs)


# --- the commands against a DLQ in memory ----------------------------------------------------


class Dlq:
    def __init__(self, letters: list[DeadLetter], unreadable: list[Unreadable] | None = None) -> None:
        self.letters, self.unreadable = letters, unreadable or []
        self.sent: list[tuple[str, bytes, bytes]] = []
        self.read_from: list[KafkaSettings] = []

    def read(self, kafka: KafkaSettings, timeout_s: float = 300.0) -> tuple[list[DeadLetter], list[Unreadable]]:
        self.read_from.append(kafka)
        return list(self.letters), list(self.unreadable)

    def send(self, kafka: KafkaSettings, records: list[tuple[bytes, bytes]], client_id: str) -> None:
        self.sent += [(kafka.ticks_topic, key, value) for key, value in records]


@pytest.fixture
def settings() -> BridgeSettings:
    return BridgeSettings(kafka=KafkaSettings(bootstrap_servers="kafka:9092", dlq_topic="ops.dlq",
                                              ticks_topic="ops.ticks"))


def run(dlq: Dlq, monkeypatch: pytest.MonkeyPatch, settings: BridgeSettings, *argv: str) -> int:
    monkeypatch.setattr(cli, "read_dlq", dlq.read)
    monkeypatch.setattr(cli, "send_control", dlq.send)
    args = build_parser().parse_args(["dlq", *argv])
    code: int = args.handler(args, settings)
    return code


def test_list_counts_by_stage_and_code_with_total_and_unreadable(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], settings: BridgeSettings) -> None:
    dlq = Dlq([sink("K1", at_ms=NOW_MS - 60_000), sink("K2"), fold("4711")], [Unreadable(0, 11, NOW_MS)])
    assert run(dlq, monkeypatch, settings, "list") == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1].split()[:2] == ["2", "sink"] and out[1].endswith("INVALID_FIELD")
    assert out[2].split()[:2] == ["1", "fold"]
    assert out[-1].startswith("3 dead letters in ops.dlq, 1 unreadable records")
    assert dlq.read_from == [settings.kafka]

    assert run(dlq, monkeypatch, settings, "list", "--json", "--stage", "sink") == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed["total"] == 2 and listed["unreadable"] == 0
    assert listed["groups"] == [{"stage": "sink", "reason": "INVALID_FIELD", "count": 2,
                                 "first_ms": NOW_MS - 60_000, "last_ms": NOW_MS}]


def test_show_prints_the_newest_letters_and_unreadable_records_newest_last(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], settings: BridgeSettings) -> None:
    dlq = Dlq([sink("K1", at_ms=NOW_MS), fold("4711", at_ms=NOW_MS - 5_000), decode(at_ms=NOW_MS - 9_000)],
              [Unreadable(0, 11, NOW_MS + 1_000)])
    assert run(dlq, monkeypatch, settings, "show") == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[2] for line in lines] == ["decode", "fold", "sink", "-"]
    assert "erp.erp.person[0]@3" in lines[0] and "not a Debezium envelope" in lines[0]
    assert "contract key 4711" in lines[1] and "erp.erp.contract[1]@42" in lines[1]
    assert "INVALID_FIELD" in lines[2] and "contact:K1" in lines[2] and "casavi.commands[0]@7" in lines[2]
    assert "unreadable" in lines[3] and "ops.dlq[0]@11" in lines[3]

    assert run(dlq, monkeypatch, settings, "show", "--limit", "2") == 0
    lines = capsys.readouterr().out.splitlines()
    assert "contact:K1" in lines[0] and "unreadable" in lines[1]
    assert lines[2] == "the newest 2 of 4 records in ops.dlq (--limit)"


def test_show_json_holds_only_dead_letter_fields(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], settings: BridgeSettings) -> None:
    dlq = Dlq([sink(), fold("4711")], [Unreadable(0, 11, NOW_MS)])
    assert run(dlq, monkeypatch, settings, "show", "--json", "--reason", "invalid_field") == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["unreadable"] == [] and len(shown["letters"]) == 1
    assert set(shown["letters"][0]) == set(DeadLetter.model_fields)
    assert run(dlq, monkeypatch, settings, "show", "--json") == 0
    assert json.loads(capsys.readouterr().out)["unreadable"] == [{"partition": 0, "offset": 11, "at_ms": NOW_MS}]


def test_redrive_sends_each_named_slot_once_to_the_control_topic(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], settings: BridgeSettings) -> None:
    dlq = Dlq([sink("K1"), sink("K1"), sink("C1", entity="contract", code="MISSING_REFERENCE"), fold("4711"),
               decode()])
    assert run(dlq, monkeypatch, settings, "redrive", "--dry-run") == 0
    out = capsys.readouterr().out
    assert dlq.sent == [] and out.startswith("would redrive: 2 casavi slots in 1 redrive records to ops.ticks")

    assert run(dlq, monkeypatch, settings, "redrive") == 0
    out = capsys.readouterr().out
    [(topic, key, value)] = dlq.sent
    doc = json.loads(value)
    assert topic == "ops.ticks" and key == b"redrive"
    assert doc["kind"] == "redrive" and doc["slots"] == ["contact:K1", "contract:C1"] and doc["reason"] == "dlq redrive"
    lines = out.splitlines()
    assert lines[0].startswith("redriven: 2 casavi slots in 1 redrive records to ops.ticks")
    assert lines[1:3] == ["  contact:K1", "  contract:C1"]
    assert lines[3].startswith("not redrivable: 2 letters") and "next change of that row is read again" in lines[3]
    assert lines[4:] == ["  contract key 4711", "  erp.erp.person[0]@3"]


def test_redrive_filtered_to_letters_without_slot_sends_nothing(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], settings: BridgeSettings) -> None:
    dlq = Dlq([sink("K1"), fold("4711")])
    assert run(dlq, monkeypatch, settings, "redrive", "--stage", "fold") == 0
    assert dlq.sent == []
    assert capsys.readouterr().out.startswith("nothing to redrive")


def test_a_bad_since_or_limit_is_refused_before_reading(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], settings: BridgeSettings) -> None:
    dlq = Dlq([sink()])
    assert run(dlq, monkeypatch, settings, "list", "--since", "yesterday") == 2
    assert run(dlq, monkeypatch, settings, "show", "--limit", "0") == 2
    assert dlq.read_from == []
    assert "duration like" in capsys.readouterr().err


def test_since_selects_by_the_letters_time(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], settings: BridgeSettings) -> None:
    dlq = Dlq([sink("OLD", at_ms=1_000), sink("NEW", at_ms=NOW_MS)])
    assert run(dlq, monkeypatch, settings, "show", "--since", "2026-01-01T00:00:00Z") == 0
    out = capsys.readouterr().out
    assert "contact:NEW" in out and "contact:OLD" not in out


def test_kafka_unavailable_is_an_error_not_a_trace(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], settings: BridgeSettings) -> None:
    def unavailable(kafka: KafkaSettings, timeout_s: float = 300.0) -> Any:
        raise KafkaConnectionError("no broker answered")

    dlq = Dlq([])
    monkeypatch.setattr(cli, "send_control", dlq.send)
    monkeypatch.setattr(cli, "read_dlq", unavailable)
    args = build_parser().parse_args(["dlq", "list"])
    assert args.handler(args, settings) == 1
    assert "reading ops.dlq from kafka:9092 failed" in capsys.readouterr().err
