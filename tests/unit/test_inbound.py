"""The inbound flow (R17, R19) without Kafka: portal tickets and comments from the simulator's
portal side through the hook receiver and the poller to the intake, once each; never the
bridge's own, never an internal comment."""

from __future__ import annotations

import base64
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

from streams.inbound.hooks import Credentials, Poller, receiver
from streams.inbound.intake import Intake, MemoryPublisher
from streams.inbound.model import InboundEvent, decode, encode
from streams.settings import InboundSettings
from streams.sink.apply import apply_batch
from tests.unit.test_sink_apply import Sim, sim, sourced  # noqa: F401 - the fixture
from tests.unit.test_sink_tickets import comment, house, ticket


async def _portal(sim: Sim, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await sim.admin.post(f"/_sim/portal/{path}", json=body)
    assert response.status_code == 200, response.text
    created: dict[str, Any] = response.json()
    return created


T = "1-P1-T1"


def _intake() -> tuple[Intake, MemoryPublisher]:
    publisher = MemoryPublisher()
    return Intake(publisher, "-", "HVW"), publisher


async def _company(sim: Sim) -> None:
    """An ERP ticket 1-P1-T1 (Mandant 1, R03) with the bridge's comment 1-P1-T1-N1, in casavi."""
    batch = sourced(comment("1-P1-T1-N1", "Monteur kommt", ticket_ref=T), ticket(T), *house())
    assert not (await apply_batch(sim.client, batch)).failed


def test_r17_inbound_event_round_trips_through_its_avro_schema() -> None:
    event = InboundEvent(event_id="ticket:abc", kind="TICKET_CREATED", ticket_id="abc", ticket_number=7,
                         property_id="1-1000", title="Fenster", text="klemmt", erp_user="HVW", source="HOOK",
                         received_at_ms=1_700_000_000_000)
    assert decode(encode(event)) == event


async def test_r17_poll_publishes_portal_tickets_and_comments_once_and_never_the_bridges_own(sim: Sim,
                                                                                          tmp_path: Path) -> None:
    await _company(sim)
    portal = await _portal(sim, "tickets", {"propertyId": "P1", "contactId": "K1", "title": "Fenster klemmt"})
    reply = await _portal(sim, "tickets/1-P1-T1/comments", {"contactId": "K1", "text": "Danke!"})
    await _portal(sim, "tickets/1-P1-T1/comments", {"text": "nur für uns", "isInternal": True})
    intake, publisher = _intake()
    poller = Poller(sim.client, intake, tmp_path / "poll.json", timedelta(days=1))
    assert await poller.poll() == 2
    assert await poller.poll() == 0  # polled again: nothing twice
    got = {(e.kind, e.ticket_id, e.comment_id) for e in publisher.events}
    assert got == {("TICKET_CREATED", portal["id"], None), ("COMMENT_CREATED", "1-P1-T1", reply["id"])}
    by_kind = {e.kind: e for e in publisher.events}
    assert by_kind["COMMENT_CREATED"].erp_ticket_no == 1 and by_kind["COMMENT_CREATED"].contact_id == "K1"
    assert by_kind["TICKET_CREATED"].erp_user == "HVW" and by_kind["TICKET_CREATED"].source == "POLL"
    assert intake.stats.skipped_internal == 2 and intake.stats.skipped_bridge == 4  # per poll: 1-P1-T1 itself and N1


async def test_r17_hook_receiver_verifies_the_subscription_and_publishes(sim: Sim) -> None:
    await _company(sim)
    intake, publisher = _intake()
    credentials = Credentials(InboundSettings(secret="s3cret"))  # type: ignore[arg-type]
    app = receiver(sim.client, intake, credentials)
    portal = await _portal(sim, "tickets", {"propertyId": "P1", "contactId": "K1", "title": "Fenster klemmt"})
    event = {"eventId": "e1", "eventName": "ticket_created", "payload": {"id": portal["id"]}}
    good = "Basic " + base64.b64encode(b"casavi:s3cret").decode()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hooks.test") as hooks:
        assert (await hooks.post("/hooks", json=event)).status_code == 401
        bad = "Basic " + base64.b64encode(b"casavi:guess").decode()
        assert (await hooks.post("/hooks", json=event, headers={"authorization": bad})).status_code == 401
        other = {**event, "eventName": "contact_created"}
        assert (await hooks.post("/hooks", json=other, headers={"authorization": good})).status_code == 400
        for _ in range(2):  # casavi sends an event again: published once
            assert (await hooks.post("/hooks", json=event, headers={"authorization": good})).status_code == 200
    assert [(e.event_id, e.source) for e in publisher.events] == [(f"ticket:{portal['id']}", "HOOK")]
    assert intake.stats.hooks_refused == 3 and intake.stats.duplicates == 1
    assert credentials.hook_url("https://bridge.example/hooks") == "https://casavi:s3cret@bridge.example/hooks"


async def test_r19_internal_comments_never_come_back_and_the_bridges_notes_never_echo(sim: Sim) -> None:
    await _company(sim)
    intake, publisher = _intake()
    internal = await _portal(sim, "tickets/1-P1-T1/comments", {"text": "nur für uns", "isInternal": True})
    held = (await sim.state())["tickets"]["1-P1-T1"]
    assert not await intake.comment(held, (await sim.state())["comments"][internal["id"]], "HOOK")
    assert not await intake.comment(held, (await sim.state())["comments"]["1-P1-T1-N1"], "HOOK")
    assert not await intake.ticket(held, "HOOK")
    assert publisher.events == []


async def test_r17_simulator_hook_subscriptions_are_checked(sim: Sim) -> None:
    token = (await sim.admin.post("/authenticate", json={"key": "demo-key", "secret": "demo-secret"})).json()["token"]
    headers = {"token": token}
    ok = await sim.admin.post("/hooks", json={"eventName": "ticket_created", "hookUrl": "http://u:p@h/x"},
                              headers=headers)
    assert ok.status_code == 201 and ok.headers["location"] == f"/hooks/{ok.json()['id']}"
    assert (await sim.admin.post("/hooks", json={"eventName": "ticket_deleted", "hookUrl": "http://h/x"},
                                 headers=headers)).status_code == 400
    assert (await sim.admin.delete(f"/hooks/{ok.json()['id']}", headers=headers)).status_code == 200
    assert (await sim.admin.delete(f"/hooks/{ok.json()['id']}", headers=headers)).status_code == 404
    state = await sim.state()
    assert state["hooks"] == {}


async def test_r17_the_inbound_topic_gets_each_ticket_once_also_after_a_restart(tmp_path: Path) -> None:
    from dataclasses import dataclass

    from streams.inbound.intake import KafkaPublisher
    from streams.sink.content import ContentIndex

    @dataclass
    class Meta:
        partition: int
        offset: int

    class Producer:
        def __init__(self) -> None:
            self.sent: list[bytes] = []

        async def send_and_wait(self, topic: str, value: bytes, key: bytes) -> Meta:
            self.sent.append(key)
            return Meta(0, len(self.sent) - 1)

    event = InboundEvent(event_id="ticket:abc", kind="TICKET_CREATED", ticket_id="abc", source="HOOK",
                         received_at_ms=1)
    producer = Producer()
    for first_run in (True, False):  # a restarted receiver keeps its index on disk
        publisher = KafkaPublisher("unused:9092", "casavi.inbound", tmp_path / "index.sqlite")
        publisher._index, publisher._producer = ContentIndex(tmp_path / "index.sqlite"), producer
        assert await publisher.publish(event) is first_run
        assert await publisher.publish(event) is False
        publisher.index.close()
    assert producer.sent == [b"ticket:abc"]
