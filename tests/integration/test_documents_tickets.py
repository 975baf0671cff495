"""Documents and tickets (R16–R19) on the real stack: PostgreSQL -> Debezium -> Kafka -> worker ->
sink -> casavi simulator, the content through the content topic.

One Mandant of its own (7201) with property D901: unit 0001 with tenant D90101's contract M1,
staff user DT1 responsible for tickets. Every test ends with casavi equal to the projection of
the ERP; document content never appears in a log, a dead letter or a command."""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from streams.casavi.import_contract import MAX_CONTENT_BYTES
from streams.commands.model import decode
from streams.demo.services import BridgeServices, Service, wait_for
from streams.inbound.model import decode as decode_inbound
from streams.settings import BridgeSettings, SyncSettings
from streams.stack import postgres
from tests.integration.conftest import TopicReader
from tests.integration.test_end_to_end import Bridge, _free_port

pytestmark = pytest.mark.integration

TODAY = date.today()
MANDANT = 7201
PROPERTY = f"{MANDANT}-D901"
MARKER = f"CONTENT-MARKER-{uuid.uuid4().hex[:12]}"
CONTENT = b"%PDF-1.4\n% " + MARKER.encode() + b"\n" + bytes(range(256)) * 800 + b"\n%%EOF\n"


class Documents(Bridge):
    topics: dict[str, str]
    hooks: Service

    def hooks_status(self) -> dict[str, Any]:
        path = Path(self.env["BRIDGE_STACK__HOME"]) / "state" / "hooks-status.json"
        try:
            status: dict[str, Any] = json.loads(path.read_text())
        except (OSError, ValueError):
            return {}
        return status

    def logs(self) -> str:
        return "\n".join(s.log_path.read_text(errors="replace")
                         for s in (self.services.worker, self.services.sink, self.hooks) if s.log_path.exists())


def _rows(b: Bridge) -> None:
    start = TODAY - timedelta(days=400)
    for statement, params in [
        ("INSERT INTO erp.mandant (mandant_no, name) VALUES (%s, 'Dokumente') ON CONFLICT DO NOTHING", (MANDANT,)),
        ("INSERT INTO erp.property (property_id, mandant_no, property_no, name, management_start)"
         " VALUES (921, %s, 'D901', 'Birkenhof', %s)", (MANDANT, start)),
        ("INSERT INTO erp.unit (unit_id, property_id, unit_no, name, valid_from, is_phantom)"
         " VALUES (9211, 921, '0001', 'Wohnung', %s, false)", (start,)),
        ("INSERT INTO erp.person (person_id, person_no, person_type_code, first_name, last_name, email)"
         " VALUES (92101, 'D90101', 'TENANT', 'Erika', 'Muster', 'd90101@example.org')", ()),
        ("INSERT INTO erp.contract (contract_id, contract_no, contract_type, property_id, unit_id, person_id,"
         " start_date) VALUES (9211, 'M1', 'TENANT', 921, 9211, 92101, %s)", (start,)),
        ("INSERT INTO erp.document_type (document_type_code, name, document_class) VALUES ('DNK', 'NK-Abrechnung',"
         " 'Abrechnung') ON CONFLICT DO NOTHING", ()),
        ("INSERT INTO erp.staff_user (user_id, user_no, first_name, last_name, email, active)"
         " VALUES (9201, 'DT1', 'Maria', 'Kaiser', 'dt1@hv.example.org', true)", ()),
        ("INSERT INTO erp.ticket_type (ticket_type_code, name, portal_mode) VALUES ('DTSTD', 'Schaden', 'STANDARD'),"
         " ('DTPIN', 'Aushang', 'PINBOARD'), ('DTBLK', 'Intern', 'BLOCKED') ON CONFLICT DO NOTHING", ()),
        ("INSERT INTO erp.ticket_status (status_code, name, status_kind) VALUES ('DTNEU', 'Neu', 'OPEN'),"
         " ('DTERL', 'Erledigt', 'DONE') ON CONFLICT DO NOTHING", ()),
    ]:
        b.sql(statement, *params)


def _delete_rows(b: Bridge) -> None:
    for statement in ("DELETE FROM erp.ticket_note WHERE ticket_id BETWEEN 92100 AND 92199",
                      "DELETE FROM erp.ticket WHERE property_id = 921",
                      "DELETE FROM erp.staff_user WHERE user_id = 9201",
                      "DELETE FROM erp.document WHERE property_id = 921",
                      "DELETE FROM erp.contract WHERE contract_id = 9211",
                      "DELETE FROM erp.person WHERE person_id = 92101",
                      "DELETE FROM erp.unit WHERE property_id = 921",
                      "DELETE FROM erp.property WHERE property_id = 921"):
        b.sql(statement)


def _document(b: Bridge, document_id: int, content: bytes, **fields: Any) -> None:
    row: dict[str, Any] = dict(document_id=document_id, property_id=921, unit_id=9211, contract_id=9211,
                               person_id=None, document_type_code="DNK", name=f"Abrechnung {document_id}.pdf",
                               mime_type="application/pdf", created_at=datetime.now(timezone.utc), released=True,
                               content=content)
    row.update(fields)
    cols = ", ".join(row)
    b.sql(f"INSERT INTO erp.document ({cols}) VALUES ({', '.join(['%s'] * len(row))})", *row.values())


@pytest.fixture(scope="module")
def docs(stack: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Documents]:
    settings = BridgeSettings()
    run = uuid.uuid4().hex[:8]
    topics = {name: f"{default}.docs-{run}" for name, default in (
        ("COMMANDS", "casavi.commands"), ("DLQ", "casavi.dlq"), ("TICKS", "bridge.ticks"),
        ("RECEIPTS", "casavi.receipts"), ("CONTENT", "casavi.content"), ("INBOUND", "casavi.inbound"))}
    env = dict(os.environ)
    env.update({
        "BRIDGE_KAFKA__BOOTSTRAP_SERVERS": stack["kafka_bootstrap_servers"],
        "BRIDGE_KAFKA__WORKER_APP_ID": f"docs-{run}",
        "BRIDGE_KAFKA__SINK_GROUP_ID": f"docs-sink-{run}",
        **{f"BRIDGE_KAFKA__{name}_TOPIC": topic for name, topic in topics.items()},
        "BRIDGE_CASAVI__REQUESTS_PER_MINUTE": "6000",
        "BRIDGE_CASAVI__BATCH_WAIT_S": "0.2",
        "BRIDGE_CASAVI__JOB_POLL_INTERVAL_S": "0.05",
        "BRIDGE_SYNC__MANDANTEN": str(MANDANT),
        "BRIDGE_SYNC__ERP_USER": "DT1",
        "BRIDGE_INBOUND__PORT": str(_free_port()),
        "BRIDGE_INBOUND__POLL_INTERVAL_S": "2",
        "BRIDGE_STACK__HOME": str(tmp_path_factory.mktemp("docs-home")),  # status files of its own
    })
    tmp = tmp_path_factory.mktemp("docs")
    services = BridgeServices(env, Path(tmp), sim_port=_free_port(), sim_db=Path(tmp) / "casavi.sqlite")
    hooks = Service("hooks", ["hooks"], services.env, Path(tmp))
    with psycopg.connect(postgres.conninfo(settings.stack), autocommit=True) as conn:
        b = Documents(services, settings.model_copy(update={"sync": SyncSettings(mandanten=[MANDANT])}), conn, env)
        b.topics = topics
        _delete_rows(b)  # rows of an earlier run of this module
        _rows(b)
        services.start()
        hooks.start()
        b.hooks = hooks
        try:
            yield b
        finally:
            hooks.stop()
            services.stop()
            _delete_rows(b)


async def _records(b: Documents, topic: str, expected: int = 1) -> list[Any]:
    """Every record of ``topic`` (at least ``expected``)."""
    async with TopicReader(b.env["BRIDGE_KAFKA__BOOTSTRAP_SERVERS"], topic) as reader:
        await reader.wait_for(lambda r: len(reader.records) >= expected, 30, f"{expected} records")
        return list(reader.records)


async def test_r16_released_document_appears_is_withdrawn_and_disappears(docs: Documents) -> None:
    _document(docs, 92111, CONTENT)
    state = docs.wait_converged(timeout_s=180)
    held = state["documents"][f"{PROPERTY}-D92111"]
    assert held["contentSha256"] == hashlib.sha256(CONTENT).hexdigest() and held["contentSize"] == len(CONTENT)
    assert held["sharedWith"] == [{"contractId": f"{PROPERTY}-0001-M1"}] and held["type"] == ["Abrechnung"]
    docs.sql("UPDATE erp.document SET released = false WHERE document_id = 92111")
    state = docs.wait_converged(timeout_s=120)
    assert f"{PROPERTY}-D92111" not in state["documents"]
    records = await _records(docs, docs.topics["COMMANDS"], 2)
    commands = [decode(r.value) for r in records if r.value]
    mine = [(c.op, c.reason) for c in commands if c.reference_id == f"{PROPERTY}-D92111"]
    assert mine == [("UPSERT", "upsert new"), ("DELETE", "R16 document not released")]
    assert all(MARKER.encode() not in (r.value or b"") for r in records)  # a reference, never the content
    assert MARKER not in docs.logs()


async def test_r16_oversize_document_is_a_dead_letter_with_the_reason_never_cut(docs: Documents) -> None:
    big = MARKER.encode() + b"\0" * MAX_CONTENT_BYTES
    _document(docs, 92112, big)
    async with TopicReader(docs.env["BRIDGE_KAFKA__BOOTSTRAP_SERVERS"], docs.topics["DLQ"]) as reader:
        letter = await reader.wait_for(lambda r: b"D92112" in (r.value or b""), 180, "the oversize dead letter")
        found = json.loads(letter.value)
        assert found["error_code"] == "CONTENT_TOO_LARGE" and found["reference_id"] == f"{PROPERTY}-D92112"
        assert f"{len(big)} bytes" in found["reason"] and str(MAX_CONTENT_BYTES) in found["reason"]
        assert all(MARKER.encode() not in (r.value or b"") for r in reader.records)
    state = docs.wait_converged(timeout_s=60)
    assert f"{PROPERTY}-D92112" not in state["documents"]
    assert MARKER not in docs.logs()


def _ticket(b: Bridge, ticket_id: int, type_code: str, **fields: Any) -> None:
    row: dict[str, Any] = dict(ticket_id=ticket_id, ticket_no=ticket_id, ticket_type_code=type_code,
                               subject=f"Meldung {ticket_id}", description="Heizung im Bad kalt.",
                               reporter_person_id=92101, reported_at=datetime.now(timezone.utc), property_id=921,
                               unit_id=9211, responsible_user_id=9201, status_code="DTNEU", origin="ERP")
    row.update(fields)
    b.sql(f"INSERT INTO erp.ticket ({', '.join(row)}) VALUES ({', '.join(['%s'] * len(row))})", *row.values())


def test_r19_open_ticket_with_a_public_and_an_internal_note_only_the_public_one_arrives(docs: Documents) -> None:
    _ticket(docs, 92101, "DTSTD")
    for note_id, text, internal in ((921011, "Monteur kommt Dienstag.", False),
                                    (921012, "INTERNAL-NOTE-TEXT Mieter schwierig.", True)):
        docs.sql("INSERT INTO erp.ticket_note (note_id, ticket_id, author, created_at, content, is_internal)"
                 " VALUES (%s, 92101, 'Maria Kaiser', now(), %s, %s)", note_id, text, internal)
    state = docs.wait_converged(timeout_s=120)
    ticket = state["tickets"][f"{PROPERTY}-T92101"]
    assert (ticket["status"], ticket["contactId"], ticket["assignedToId"]) == ("OPEN", "D90101", "DT1")
    comments = {ref: c for ref, c in state["comments"].items() if c["ticketId"] == f"{PROPERTY}-T92101"}
    assert list(comments) == [f"{PROPERTY}-T92101-N921011"]
    assert "Monteur kommt Dienstag." in comments[f"{PROPERTY}-T92101-N921011"]["text"]
    assert "INTERNAL-NOTE-TEXT" not in json.dumps(state)
    docs.sql("UPDATE erp.ticket SET status_code = 'DTERL' WHERE ticket_id = 92101")  # done in the ERP: closed
    state = docs.wait_converged(timeout_s=60)
    assert state["tickets"][f"{PROPERTY}-T92101"]["status"] == "CLOSED"


def test_r18_pinboard_ticket_becomes_a_post_and_disappears_when_closed(docs: Documents) -> None:
    _ticket(docs, 92102, "DTPIN", subject="Wasser abgestellt", description="Freitag 9-12 Uhr kein Wasser.")
    state = docs.wait_converged(timeout_s=120)
    post = state["posts"][f"{PROPERTY}-T92102"]
    assert (post["title"], post["authorId"], post["propertyId"]) == ("Wasser abgestellt", "DT1", PROPERTY)
    assert f"{PROPERTY}-T92102" not in state["tickets"]
    docs.sql("UPDATE erp.ticket SET status_code = 'DTERL' WHERE ticket_id = 92102")
    state = docs.wait_converged(timeout_s=60)
    assert f"{PROPERTY}-T92102" not in state["posts"]


def test_r18_blocked_ticket_never_arrives(docs: Documents) -> None:
    _ticket(docs, 92103, "DTBLK", subject="BLOCKED-TICKET")
    _ticket(docs, 92104, "DTSTD", subject="after the blocked one")  # the stream has passed the blocked one
    state = docs.wait_converged(timeout_s=120)
    assert f"{PROPERTY}-T92104" in state["tickets"]
    assert f"{PROPERTY}-T92103" not in state["tickets"] and f"{PROPERTY}-T92103" not in state["posts"]
    assert "BLOCKED-TICKET" not in json.dumps(state)


def _portal(b: Documents, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = httpx.post(f"{b.services.sim_url}/_sim/portal/{path}", json=body, timeout=10)
    response.raise_for_status()
    created: dict[str, Any] = response.json()
    return created


async def test_r17_ticket_created_in_the_portal_reaches_the_inbound_topic_exactly_once(docs: Documents) -> None:
    docs.wait_converged(timeout_s=60)  # the contact and the property are in casavi
    wait_for(lambda: docs.hooks_status().get("subscriptions"), 60, "the hook receiver subscribed")
    ticket = _portal(docs, "tickets", {"propertyId": PROPERTY, "unitId": f"{PROPERTY}-0001", "contactId": "D90101",
                                      "title": "Fenster klemmt", "description": "Im Schlafzimmer."})
    key = f"ticket:{ticket['id']}".encode()
    async with TopicReader(docs.env["BRIDGE_KAFKA__BOOTSTRAP_SERVERS"], docs.topics["INBOUND"]) as reader:
        first = await reader.wait_for(lambda r: r.key == key, 60, "the portal ticket on the inbound topic")
        event = decode_inbound(first.value)
        assert (event.kind, event.property_id, event.contact_id, event.title, event.erp_user) == (
            "TICKET_CREATED", PROPERTY, "D90101", "Fenster klemmt", "DT1")
        assert event.source == "HOOK"  # the hook came before the next poll
        polls = docs.hooks_status()["polls"]
        wait_for(lambda: docs.hooks_status().get("polls", 0) >= polls + 2, 60, "two more polls")
        deliveries = httpx.get(f"{docs.services.sim_url}/_sim/hooks/deliveries", timeout=10).json()["deliveries"]
        assert any(d["eventName"] == "ticket_created" and d["status"] == 200 for d in deliveries)
        # a tenant's comment on an ERP ticket comes back; an internal one and the bridge's own do not
        _ticket(docs, 92105, "DTSTD", subject="Klingel defekt")
        docs.sql("INSERT INTO erp.ticket_note (note_id, ticket_id, author, created_at, content, is_internal)"
                 " VALUES (921051, 92105, 'Maria Kaiser', now(), 'Wir kümmern uns.', false)")
        docs.wait_converged(timeout_s=60)
        erp_ticket = f"{PROPERTY}-T92105"
        reply = _portal(docs, f"tickets/{erp_ticket}/comments", {"contactId": "D90101", "text": "Danke!"})
        _portal(docs, f"tickets/{erp_ticket}/comments", {"text": "INTERNAL-CASAVI-NOTE", "isInternal": True})
        ckey = f"comment:{erp_ticket}:{reply['id']}".encode()
        comment = decode_inbound((await reader.wait_for(lambda r: r.key == ckey, 60, "the portal comment")).value)
        assert (comment.kind, comment.erp_ticket_no, comment.text, comment.contact_id) == (
            "COMMENT_CREATED", 92105, "Danke!", "D90101")
        polls = docs.hooks_status()["polls"]
        wait_for(lambda: docs.hooks_status().get("polls", 0) >= polls + 2, 60, "two more polls")
    records = await _records(docs, docs.topics["INBOUND"], 2)
    keys = [r.key for r in records]
    assert keys.count(key) == 1 and keys.count(ckey) == 1  # exactly once, seen by hook and polls
    events = [decode_inbound(r.value) for r in records]
    assert not any(e.kind == "TICKET_CREATED" and e.ticket_id.startswith(PROPERTY) for e in events)  # no echo
    assert not any(e.text and "INTERNAL-CASAVI-NOTE" in e.text for e in events)
    assert not any(e.comment_id and e.comment_id.startswith(f"{erp_ticket}-N") for e in events)
