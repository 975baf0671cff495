"""Persons on the real stack: PostgreSQL -> Debezium -> Kafka -> worker -> sink -> casavi
simulator, with the settings changed between worker restarts (they are read at start).

One Mandant of its own (7101) with property Q901: tenant Q90101 and co-tenant Q90102 sharing
one e-mail address (R08), a commercial tenant Q90103 of person type GEW (R06), an owner
Q90104 with an OWNER contract (R10), staff user Q01 responsible for the property and in its
team (R12). Every test ends with casavi equal to the projection of the ERP."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from streams.demo.services import BridgeServices, wait_for
from streams.settings import BridgeSettings, SyncSettings
from streams.stack import postgres
from tests.integration.test_end_to_end import Bridge, _free_port

pytestmark = pytest.mark.integration

TODAY = date.today()
MANDANT = 7101
PROPERTY = f"{MANDANT}-Q901"
PERSONAL = ("salutation", "title", "firstName", "lastName", "company", "email", "telephone", "mobile", "street",
            "postalCode", "city", "country")


class People(Bridge):
    sync: SyncSettings

    def restart_worker(self, **sync: str) -> None:
        """The worker again, with these ``BRIDGE_SYNC__*`` settings (read at start)."""
        worker = self.services.worker
        worker.stop()
        for name, value in sync.items():
            worker.env[f"BRIDGE_SYNC__{name.upper()}"] = value
        worker.start()
        self.sync = SyncSettings.model_validate(
            {k.removeprefix("BRIDGE_SYNC__").lower(): v for k, v in worker.env.items()
             if k.startswith("BRIDGE_SYNC__")})
        self.settings = self.settings.model_copy(update={"sync": self.sync})

    def report(self) -> dict[str, Any]:
        import subprocess
        import sys

        proc = subprocess.run([sys.executable, "-m", "streams.cli", "report", "quality", "--json"],
                              capture_output=True, text=True, timeout=60, env=self.services.env)
        return json.loads(proc.stdout) if proc.returncode == 0 else {}


def _rows(b: Bridge) -> None:
    start = TODAY - timedelta(days=400)
    for statement, params in [
        ("INSERT INTO erp.mandant (mandant_no, name) VALUES (%s, 'People') ON CONFLICT DO NOTHING", (MANDANT,)),
        ("INSERT INTO erp.team (team_id, name) VALUES (71, 'Team Q')", ()),
        ("INSERT INTO erp.staff_user (user_id, user_no, first_name, last_name, email, phone, active)"
         " VALUES (9101, 'Q01', 'Maria', 'Kaiser', 'm.kaiser@hv.example.org', '+49 30 5', true)", ()),
        ("INSERT INTO erp.team_member (team_id, user_id) VALUES (71, 9101)", ()),
        ("INSERT INTO erp.property (property_id, mandant_no, property_no, name, management_start, team_id)"
         " VALUES (901, %s, 'Q901', 'Rosenhof', %s, 71)", (MANDANT, start)),
        ("INSERT INTO erp.property_user (property_id, user_id, is_responsible) VALUES (901, 9101, true)", ()),
        *[("INSERT INTO erp.unit (unit_id, property_id, unit_no, name, valid_from, is_phantom)"
           " VALUES (%s, 901, %s, 'Wohnung', %s, false)", (9010 + i, f"000{i}", start)) for i in (1, 2)],
        *[("INSERT INTO erp.person (person_id, person_no, person_type_code, salutation, first_name, last_name,"
           " email, phone, street, city) VALUES (%s, %s, %s, 'Frau', 'Erika', 'Muster', %s, '+49 30 1',"
           " 'Rosenweg 1', 'Berlin')", (pid, f"Q{pid}", ptype, email))
          for pid, ptype, email in ((90101, "TENANT", "paar901@example.org"), (90102, "TENANT", "Paar901@example.org"),
                                    (90103, "GEW", "laden901@example.org"), (90104, "OWNER", None))],
        ("INSERT INTO erp.contract (contract_id, contract_no, contract_type, property_id, unit_id, person_id,"
         " start_date) VALUES (9011, 'M1', 'TENANT', 901, 9011, 90101, %s), (9012, 'M2', 'TENANT', 901, 9012, 90103,"
         " %s), (9013, 'E1', 'OWNER', 901, 9011, 90104, %s)", (start, start, start)),
        ("INSERT INTO erp.contract_party (contract_id, person_id, role) VALUES (9011, 90102, 'CO_TENANT')", ()),
        ("INSERT INTO erp.property_owner (property_id, person_id) VALUES (901, 90104)", ()),
    ]:
        b.sql(statement, *params)


def _delete_rows(b: Bridge) -> None:
    for statement in ("DELETE FROM erp.contract_party WHERE contract_id BETWEEN 9011 AND 9013",
                      "DELETE FROM erp.property_owner WHERE property_id = 901",
                      "DELETE FROM erp.contract WHERE contract_id BETWEEN 9011 AND 9013",
                      "DELETE FROM erp.person WHERE person_id BETWEEN 90101 AND 90104",
                      "DELETE FROM erp.unit WHERE property_id = 901",
                      "DELETE FROM erp.property_user WHERE property_id = 901",
                      "DELETE FROM erp.property WHERE property_id = 901",
                      "DELETE FROM erp.team_member WHERE team_id = 71",
                      "DELETE FROM erp.staff_user WHERE user_id = 9101",
                      "DELETE FROM erp.team WHERE team_id = 71"):
        b.sql(statement)


@pytest.fixture(scope="module")
def people(stack: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[People]:
    settings = BridgeSettings()
    run = uuid.uuid4().hex[:8]
    env = dict(os.environ)
    env.update({
        "BRIDGE_KAFKA__BOOTSTRAP_SERVERS": stack["kafka_bootstrap_servers"],
        "BRIDGE_KAFKA__WORKER_APP_ID": f"people-{run}",
        "BRIDGE_KAFKA__SINK_GROUP_ID": f"people-sink-{run}",
        "BRIDGE_KAFKA__COMMANDS_TOPIC": f"casavi.commands.people-{run}",
        "BRIDGE_KAFKA__DLQ_TOPIC": f"casavi.dlq.people-{run}",
        "BRIDGE_KAFKA__TICKS_TOPIC": f"bridge.ticks.people-{run}",
        "BRIDGE_KAFKA__RECEIPTS_TOPIC": f"casavi.receipts.people-{run}",
        "BRIDGE_CASAVI__REQUESTS_PER_MINUTE": "6000",
        "BRIDGE_CASAVI__BATCH_WAIT_S": "0.2",
        "BRIDGE_CASAVI__JOB_POLL_INTERVAL_S": "0.05",
        "BRIDGE_SYNC__MANDANTEN": str(MANDANT),
    })
    tmp = tmp_path_factory.mktemp("people")
    services = BridgeServices(env, Path(tmp), sim_port=_free_port(), sim_db=Path(tmp) / "casavi.sqlite")
    with psycopg.connect(postgres.conninfo(settings.stack), autocommit=True) as conn:
        b = People(services, settings, conn, env)
        _delete_rows(b)  # rows of an earlier run of this module
        _rows(b)
        b.sync = SyncSettings(mandanten=[MANDANT])
        b.settings = settings.model_copy(update={"sync": b.sync})
        services.start()
        try:
            yield b
        finally:
            services.stop()
            _delete_rows(b)


def test_r08_shared_email_one_portal_address_and_a_quality_report_line(people: People) -> None:
    state = people.wait_converged(timeout_s=240)
    assert state["contacts"]["Q90101"]["email"] == "paar901@example.org"
    assert state["contacts"]["Q90102"]["email"] is None and state["contacts"]["Q90102"]["firstName"] == "Erika"
    report = wait_for(lambda: (r := people.report()) and any(c.get("kept") == "Q90101" for c in r["cases"]) and r,
                      60, "the quality report naming Q90101")
    assert {"rule": "R08", "case": "shared e-mail address", "kept": "Q90101", "other": "Q90102"} in report["cases"]
    assert "paar901" not in json.dumps(report) and "Erika" not in json.dumps(report)


def test_r12_staff_user_with_a_property_responsibility_reaches_casavi(people: People) -> None:
    state = people.wait_converged()
    assert state["staff"]["Q01"] == {"id": "Q01", "firstName": "Maria", "lastName": "Kaiser",
                                     "email": "m.kaiser@hv.example.org", "role": "MANAGER"}
    assert state["responsibilities"][f"{PROPERTY}-SQ01"] == {
        "id": f"{PROPERTY}-SQ01", "propertyId": PROPERTY, "staffId": "Q01", "responsible": True, "team": "Team Q"}


def test_r06_person_type_disabled_deletes_its_persons(people: People) -> None:
    assert "Q90103" in people.casavi()["contacts"]
    people.restart_worker(person_types="TENANT,OWNER")
    people.wait_converged(timeout_s=120)  # an archived contact counts as gone for the comparison
    # casavi refuses the contact's delete while its contract is still there (the pass projects
    # persons before units): the bridge deletes it again once the contract is deleted
    def deleted() -> dict[str, Any] | None:
        state = people.casavi()
        return state if "Q90103" not in state["contacts"] else None

    state = wait_for(deleted, 60, "contact Q90103 deleted")
    assert f"{PROPERTY}-0002-M2" not in state["contracts"]
    assert "Q90101" in state["contacts"]


def test_r10_owner_licence_switched_on_brings_owners_with_owner_contracts(people: People) -> None:
    assert "Q90104" not in people.casavi()["contacts"]
    people.restart_worker(owner_licence="true")
    state = people.wait_converged(timeout_s=120)
    assert "Q90104" in state["contacts"]
    owner_contract = state["contracts"][f"{PROPERTY}-0001-E1"]
    assert owner_contract["type"] == "OWNER" and owner_contract["contacts"] == [{"contactId": "Q90104", "role": "MAIN"}]


def test_r11_anonymized_person_casavi_refuses_to_delete_leaves_no_personal_data(people: People) -> None:
    url = people.services.sim_url
    httpx.post(f"{url}/_sim/mode", json={"honour_deletes": False}, timeout=10).raise_for_status()
    try:
        people.sql("UPDATE erp.person SET anonymized_at = now() WHERE person_id = 90102")

        def erased() -> dict[str, Any] | None:
            kept = people.casavi()["contacts"].get("Q90102")
            return kept if kept and kept.get("archived") else None

        kept = wait_for(erased, 120, "the anonymized contact archived")
        assert {f: kept[f] for f in PERSONAL} == dict.fromkeys(PERSONAL) and kept["bankAccounts"] == []
        assert kept["portalUser"] is False
        state = people.wait_converged()
        assert state["contracts"][f"{PROPERTY}-0001-M1"]["contacts"] == [{"contactId": "Q90101", "role": "MAIN"}]
        assert "Erika" not in json.dumps(state["contacts"]["Q90102"])
    finally:
        httpx.post(f"{url}/_sim/mode", json={"honour_deletes": True}, timeout=10)
