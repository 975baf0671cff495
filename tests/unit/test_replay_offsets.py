"""``bridge replay``: where the groups' offsets go, and the offsets file (pure parts)."""

from __future__ import annotations

import pytest

from streams.replay import ReplayError, groups, parse_offsets_file, parse_time, target_offsets
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
