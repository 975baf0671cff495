"""Documents (R16) on the real stack: PostgreSQL -> Debezium -> Kafka -> worker -> sink -> casavi
simulator, the content through the content topic.

One Mandant of its own (7201) with property D901: unit 0001 with tenant D90101's contract M1.
Every test ends with casavi equal to the projection of the ERP; document content never
appears in a log, a dead letter or a command."""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import psycopg
import pytest

from streams.casavi.import_contract import MAX_CONTENT_BYTES
from streams.commands.model import decode
from streams.demo.services import BridgeServices
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

    def logs(self) -> str:
        return "\n".join(s.log_path.read_text(errors="replace") for s in (self.services.worker, self.services.sink)
                         if s.log_path.exists())


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
    ]:
        b.sql(statement, *params)


def _delete_rows(b: Bridge) -> None:
    for statement in ("DELETE FROM erp.document WHERE property_id = 921",
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
        ("RECEIPTS", "casavi.receipts"), ("CONTENT", "casavi.content"))}
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
    })
    tmp = tmp_path_factory.mktemp("docs")
    services = BridgeServices(env, Path(tmp), sim_port=_free_port(), sim_db=Path(tmp) / "casavi.sqlite")
    with psycopg.connect(postgres.conninfo(settings.stack), autocommit=True) as conn:
        b = Documents(services, settings.model_copy(update={"sync": SyncSettings(mandanten=[MANDANT])}), conn, env)
        b.topics = topics
        _delete_rows(b)  # rows of an earlier run of this module
        _rows(b)
        services.start()
        try:
            yield b
        finally:
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
