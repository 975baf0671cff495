"""Progress of long work: counts, rate and time left from successive readings; the catch-up of
worker and sink from their status; the reconcile's request estimate."""

from __future__ import annotations

import json
import os
from argparse import Namespace
from pathlib import Path
from typing import Any

import pytest

from streams.ops.progress import Meter, catch_up, caught_up, duration, watch
from streams.projection.model import EmittedEntry
from streams.reconcile.run import estimate_requests
from streams.settings import BridgeSettings, StackSettings


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_meter_rate_and_time_left() -> None:
    clock = Clock()
    meter = Meter("sink: commands applied", "commands", window_s=30, clock=clock)
    first = meter.update(0, 1000)
    assert first.rate_per_s is None and first.eta_s is None and not first.finished
    clock.now = 10
    s = meter.update(200, 1000)
    assert s.rate_per_s == pytest.approx(20.0) and s.eta_s == pytest.approx(40.0)
    clock.now = 50  # the window keeps the last 30 s: 20 -> 50 commands/s
    s = meter.update(1200, 2000)
    assert s.rate_per_s == pytest.approx(25.0) and s.eta_s == pytest.approx(32.0)
    clock.now = 60
    assert meter.update(2000, 2000).eta_s == 0.0 and meter.update(2000, 2000).finished
    clock.now = 61  # a replay moved the offsets back: measured anew
    assert meter.update(10, 2000).rate_per_s is None
    assert duration(32.0) == "0:32" and duration(3725) == "1:02:05" and duration(None) == "--:--"


def test_catch_up_of_worker_and_sink_from_their_status() -> None:
    bridge: dict[str, Any] = {
        "worker": {"since_start": {"events": 900}, "lag_by_topic": {"erp.erp.person": 100, "bridge.ticks": 0},
                   "pending_roots": 0, "queued_roots": 0},
        "sink": {"committed": 40, "end_offset": 50, "deferred": 0},
    }
    assert catch_up(bridge) == {"worker": (900, 1000), "sink": (40, 50)}
    assert not caught_up(bridge)
    bridge["worker"]["lag_by_topic"]["erp.erp.person"] = 0
    bridge["sink"]["committed"] = 50
    assert caught_up(bridge)
    bridge["worker"]["pending_roots"] = 3  # a bulk load still to project
    assert not caught_up(bridge)
    assert catch_up({"worker": None, "sink": {"committed": None}}) == {}


def test_bridge_progress_ends_once_nothing_waits(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = BridgeSettings(stack=StackSettings(home=tmp_path))
    args = Namespace(follow=False, interval=0.0, timeout=5.0)
    assert watch(args, settings) == 3
    state = settings.stack.state_dir
    state.mkdir(parents=True)
    (state / "worker-status.json").write_text(json.dumps({"pid": os.getpid(), "since_start": {"events": 5},
                                                          "lag_by_topic": {"t": 0}}))
    (state / "sink-status.json").write_text(json.dumps({"pid": os.getpid(), "committed": 7, "end_offset": 7}))
    assert watch(args, settings) == 0
    err = capsys.readouterr().err
    assert "sink: commands applied" in err and "7/7" in err
    (state / "sink-status.json").write_text(json.dumps({"pid": os.getpid(), "committed": 6, "end_offset": 7}))
    assert watch(Namespace(follow=False, interval=0.0, timeout=0.0), settings) == 1


def test_reconcile_estimates_its_read_requests() -> None:
    def entry(entity: Any, ref: str, *parents: str) -> EmittedEntry:
        return EmittedEntry(entity, ref, "h", tuple(parents), "r")

    expected = {f"property:P{i}": entry("property", f"P{i}") for i in range(30)}
    expected |= {f"unit:U{i}": entry("unit", f"U{i}", "P0") for i in range(26)}
    expected |= {f"contact:K{i}": entry("contact", f"K{i}") for i in range(51)}
    # 2 pages of properties, 2 of P0's units + 1 for each of the other 29, 3 of contacts + the empty one
    assert estimate_requests(expected) == 2 + 2 + 29 + 3 + 1
    assert estimate_requests(expected, frozenset({"contact"})) == 4
