"""``bridge replay``: where the groups' offsets go, the offsets file, and the command against
a stand-in for Kafka's admin client and consumer (no cluster)."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

import pytest
from kafka import TopicPartition
from kafka.errors import NoError

from streams import replay as replay_module
from streams.replay import Change, ReplayError, format_table, groups, parse_offsets_file, parse_time, target_offsets
from streams.settings import BridgeSettings

A, B = ("erp.erp.person", 0), ("casavi.commands", 0)
BEGIN = {A: 100, B: 0}
END = {A: 900, B: 50}


def test_r21_from_the_beginning_to_a_time_or_to_given_offsets() -> None:
    assert target_offsets([A, B], BEGIN, END) == {A: 100, B: 0}
    # a time after the last record has no offset: the group goes to the end
    assert target_offsets([A, B], BEGIN, END, times={A: 400, B: None}) == {A: 400, B: 50}
    # given offsets stay inside what the topic holds; partitions not named stay out
    assert target_offsets([A, B], BEGIN, END, explicit={A: 5}) == {A: 100}
    assert target_offsets([A, B], BEGIN, END, explicit={A: 5000, B: 7}) == {A: 900, B: 7}


def test_the_worker_replays_cdc_and_receipts_but_not_past_control_records() -> None:
    settings = BridgeSettings()
    chosen = groups(settings, ["worker", "sink"])
    worker_group, worker_topics = chosen["worker"]
    assert worker_group == settings.kafka.worker_app_id
    assert {settings.kafka.receipts_topic, "erp.erp.person"} <= set(worker_topics)
    assert settings.kafka.commands_topic not in worker_topics and settings.kafka.ticks_topic not in worker_topics
    assert chosen["sink"] == (settings.kafka.sink_group_id, [settings.kafka.commands_topic])


def test_offsets_file_by_group_or_for_every_group() -> None:
    ids = {"worker": "casavi-bridge", "sink": "casavi-bridge-sink"}
    by_group = parse_offsets_file('{"casavi-bridge-sink": {"casavi.commands": {"0": 42}}}', ids)  # type: ignore[arg-type]
    assert by_group == {"worker": {}, "sink": {B: 42}}
    shared = parse_offsets_file('{"casavi.commands": {"0": 7}}', {"sink": "casavi-bridge-sink"})
    assert shared == {"sink": {B: 7}}


@pytest.mark.parametrize("text, problem", [
    ("[1]", "JSON object"), ("{", "not JSON"), ('{"t": {"0": -1}}', "non-negative"),
    ('{"t": {"x": 1}}', "partition"), ('{"t": [1]}', "object {partition"),
])
def test_a_broken_offsets_file_says_what_is_wrong(text: str, problem: str) -> None:
    with pytest.raises(ReplayError, match=problem):
        parse_offsets_file(text, {"sink": "casavi-bridge-sink"})


def test_times_without_zone_are_utc() -> None:
    assert parse_time("2026-11-20T06:00:00") == parse_time("2026-11-20T07:00:00+01:00")
    with pytest.raises(ReplayError, match="ISO-8601"):
        parse_time("last tuesday")


def test_an_offsets_file_names_either_groups_or_topics() -> None:
    ids = {"worker": "casavi-bridge", "sink": "casavi-bridge-sink"}
    with pytest.raises(ReplayError, match="either every key is a group or every key is a topic"):
        parse_offsets_file('{"casavi-bridge": {"erp.erp.person": {"0": 1}}, "casavi.commands": {"0": 2}}',
                           ids)  # type: ignore[arg-type]


def test_given_offsets_name_existing_partitions() -> None:
    with pytest.raises(ReplayError, match="erp.erp.person has no partition 3"):
        target_offsets([A, B], BEGIN, END, explicit={("erp.erp.person", 3): 1})


def test_the_table_shows_offsets_only() -> None:
    table = format_table([Change("casavi-bridge-sink", "casavi.commands", 0, None, 0),
                          Change("casavi-bridge", "erp.erp.person", 0, 1520, 100)]).splitlines()
    assert table[0].split() == ["group", "topic", "partition", "committed", "new"]
    assert table[1].split() == ["casavi-bridge-sink", "casavi.commands", "0", "-", "->", "0"]
    assert table[2].split() == ["casavi-bridge", "erp.erp.person", "0", "1520", "->", "100"]


# --- the command against stand-ins ---------------------------------------------------------

PERSON = "erp.erp.person"


class FakeConsumer:
    """Every topic of ``held`` has partition 0 holding offsets begin to end."""

    def __init__(self, held: dict[str, tuple[int, int]], after: dict[str, int | None]) -> None:
        self.held, self.after = held, after

    def partitions_for_topic(self, topic: str) -> set[int]:
        return {0} if topic in self.held else set()

    def beginning_offsets(self, tps: list[Any]) -> dict[Any, int]:
        return {tp: self.held[tp.topic][0] for tp in tps}

    def end_offsets(self, tps: list[Any]) -> dict[Any, int]:
        return {tp: self.held[tp.topic][1] for tp in tps}

    def offsets_for_times(self, times: dict[Any, int]) -> dict[Any, Any]:
        return {tp: None if self.after.get(tp.topic) is None else type("Hit", (), {"offset": self.after[tp.topic]})()
                for tp in times}

    def close(self) -> None:
        pass


class FakeAdmin:
    def __init__(self, members: dict[str, int], committed: dict[tuple[str, str], int]) -> None:
        self.members, self.committed = members, committed
        self.altered: dict[str, dict[Any, Any]] = {}

    def describe_groups(self, group_ids: list[str]) -> dict[str, dict[str, Any]]:
        return {g: {"group_id": g, "members": [{"member_id": f"m{i}"} for i in range(self.members.get(g, 0))]}
                for g in group_ids}

    def list_group_offsets(self, specs: dict[str, list[Any]]) -> dict[str, dict[Any, Any]]:
        return {g: {tp: type("Held", (), {"offset": self.committed.get((g, tp.topic), -1)})() for tp in tps}
                for g, tps in specs.items()}

    def alter_group_offsets(self, group: str, offsets: dict[Any, Any]) -> dict[Any, Any]:
        self.altered[group] = offsets
        return {tp: NoError for tp in offsets}

    def close(self) -> None:
        pass


@pytest.fixture
def kafka(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The stand-ins the command gets; set ``members`` before it runs to simulate a running group."""
    made: dict[str, Any] = {"members": {}}
    held = {PERSON: (100, 900), "casavi.receipts": (0, 10), "casavi.commands": (0, 50)}

    def admin(**_: Any) -> FakeAdmin:
        made["admin"] = fake = FakeAdmin(made["members"], {("casavi-bridge", PERSON): 900,
                                                           ("casavi-bridge-sink", "casavi.commands"): 50})
        return fake

    monkeypatch.setattr(replay_module, "KafkaAdminClient", admin)
    monkeypatch.setattr(replay_module, "KafkaConsumer",
                        lambda **_: FakeConsumer(held, {PERSON: 400, "casavi.receipts": None, "casavi.commands": 20}))
    return made


def _settings(home: Path) -> BridgeSettings:
    return BridgeSettings(stack={"home": home})


def _run(settings: BridgeSettings, *, target: str = "both", dry_run: bool = False, from_beginning: bool = False,
         to_datetime: str | None = None, to_offsets: str | None = None) -> int:
    args = argparse.Namespace(target=target, dry_run=dry_run, from_beginning=from_beginning,
                              to_datetime=to_datetime, to_offsets=to_offsets)
    return replay_module.run(args, settings)


def _altered(made: dict[str, Any]) -> dict[str, dict[tuple[str, int], tuple[int, str, int]]]:
    return {g: {(tp.topic, tp.partition): tuple(o) for tp, o in offsets.items()}
            for g, offsets in made["admin"].altered.items()}


def test_from_the_beginning_moves_worker_and_sink_but_no_missing_topic(
        kafka: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(_settings(tmp_path), from_beginning=True) == 0
    altered = _altered(kafka)
    assert altered["casavi-bridge"][(PERSON, 0)] == (100, "", -1)
    assert altered["casavi-bridge"][("casavi.receipts", 0)] == (0, "", -1)
    assert altered["casavi-bridge-sink"] == {("casavi.commands", 0): (0, "", -1)}
    out = capsys.readouterr()
    assert "900  ->  100" in out.out and "bridge.ticks" not in out.out
    assert "topic erp.erp.property does not exist" in out.err


def test_to_a_time_partitions_without_newer_records_go_to_their_end(kafka: dict[str, Any], tmp_path: Path) -> None:
    assert _run(_settings(tmp_path), to_datetime="2026-11-20T06:00:00Z", target="worker") == 0
    altered = _altered(kafka)
    assert set(altered) == {"casavi-bridge"}
    assert altered["casavi-bridge"][(PERSON, 0)][0] == 400
    assert altered["casavi-bridge"][("casavi.receipts", 0)][0] == 10


def test_a_dry_run_changes_nothing(kafka: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    kafka["members"]["casavi-bridge"] = 1
    assert _run(_settings(tmp_path), from_beginning=True, dry_run=True) == 0
    assert kafka["admin"].altered == {}
    out = capsys.readouterr()
    assert "dry run: nothing changed" in out.out and "would be refused" in out.err


def test_refused_while_the_group_has_members(kafka: dict[str, Any], tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(replay_module, "member_wait_s", lambda settings: 0.0)
    kafka["members"]["casavi-bridge-sink"] = 2
    assert _run(_settings(tmp_path), from_beginning=True) == 2
    assert kafka["admin"].altered == {}
    assert "sink is running (consumer group casavi-bridge-sink has 2 active members)" in capsys.readouterr().err


def test_members_of_a_stopped_worker_are_waited_for_until_they_expire(
        kafka: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker with static membership stays a member of its group for its session timeout,
    also after a clean stop: the replay waits for that instead of refusing."""
    kafka["members"]["casavi-bridge"] = 1
    monkeypatch.setattr(replay_module, "member_wait_s", lambda settings: 30.0)
    described = replay_module.members
    calls = []

    def expiring(chosen: Any, admin: Any) -> list[str]:
        calls.append(chosen)
        if len(calls) == 2:
            kafka["members"]["casavi-bridge"] = 0  # the session timed out
        return described(chosen, admin)

    monkeypatch.setattr(replay_module, "members", expiring)
    monkeypatch.setattr(replay_module.time, "sleep", lambda s: None)
    assert _run(_settings(tmp_path), from_beginning=True, target="worker") == 0
    assert kafka["admin"].altered and len(calls) >= 2
    assert "waiting up to 30 s" in capsys.readouterr().err


def test_refused_while_a_status_file_names_a_living_pid(kafka: dict[str, Any], tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    settings = _settings(tmp_path)
    settings.stack.state_dir.mkdir(parents=True)
    status = settings.stack.state_dir / "worker-status.json"
    status.write_text(json.dumps({"pid": 99_999_999}))  # no such process: does not block
    assert _run(settings, from_beginning=True, target="worker") == 0
    status.write_text(json.dumps({"pid": os.getpid()}))
    assert _run(settings, from_beginning=True, target="worker") == 2
    assert kafka["admin"].altered == {}
    assert "worker is running (pid" in capsys.readouterr().err


def test_offsets_file_by_group_moves_only_what_it_names(kafka: dict[str, Any], tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    file = tmp_path / "offsets.json"
    file.write_text(json.dumps({"casavi-bridge": {PERSON: {"0": 5000}},
                                "casavi-bridge-sink": {"casavi.commands": {"0": 7}}}))
    assert _run(_settings(tmp_path), to_offsets=str(file), target="worker") == 0
    assert _altered(kafka) == {"casavi-bridge": {(PERSON, 0): (900, "", -1)}}
    err = capsys.readouterr().err
    assert "5000 becomes 900" in err and "--target leaves" in err


def test_offsets_file_topics_must_be_read_by_the_group(kafka: dict[str, Any], tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    file = tmp_path / "offsets.json"
    file.write_text(json.dumps({"casavi-bridge": {"casavi.commands": {"0": 1}}}))
    assert _run(_settings(tmp_path), to_offsets=str(file)) == 2
    assert "group casavi-bridge is not moved on casavi.commands" in capsys.readouterr().err
    file.write_text(json.dumps({"bridge.ticks": {"0": 1}}))
    assert _run(_settings(tmp_path), to_offsets=str(file)) == 2
    assert "no group replayed is moved on bridge.ticks" in capsys.readouterr().err
    assert _run(_settings(tmp_path), to_offsets=str(tmp_path / "missing.json")) == 2
    assert "offsets file" in capsys.readouterr().err


def test_offsets_file_of_topics_applies_to_the_groups_reading_them(kafka: dict[str, Any], tmp_path: Path) -> None:
    file = tmp_path / "offsets.json"
    file.write_text(json.dumps({"casavi.commands": {"0": 20}, PERSON: {"0": 300}}))
    assert _run(_settings(tmp_path), to_offsets=str(file)) == 0
    assert _altered(kafka) == {"casavi-bridge": {(PERSON, 0): (300, "", -1)},
                               "casavi-bridge-sink": {("casavi.commands", 0): (20, "", -1)}}
    assert isinstance(next(iter(kafka["admin"].altered["casavi-bridge"])), TopicPartition)
