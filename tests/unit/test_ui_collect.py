"""The page's ``Collector``: each source read on its own, records of each topic to the reader
that counts them, consumer groups to the stages, Kafka that does not answer named under
problems (Kafka replaced by stand-ins; the real thing: tests/integration/test_protocol_page.py)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from streams.commands.model import CasaviCommand, DeadLetter
from streams.commands.receipts import Receipt
from streams.settings import BridgeSettings
from streams.ui import collect
from streams.ui.build import GroupPosition

NOW = 1_790_000_000.0


@dataclass(frozen=True)
class TP:
    topic: str
    partition: int


@dataclass
class Rec:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp: int


class FakeView:
    groups: dict[str, GroupPosition] = {}

    def __init__(self, kafka: Any) -> None:
        self.topics = {"erp.erp.person": 7, "erp.erp.unit": 3, "casavi.commands": 2}

    def close(self) -> None:
        pass

    def partitions(self, topics: Collection[str]) -> list[TP]:
        return [TP(t, 0) for t in topics if t in self.topics]

    def end_offsets(self, tps: Collection[TP]) -> dict[TP, int]:
        return {tp: self.topics[tp.topic] for tp in tps}

    def group(self, group: str, tps: Collection[TP]) -> GroupPosition:
        return self.groups[group]

    def offsets_at(self, at_ms: int, tps: Collection[TP]) -> dict[TP, int]:
        return dict.fromkeys(tps, 0)


class FakeTails:
    records: list[Rec] = []

    def __init__(self, kafka: Any, since_ms: Mapping[str, int], handlers: Mapping[str, Callable[[Any], None]]) -> None:
        self.handlers = handlers
        self.behind = 0

    def close(self) -> None:
        pass

    def poll(self, budget_s: float = 1.0) -> int:
        for record in self.records:
            self.handlers[record.topic](record)
        read = len(self.records)
        FakeTails.records = []
        return read


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> BridgeSettings:
    for key in [k for k in os.environ if k.startswith("BRIDGE_")]:
        monkeypatch.delenv(key)
    monkeypatch.setattr(collect, "KafkaView", FakeView)
    monkeypatch.setattr(collect, "Tails", FakeTails)
    monkeypatch.setattr("streams.ui.sources.connectors", lambda url, timeout_s=3.0: None)
    return BridgeSettings.model_validate({"stack": {"home": str(tmp_path)}, "ui": {"connect_url": "http://c:1"}})


def test_records_reach_their_counters_and_groups_their_stages(settings: BridgeSettings) -> None:
    at = int(NOW * 1000)
    command = CasaviCommand.upsert("unit", "U1", {"id": "U1"}, source_ts_ms=at - 1500)
    letter = DeadLetter(stage="decode", reason="unsupported op 'x'", topic="erp.erp.person", partition=0, offset=4,
                        table="person", at_ms=at)
    FakeTails.records = [
        Rec("casavi.commands", 0, 0, b"unit:U1", b"", at),
        Rec("casavi.receipts", 0, 0, b"unit:U1", Receipt.of(command, "test", "applied", at).encode(), at),
        Rec("casavi.dlq", 0, 0, None, letter.model_dump_json().encode(), at),
    ]
    FakeView.groups = {"casavi-bridge": GroupPosition(committed=6, end=10, members=1),
                       "casavi-bridge-sink": GroupPosition(committed=2, end=2, members=0)}
    state = settings.stack.state_dir
    state.mkdir(parents=True)
    (state / "worker-status.json").write_text(json.dumps({"pid": os.getpid(), "events": 6}))
    page = collect.Collector(settings, clock=lambda: NOW).refresh()

    unit = next(e for e in page.entities if e.entity == "unit")
    assert (unit.commands_day, unit.applied_day, unit.failed_day) == (1, 1, 0)
    assert page.letters.total == 1 and page.letters.groups[0].latest == ["person erp.erp.person[0]@4"]
    stages = {s.key: (s.state, s.lag) for s in page.stages}
    assert stages["worker"] == ("behind", 4) and stages["sink"] == ("down", 0)
    assert stages["cdc"][0] == "ok" and "2 of 22 topics, 10 records" in page.stage("cdc").detail
    assert stages["debezium"][0] == "down" and page.problems == ["Kafka Connect at http://c:1 not answering"]
    assert [w.job for w in page.progress] == ["worker: reading the CDC topics"]
    (latency,) = [p for p in page.plots if p.title.startswith("Latency")]
    assert latency.series[0].points[-1] == 1.5


def test_kafka_not_answering_is_a_problem_not_a_failure(settings: BridgeSettings,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    class Down(FakeView):
        def __init__(self, kafka: Any) -> None:
            raise OSError("no broker")

    monkeypatch.setattr(collect, "KafkaView", Down)
    page = collect.Collector(settings, clock=lambda: NOW).refresh()
    assert page.problems[0].startswith("Kafka at 127.0.0.1:19092 not reachable (OSError)")
    assert {s.key: s.state for s in page.stages}["cdc"] == "down" and page.entities == []
