"""apply_batch and the runner's batch step against the casavi simulator (no Kafka)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from streams.commands.receipts import Receipt, decode_receipt
from streams.commands.model import CasaviCommand, DeadLetter, encode
from streams.settings import BridgeSettings, CasaviSettings
from streams.simulator.app import SimulatorConfig, create_app
from streams.sink.apply import Sourced, apply_batch, safe_text
from streams.sink.client import CasaviClient
from streams.sink.policy import Backoff
from streams.sink.runner import SinkRunner
from tests.unit.casavi_commands import contact, contract, prop, unit

BASE = "http://casavi.test"


def sourced(*commands: CasaviCommand, start: int = 0, partition: int = 0) -> list[Sourced]:
    return [Sourced(c, "casavi.commands", partition, start + i) for i, c in enumerate(commands)]


@dataclass
class Sim:
    admin: httpx.AsyncClient
    client: CasaviClient

    async def state(self) -> dict[str, dict[str, Any]]:
        data: dict[str, dict[str, Any]] = (await self.admin.get("/_sim/state")).json()
        return data


async def _no_sleep(seconds: float) -> None:
    await asyncio.sleep(0)


@pytest.fixture
async def sim() -> AsyncIterator[Sim]:
    app = create_app(SimulatorConfig(db_path=":memory:"))
    s = CasaviSettings(requests_per_minute=600_000, job_poll_interval_s=0.01, job_timeout_s=10)
    s = s.model_copy(update={"test": s.test.model_copy(update={"url": BASE})})
    async with (httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as admin,
                CasaviClient(s, transport=httpx.ASGITransport(app=app), sleep=_no_sleep,
                             backoff=Backoff(base_s=0.01, cap_s=0.02, max_retries=2, exhausted_s=0.02)) as client):
        yield Sim(admin, client)


async def test_r20_r13_one_batch_of_upserts_then_deletes(sim: Sim) -> None:
    ups = sourced(contract("C1", "P1", "U1", "K1"), unit("U1", "P1"), contact("K1"), prop("P1"), unit("U2", "P1"))
    result = await apply_batch(sim.client, ups)
    assert not result.failed and len(result.applied) == 5 and result.imports == 1
    state = await sim.state()
    assert set(state["contacts"]) == {"K1"} and set(state["properties"]) == {"P1"}
    assert set(state["units"]) == {"U1", "U2"} and set(state["contracts"]) == {"C1"}

    # Contract and contact deleted in one batch: the contact only after the contract is gone.
    dels = sourced(CasaviCommand.delete("contact", "K1"), CasaviCommand.delete("contract", "C1", ("P1", "U1")),
                   CasaviCommand.delete("unit", "U2", ("P1",)), start=5)
    result = await apply_batch(sim.client, dels)
    assert not result.failed and len(result.applied) == 3 and result.imports == 2
    state = await sim.state()
    assert state["contacts"] == {} and state["contracts"] == {} and set(state["units"]) == {"U1"}

    # Deleting the property cascades; the implied unit delete is not sent, and repeating is harmless.
    for start in (8, 10):
        result = await apply_batch(sim.client, sourced(CasaviCommand.delete("unit", "U1", ("P1",)),
                                                       CasaviCommand.delete("property", "P1"), start=start))
        assert not result.failed and len(result.applied) == 2
    assert await sim.state() == {"contacts": {}, "properties": {}, "units": {}, "contracts": {}, "staff": {},
                                 "responsibilities": {}, "documents": {}, "tickets": {},
                                 "posts": {}, "comments": {}, "files": {}, "hooks": {}}


async def test_superseded_commands_are_applied_with_the_last(sim: Sim) -> None:
    batch = sourced(contact("K1", email="old@example.org"), contact("K1", email="new@example.org"))
    result = await apply_batch(sim.client, batch)
    assert {s.offset for s in result.applied} == {0, 1}
    assert (await sim.state())["contacts"]["K1"]["email"] == "new@example.org"


async def test_failed_item_names_no_personal_data(sim: Sim) -> None:
    batch = sourced(contact("K1", email="Erika Muster at home"), contact("K2"))
    result = await apply_batch(sim.client, batch)
    (failure,) = result.failed
    assert failure.source.offset == 0 and failure.error_code == "INVALID_FIELD"
    letter = failure.dead_letter(at_ms=1)
    assert letter.stage == "sink" and letter.reference_id == "K1" and letter.offset == 0
    dumped = letter.model_dump_json()
    assert "Erika" not in dumped and "Muster" not in dumped and "home" not in dumped
    assert "email" in letter.reason
    assert [s.offset for s in result.applied] == [1]


async def test_missing_parent_fails_the_nested_commands(sim: Sim) -> None:
    result = await apply_batch(sim.client, sourced(unit("U1", "P-absent"), contract("C1", "P-absent", "U1", "K1")))
    assert sorted(f.error_code for f in result.failed) == ["MISSING_REFERENCE", "MISSING_REFERENCE"]


async def test_400_is_bisected_to_the_bad_command(sim: Sim) -> None:
    bad = CasaviCommand.upsert("contact", "", {"id": ""})  # casavi rejects the whole request
    batch = sourced(contact("K1"), contact("K2"), bad, contact("K3"), prop("P1"))
    result = await apply_batch(sim.client, batch)
    assert [f.source.offset for f in result.failed] == [2]
    assert result.failed[0].error_code == "invalid_import"
    assert sorted(s.offset for s in result.applied) == [0, 1, 3, 4]
    assert result.bisections >= 2
    state = await sim.state()
    assert set(state["contacts"]) == {"K1", "K2", "K3"} and set(state["properties"]) == {"P1"}


def test_safe_text_keeps_field_names_and_drops_values() -> None:
    assert safe_text("email: not an e-mail address") == "email: not an address"
    assert safe_text("lastName 'Müller' is too long") == "lastName is too long"
    assert safe_text("Max Mustermann max@example.org +49 170 1234567 DE89370400440532013000") == ""
    assert safe_text(None) == ""


# --- the runner's batch step with fake Kafka clients ------------------------------------------

@dataclass(frozen=True)
class Rec:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


class FakeConsumer:
    def __init__(self, events: list[str]) -> None:
        self.events = events
        self.commits: list[dict[tuple[str, int], int]] = []

    async def start(self) -> None: ...
    async def stop(self) -> None: ...

    async def getmany(self, *partitions: Any, timeout_ms: int = 0, max_records: int | None = None
                      ) -> Mapping[Any, Sequence[Any]]:
        return {}

    async def commit(self, offsets: Mapping[Any, int] | None = None) -> None:
        assert offsets is not None
        self.events.append("commit")
        self.commits.append({(tp.topic, tp.partition): o for tp, o in offsets.items()})

    def assignment(self) -> set[Any]:
        from aiokafka import TopicPartition
        return {TopicPartition("casavi.commands", 0), TopicPartition("casavi.commands", 1)}

    def highwater(self, partition: Any) -> int | None:
        return 100


class FakeProducer:
    def __init__(self, events: list[str]) -> None:
        self.events = events
        self.sent: list[tuple[str, bytes | None, bytes | None]] = []

    async def start(self) -> None: ...
    async def stop(self) -> None: ...

    async def send_and_wait(self, topic: str, value: bytes | None = None, key: bytes | None = None) -> Any:
        await (await self.send(topic, value, key))

    async def send(self, topic: str, value: bytes | None = None, key: bytes | None = None) -> Any:
        self.events.append("receipt" if "receipts" in topic else "dlq")
        self.sent.append((topic, key, value))
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    def letters(self) -> list[DeadLetter]:
        return [DeadLetter.model_validate_json(v or b"") for t, _, v in self.sent if t == "casavi.dlq"]

    def receipts(self) -> list[Receipt]:
        return [decode_receipt(v or b"") for t, _, v in self.sent if t == "casavi.receipts"]


def rec(partition: int, offset: int, command: CasaviCommand | None, raw: bytes | None = None) -> Rec:
    return Rec("casavi.commands", partition, offset, command.reference_id.encode() if command else b"k",
               encode(command) if command else raw)


async def test_runner_dead_letters_before_it_commits(sim: Sim, tmp_path: Path) -> None:
    events: list[str] = []
    consumer, producer = FakeConsumer(events), FakeProducer(events)
    runner = SinkRunner(BridgeSettings(), sim.client, consumer=consumer, producer=producer,
                        status_path=tmp_path / "sink-status.json")
    await runner.process([rec(0, 10, contact("K1")), rec(0, 11, None, raw=b"\xff\x00garbage"),
                          rec(0, 12, contact("K2", email="not valid"))])
    assert events == ["dlq", "dlq", "receipt", "receipt", "commit"]
    letters = producer.letters()
    assert [(d.offset, d.error_code) for d in letters] == [(11, "UNDECODABLE"), (12, "INVALID_FIELD")]
    assert [(r.slot, r.status, r.error_code) for r in producer.receipts()] == [
        ("contact:K1", "applied", ""), ("contact:K2", "failed", "INVALID_FIELD")]
    assert consumer.commits == [{("casavi.commands", 0): 13}]
    status = json.loads((tmp_path / "sink-status.json").read_text())
    assert status["batches"] == 1 and status["commands"] == 2 and status["applied"] == 1
    assert status["dead_lettered"] == 2 and status["imports"] == 1 and status["lag"] == 87
    assert status["last_commit_at"] is not None and status["polls"] >= 1 and status["system"] == "test"


async def test_r20_unit_read_before_its_property_from_another_partition(sim: Sim, tmp_path: Path) -> None:
    events: list[str] = []
    consumer, producer = FakeConsumer(events), FakeProducer(events)
    runner = SinkRunner(BridgeSettings(), sim.client, consumer=consumer, producer=producer,
                        status_path=tmp_path / "sink-status.json", defer_retry_s=0.0)
    await runner.process([rec(1, 5, unit("U1", "P1"))])
    # Not dead-lettered: kept, and partition 1's offset stays at it.
    assert producer.sent == [] and runner.stats.deferred == 1  # no dead letter, no receipt yet
    assert consumer.commits[-1] == {("casavi.commands", 1): 5}
    await runner.process([rec(0, 7, prop("P1"))])
    assert producer.letters() == [] and runner.stats.deferred == 0
    assert sorted(r.slot for r in producer.receipts()) == ["property:P1", "unit:U1"]
    assert consumer.commits[-1] == {("casavi.commands", 0): 8, ("casavi.commands", 1): 6}
    assert set((await sim.state())["units"]) == {"U1"}


async def test_deferred_command_is_dead_lettered_after_the_limit(sim: Sim, tmp_path: Path) -> None:
    consumer, producer = FakeConsumer([]), FakeProducer([])
    runner = SinkRunner(BridgeSettings(), sim.client, consumer=consumer, producer=producer,
                        status_path=tmp_path / "s.json", defer_limit_s=0.0)
    await runner.process([rec(0, 3, unit("U1", "P-never"))])
    (letter,) = producer.letters()
    assert letter.error_code == "MISSING_REFERENCE" and letter.reference_id == "U1"
    assert consumer.commits[-1] == {("casavi.commands", 0): 4}


async def test_stop_finishes_and_commits_the_current_batch(sim: Sim, tmp_path: Path) -> None:
    events: list[str] = []
    stop = asyncio.Event()

    class OneBatch(FakeConsumer):
        async def getmany(self, *partitions: Any, timeout_ms: int = 0, max_records: int | None = None
                          ) -> Mapping[Any, Sequence[Any]]:
            stop.set()  # SIGTERM arrives while the batch is being read
            return {"tp": [rec(0, 0, contact("K1"))]}

    consumer = OneBatch(events)
    runner = SinkRunner(BridgeSettings(), sim.client, consumer=consumer, producer=FakeProducer(events),
                        status_path=tmp_path / "s.json", stop_event=stop)
    await asyncio.wait_for(runner.run(), timeout=10)
    assert consumer.commits == [{("casavi.commands", 0): 1}]
    assert set((await sim.state())["contacts"]) == {"K1"}


async def test_commands_that_arrive_while_the_pacing_waits_go_in_the_same_batch(sim: Sim, tmp_path: Path) -> None:
    # the first poll returns what its fetch held; what reached the topic since comes with the
    # next poll: read while casavi's pacing holds the request back, one import instead of two
    events: list[str] = []
    stop = asyncio.Event()
    chunks = [[rec(0, 0, contact("K1"))], [rec(0, 1, contact("K2"))]]

    class Arriving(FakeConsumer):
        async def getmany(self, *partitions: Any, timeout_ms: int = 0, max_records: int | None = None
                          ) -> Mapping[Any, Sequence[Any]]:
            if chunks:
                return {"tp": chunks.pop(0)}
            stop.set()
            return {}

    consumer = Arriving(events)
    runner = SinkRunner(BridgeSettings(), sim.client, consumer=consumer, producer=FakeProducer(events),
                        status_path=tmp_path / "s.json", stop_event=stop)
    await asyncio.wait_for(runner.run(), timeout=10)
    assert consumer.commits == [{("casavi.commands", 0): 2}] and runner.stats.imports == 1
    assert set((await sim.state())["contacts"]) == {"K1", "K2"}


def test_the_token_bucket_tells_how_long_the_next_request_waits() -> None:
    from streams.sink.client import TokenBucket
    now = [0.0]
    bucket = TokenBucket(80 / 60, capacity=80 / 60, clock=lambda: now[0])
    assert bucket.wait_s() == 0.0
    bucket._tokens = 0.0  # a request just went
    assert abs(bucket.wait_s() - 0.75) < 1e-9
    now[0] = 0.5
    assert abs(bucket.wait_s() - 0.25) < 1e-9 and bucket._tokens == 0.0  # looking takes nothing


def test_a_job_without_per_item_results_is_applied_unconfirmed() -> None:
    """casavi's API text shows ``"results": {}`` for a finished job: no per-item statuses. That is
    a missing hint, not a failure: the commands count as applied, marked unconfirmed."""
    from streams.casavi.models import Job
    from streams.sink.apply import resolve
    from streams.sink.plan import plan_batch

    commands = [contact("K1"), prop("P1"), unit("U1", "P1")]
    sources = [Sourced(c, "casavi.commands", 0, i) for i, c in enumerate(commands)]
    job = Job.model_validate({"id": "j1", "progress": 1.0, "completed": True, "results": {}})
    applied: list[Sourced] = []
    unconfirmed: list[Sourced] = []
    for phase in plan_batch(commands):
        out = resolve(phase, job, sources)
        assert not out.failed
        applied += out.applied
        unconfirmed += out.unconfirmed
    assert sorted(s.offset for s in applied) == sorted(s.offset for s in unconfirmed) == [0, 1, 2]


async def test_commands_of_another_casavi_system_are_skipped(sim: Sim, tmp_path: Path) -> None:
    consumer, producer = FakeConsumer([]), FakeProducer([])
    runner = SinkRunner(BridgeSettings(), sim.client, consumer=consumer, producer=producer,
                        status_path=tmp_path / "s.json")
    other = contact("K9").model_copy(update={"system": "production"})
    await runner.process([rec(0, 0, other), rec(0, 1, contact("K1").model_copy(update={"system": "test"}))])
    assert set((await sim.state())["contacts"]) == {"K1"}
    assert consumer.commits[-1] == {("casavi.commands", 0): 2}


async def test_runner_reports_committed_and_end_offsets_of_the_topic(sim: Sim, tmp_path: Path) -> None:
    """``committed``/``end_offset`` are the commands topic's figures: after a restart the sink
    reads its group's committed offsets, so the status agrees with the topic before any batch."""
    class Committed(FakeConsumer):
        async def committed(self, tp: Any) -> int | None:
            return {0: 60, 1: None}[tp.partition]

    consumer = Committed([])
    runner = SinkRunner(BridgeSettings(), sim.client, consumer=consumer, producer=FakeProducer([]),
                        status_path=tmp_path / "s.json")
    await runner._position()
    status = json.loads((tmp_path / "s.json").read_text())
    assert (status["committed"], status["end_offset"], status["lag"]) == (60, 200, 140) and runner.assigned == 2
    await runner.process([rec(1, 0, contact("K1"))])
    await runner._position()
    status = json.loads((tmp_path / "s.json").read_text())
    assert (status["committed"], status["end_offset"], status["lag"]) == (61, 200, 139)
    assert status["outcomes"] == {"contact": {"UPSERT": {"applied": 1}}}
    assert status["responses"]["POST /import"] == {"200": 1}
