"""The casavi simulator over HTTP (in-process): authentication, import rules
(``streams.casavi.import_contract``), reading endpoints, limits, faults, persistence, stats."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from streams.casavi.import_contract import archive_item, container, delete_item, nest
from streams.casavi.models import (
    Address,
    AuthResponse,
    Contact,
    Contract,
    ContractParty,
    Job,
    Property,
    Unit,
)
from streams.simulator import SimulatorConfig, create_app
from streams.simulator.app import Simulator

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
PERSONAL = ("Erika", "Mustermann", "erika.mustermann", "DE89370400440532013000")


def contact(ref: str, **fields: Any) -> dict[str, Any]:
    doc = Contact(id=ref, salutation="Frau", title=None, first_name="Erika", last_name="Mustermann", company=None,
                  email="erika.mustermann@example.org", telephone=None, mobile=None, street="Hauptstr. 1",
                  postal_code="10115", city="Berlin", country="DE").wire()
    return {**doc, **fields}


def prop(ref: str, **fields: Any) -> dict[str, Any]:
    doc = Property(id=ref, number=ref, name="Wohnanlage Nord", group=None, management_start=None,
                   street="Nordweg 3", postal_code="10115", city="Berlin", country="DE",
                   addresses=[Address(id=f"{ref}-A", street="Nordweg", house_number="3", postal_code="10115",
                                      city="Berlin")]).wire()
    return {**doc, **fields}


def unit(ref: str, **fields: Any) -> dict[str, Any]:
    doc = Unit(id=ref, number=ref.rsplit("-", 1)[-1], name="Whg 1", address=None, purpose="RESIDENTIAL",
               area="61.5", floor="2", rooms="3", start_date=None, end_date=None, current_contract_start=None,
               current_contract_end=None).wire()
    return {**doc, **fields}


def contract(ref: str, *contact_ids: str, **fields: Any) -> dict[str, Any]:
    doc = Contract(id=ref, number=ref, type="TENANT",
                   contacts=[ContractParty(contact_id=c, role="MAIN") for c in contact_ids],
                   start_date=None, end_date=None, rent="650.00", deposit=None).wire()
    return {**doc, **fields}


def estate(p: str = "P1", u: str = "P1-1", k: str = "K1", c: str = "C1", **contract_fields: Any) -> dict[str, Any]:
    """One property with one unit, one contract and its contact, in one import body."""
    return {
        "contacts": [contact(c)],
        "properties": [{**prop(p), "units": [{**unit(u), "contracts": [contract(k, c, **contract_fields)]}]}],
    }


class Client:
    """An authenticated client of an in-process simulator."""

    def __init__(self, http: httpx.AsyncClient, sim: Simulator) -> None:
        self.http = http
        self.sim = sim
        self.token = ""

    async def login(self) -> None:
        response = await self.http.post("/authenticate", json={"key": "demo-key", "secret": "demo-secret"})
        assert response.status_code == 200
        self.token = AuthResponse.model_validate(response.json()).token

    async def get(self, path: str, **params: Any) -> httpx.Response:
        return await self.http.get(path, params=params, headers={"token": self.token})

    async def post_import(self, body: Any) -> httpx.Response:
        return await self.http.post("/import", json=body, headers={"token": self.token})

    async def run_import(self, body: dict[str, Any]) -> Job:
        response = await self.post_import(body)
        assert response.status_code == 200, response.text
        job_id = response.json()["jobId"]
        for _ in range(500):
            job = Job.model_validate((await self.get(f"/jobs/{job_id}")).json())
            if job.completed:
                return job
            await asyncio.sleep(0.01)
        raise AssertionError("import job did not complete")

    async def state(self) -> dict[str, Any]:
        result: dict[str, Any] = (await self.http.get("/_sim/state")).json()
        return result

    async def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = (await self.http.get("/_sim/stats")).json()
        return result


def statuses(job: Job) -> list[tuple[str, str, str]]:
    return [(item.entity, item.id, item.status) for item in job.results.items]


def failure(job: Job, entity: str, ref: str) -> tuple[str | None, str | None]:
    (item,) = [i for i in job.results.items if (i.entity, i.id, i.status) == (entity, ref, "failed")]
    return item.error_code, item.error


def connect(config: SimulatorConfig, clock: list[datetime] | None = None) -> tuple[httpx.AsyncClient, Simulator]:
    app = create_app(config, clock=(lambda: clock[0]) if clock else None)
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://casavi.test")
    return http, app.state.simulator


@pytest.fixture
async def client() -> AsyncIterator[Client]:
    http, sim = connect(SimulatorConfig())
    async with http:
        c = Client(http, sim)
        await c.login()
        yield c


# --- authentication -----------------------------------------------------------------------


async def test_authenticate_returns_token_valid_for_a_month() -> None:
    clock = [NOW]
    http, _ = connect(SimulatorConfig(), clock)
    async with http:
        response = await http.post("/authenticate", json={"key": "demo-key", "secret": "demo-secret"})
    assert response.status_code == 200
    body = response.json()
    assert body["expiresAt"].endswith("Z")
    assert AuthResponse.model_validate(body).expires_at == NOW + timedelta(days=30)


async def test_wrong_secret_missing_and_unknown_token_are_401() -> None:
    http, _ = connect(SimulatorConfig())
    async with http:
        bad = await http.post("/authenticate", json={"key": "demo-key", "secret": "s3cr3t-guess"})
        missing = await http.get("/properties")
        unknown = await http.get("/properties", headers={"token": "not-a-token"})
    assert [r.status_code for r in (bad, missing, unknown)] == [401, 401, 401]
    assert unknown.json()["error"] == "unauthorized"
    assert "s3cr3t-guess" not in bad.text


async def test_deprecated_api_key_and_password_still_authenticate() -> None:
    http, _ = connect(SimulatorConfig())
    async with http:
        response = await http.post("/authenticate", json={"apiKey": "demo-key", "email": "x@example.org",
                                                          "password": "demo-secret"})
    assert response.status_code == 200


async def test_expired_token_is_401_and_reauthentication_works() -> None:
    clock = [NOW]
    http, sim = connect(SimulatorConfig(token_ttl_s=60), clock)
    async with http:
        c = Client(http, sim)
        await c.login()
        assert (await c.get("/properties")).status_code == 200
        clock[0] = NOW + timedelta(seconds=61)
        assert (await c.get("/properties")).status_code == 401
        await c.login()
        assert (await c.get("/properties")).status_code == 200


async def test_expire_tokens_fault_ends_every_issued_token(client: Client) -> None:
    await client.http.post("/_sim/faults", json={"expire_tokens": True})
    assert (await client.get("/properties")).status_code == 401
    await client.login()
    assert (await client.get("/properties")).status_code == 200


async def test_refresh_path_is_not_invented(client: Client) -> None:
    """The API text describes a token refresh without a path: re-authenticate instead."""
    response = await client.http.post("/authenticate/refresh", json={"apiKey": "demo-key", "token": client.token},
                                      headers={"token": client.token})
    assert response.status_code == 404


# --- import: creation, upsert, null semantics ------------------------------------------------


async def test_import_creates_contacts_properties_units_contracts(client: Client) -> None:
    job = await client.run_import(estate())
    assert statuses(job) == [("contact", "C1", "created"), ("property", "P1", "created"),
                             ("unit", "P1-1", "created"), ("contract", "K1", "created")]
    assert job.progress == 1.0 and job.completed_at is not None

    state = await client.state()
    assert state["contacts"]["C1"]["lastName"] == "Mustermann"
    assert state["properties"]["P1"]["addresses"][0]["id"] == "P1-A"
    assert state["units"]["P1-1"]["propertyId"] == "P1"
    assert state["contracts"]["K1"]["unitId"] == "P1-1"

    properties = (await client.get("/properties")).json()
    assert (properties["count"], properties["page"], properties["pageCount"]) == (1, 1, 1)
    assert (await client.get("/properties/P1")).json()["addresses"][0]["houseNumber"] == "3"
    units = (await client.get("/properties/P1/units")).json()
    assert [u["id"] for u in units["rows"]] == ["P1-1"] and units["page"] == 0
    assert [k["id"] for k in (await client.get("/units/P1-1")).json()["contracts"]] == ["K1"]
    assert [c["id"] for c in (await client.get("/contacts")).json()] == ["C1"]
    assert (await client.get("/contacts/C1")).json()["email"] == "erika.mustermann@example.org"


async def test_unknown_ids_are_404(client: Client) -> None:
    for path in ("/properties/X", "/properties/X/units", "/units/X", "/contacts/X", "/jobs/X"):
        assert (await client.get(path)).status_code == 404, path


async def test_r21_second_identical_import_is_unchanged(client: Client) -> None:
    await client.run_import(estate())
    before = await client.state()
    job = await client.run_import(estate())
    assert {status for _, _, status in statuses(job)} == {"unchanged"}
    assert await client.state() == before


async def test_absent_fields_stay_and_null_clears(client: Client) -> None:
    await client.run_import({"contacts": [contact("C1")]})
    job = await client.run_import({"contacts": [{"id": "C1", "telephone": "+49 30 1234", "city": None}]})
    assert statuses(job) == [("contact", "C1", "updated")]
    stored = (await client.state())["contacts"]["C1"]
    assert stored["telephone"] == "+49 30 1234"  # sent: set
    assert stored["city"] is None  # null: cleared
    assert stored["lastName"] == "Mustermann"  # absent: unchanged


async def test_new_entity_without_a_required_field_fails(client: Client) -> None:
    body = {"properties": [{"id": "P1", "name": "no number"}]}
    code, error = failure(await client.run_import(body), "property", "P1")
    assert code == "INVALID_FIELD" and error is not None and "number" in error


async def test_container_items_change_nothing(client: Client) -> None:
    await client.run_import(estate())
    top, item = nest("unit", "P1-2", ["P1"], unit("P1-2"))
    job = await client.run_import({top: [item]})
    assert statuses(job) == [("property", "P1", "unchanged"), ("unit", "P1-2", "created")]
    assert (await client.state())["properties"]["P1"]["name"] == "Wohnanlage Nord"


async def test_r20_unit_before_property_is_rejected(client: Client) -> None:
    top, item = nest("unit", "P9-1", ["P9"], unit("P9-1"))
    job = await client.run_import({top: [item]})
    assert statuses(job)[0] == ("property", "P9", "absent")  # the container names nothing
    code, error = failure(job, "unit", "P9-1")
    assert code == "MISSING_REFERENCE" and error is not None and "P9" in error
    assert (await client.state())["units"] == {}


async def test_r20_contract_naming_unknown_contact_is_rejected(client: Client) -> None:
    body = estate()
    body["properties"][0]["units"][0]["contracts"].append(contract("K2", "C1", "C-missing"))
    job = await client.run_import(body)
    code, error = failure(job, "contract", "K2")
    assert code == "MISSING_REFERENCE" and error is not None and "C-missing" in error
    assert ("contract", "K1", "created") in statuses(job)  # one failed item does not stop the others


async def test_r20_contacts_and_properties_apply_before_units_and_contracts(client: Client) -> None:
    """Whatever order the lists come in, one import applies them in referential order."""
    body = estate()
    job = await client.run_import({"properties": body["properties"], "contacts": body["contacts"]})
    assert [status for _, _, status in statuses(job)] == ["created"] * 4
    assert [entity for entity, _, _ in statuses(job)] == ["contact", "property", "unit", "contract"]


# --- import: deletes and contacts -------------------------------------------------------------


async def test_r13_delete_of_unknown_id_is_absent(client: Client) -> None:
    top, item = nest("contract", "K9", ["P9", "P9-1"], delete_item("K9"))
    job = await client.run_import({"contacts": [delete_item("C9")], top: [item]})
    assert statuses(job) == [("contact", "C9", "absent"), ("property", "P9", "absent"),
                             ("unit", "P9-1", "absent"), ("contract", "K9", "absent")]


async def test_r13_property_delete_cascades_to_units_and_contracts(client: Client) -> None:
    await client.run_import(estate())
    job = await client.run_import({"properties": [delete_item("P1")]})
    assert statuses(job) == [("property", "P1", "deleted")]
    state = await client.state()
    assert (state["properties"], state["units"], state["contracts"]) == ({}, {}, {})
    assert list(state["contacts"]) == ["C1"]  # contacts are not part of the property


async def test_unit_delete_cascades_to_its_contracts(client: Client) -> None:
    await client.run_import(estate())
    top, item = nest("unit", "P1-1", ["P1"], delete_item("P1-1"))
    await client.run_import({top: [item]})
    state = await client.state()
    assert list(state["properties"]) == ["P1"] and state["contracts"] == {}


async def test_contact_delete_without_archive_fails(client: Client) -> None:
    await client.run_import({"contacts": [contact("C1")]})
    code, _ = failure(await client.run_import({"contacts": [delete_item("C1")]}), "contact", "C1")
    assert code == "CONTACT_NOT_ARCHIVED"
    assert "C1" in (await client.state())["contacts"]


async def test_contact_delete_while_named_by_a_contract_fails(client: Client) -> None:
    await client.run_import(estate())
    job = await client.run_import({"contacts": [archive_item("C1"), delete_item("C1")]})
    assert statuses(job)[0] == ("contact", "C1", "archived")
    code, error = failure(job, "contact", "C1")
    assert code == "CONTACT_IN_USE" and error is not None and "K1" in error


async def test_contract_delete_then_archive_and_delete_contact_succeeds(client: Client) -> None:
    await client.run_import(estate())
    top, item = nest("contract", "K1", ["P1", "P1-1"], delete_item("K1"))
    assert statuses(await client.run_import({top: [item]}))[-1] == ("contract", "K1", "deleted")
    job = await client.run_import({"contacts": [archive_item("C1"), delete_item("C1")]})
    assert statuses(job) == [("contact", "C1", "archived"), ("contact", "C1", "deleted")]
    assert (await client.state())["contacts"] == {}


async def test_archiving_an_unknown_contact_is_absent(client: Client) -> None:
    job = await client.run_import({"contacts": [archive_item("C9"), delete_item("C9")]})
    assert statuses(job) == [("contact", "C9", "absent"), ("contact", "C9", "absent")]


async def test_archived_contacts_and_their_contracts_are_not_listed(client: Client) -> None:
    await client.run_import(estate())
    await client.run_import({"contacts": [{"id": "C1", "archived": True}]})
    assert (await client.get("/contacts")).json() == []
    assert (await client.get("/units/P1-1")).json()["contracts"] == []
    assert (await client.get("/contacts/C1")).json()["archived"] is True
    # "archived" is a field: an upsert without it keeps the contact archived, false re-activates it
    assert statuses(await client.run_import({"contacts": [contact("C1")]})) == [("contact", "C1", "unchanged")]
    job = await client.run_import({"contacts": [{**contact("C1"), "archived": False}]})
    assert statuses(job) == [("contact", "C1", "updated")]
    assert [c["id"] for c in (await client.get("/contacts")).json()] == ["C1"]


async def test_archiving_before_a_delete_ends_portal_access_and_creates_nothing(client: Client) -> None:
    await client.run_import(estate())
    assert statuses(await client.run_import({"contacts": [archive_item("C1")]})) == [("contact", "C1", "archived")]
    assert (await client.get("/contacts/C1")).json()["portalUser"] is False
    assert statuses(await client.run_import({"contacts": [archive_item("C9")]})) == [("contact", "C9", "absent")]
    assert (await client.get("/contacts/C9")).status_code == 404


async def test_inactive_contracts_only_on_request(client: Client) -> None:
    clock = [NOW]
    http, sim = connect(SimulatorConfig(), clock)
    async with http:
        c = Client(http, sim)
        await c.login()
        await c.run_import(estate(endDate="2025-12-31"))
        default = (await c.get("/properties/P1/units")).json()["rows"][0]["contracts"]
        included = (await c.get("/properties/P1/units", includeInactiveContracts="true")).json()
    assert default == []
    assert [k["id"] for k in included["rows"][0]["contracts"]] == ["K1"]


# --- validation -------------------------------------------------------------------------------


async def test_invalid_email_fails_without_personal_data(client: Client) -> None:
    job = await client.run_import({"contacts": [contact("C1", email="erika.mustermann(at)example.org")]})
    code, error = failure(job, "contact", "C1")
    assert code == "INVALID_FIELD" and error is not None and "email" in error
    assert not any(p.lower() in json.dumps(job.model_dump(mode="json")).lower() for p in PERSONAL)


@pytest.mark.parametrize(("fields", "field"), [
    ({"purpose": "CASTLE"}, "purpose"),
    ({"startDate": "01.02.2024"}, "startDate"),
    ({"area": 61.5}, "area"),
    ({"colour": "blue"}, "colour"),
])
async def test_unit_fields_are_validated(client: Client, fields: dict[str, Any], field: str) -> None:
    await client.run_import({"properties": [prop("P1")]})
    top, item = nest("unit", "P1-1", ["P1"], unit("P1-1", **fields))
    code, error = failure(await client.run_import({top: [item]}), "unit", "P1-1")
    assert code == "INVALID_FIELD" and error is not None and field in error


async def test_bank_account_errors_name_the_field_not_the_iban(client: Client) -> None:
    bad = contact("C1", bankAccounts=[{"iban": "DE89370400440532013000", "bic": None}])
    code, error = failure(await client.run_import({"contacts": [bad]}), "contact", "C1")
    assert code == "INVALID_FIELD" and error == "bankAccounts[0].accountHolder: Field required"


async def test_malformed_import_is_400_naming_the_path(client: Client) -> None:
    body = {"contacts": [contact("C1"), {"lastName": "Mustermann"}],
            "properties": [{"id": "P1", "units": [{"id": ""}]}, {"id": "P2", "units": {"id": "x"}}]}
    response = await client.post_import(body)
    assert response.status_code == 400
    assert {d["path"] for d in response.json()["details"]} == {
        "contacts[1].id", "properties[0].units[0].id", "properties[1].units"}
    assert not any(p in response.text for p in PERSONAL)
    assert (await client.state())["contacts"] == {}  # nothing of a malformed request is applied


async def test_non_json_and_non_object_bodies_are_400(client: Client) -> None:
    not_json = await client.http.post("/import", content=b"{contacts:", headers={"token": client.token})
    not_object = await client.post_import([contact("C1")])
    wrong_type = await client.post_import({"contacts": {"id": "C1"}})
    assert [r.status_code for r in (not_json, not_object, wrong_type)] == [400, 400, 400]
    assert not_json.json()["error"] == "invalid_json"
    assert wrong_type.json()["details"] == [{"path": "contacts", "message": "must be an array"}]


# --- jobs, limits, faults ---------------------------------------------------------------------


async def test_jobs_complete_asynchronously() -> None:
    http, sim = connect(SimulatorConfig(job_processing_delay_s=0.2))
    async with http:
        c = Client(http, sim)
        await c.login()
        job_id = (await c.post_import({"contacts": [contact("C1")]})).json()["jobId"]
        first = (await c.get(f"/jobs/{job_id}")).json()
        assert (first["completed"], first["progress"], first["completedAt"]) == (False, 0.0, None)
        await sim.drain()
        done = Job.model_validate((await c.get(f"/jobs/{job_id}")).json())
    assert done.completed and statuses(done) == [("contact", "C1", "created")]


async def test_body_over_10_mb_is_413(client: Client) -> None:
    body = {"contacts": [contact("C1", company="x" * (10 * 1024 * 1024))]}
    response = await client.post_import(body)
    assert response.status_code == 413
    chunked = await client.http.post("/import", content=_chunks(b"x" * (11 * 1024 * 1024)),
                                     headers={"token": client.token})
    assert chunked.status_code == 413


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(data), 1024 * 1024):
        yield data[start:start + 1024 * 1024]


async def test_rate_limit_answers_429_with_retry_after() -> None:
    http, sim = connect(SimulatorConfig(rate_limit_per_minute=3))
    async with http:
        c = Client(http, sim)
        await c.login()
        codes = [(await c.get("/properties")).status_code for _ in range(3)]
        limited = await c.get("/properties")
        admin = await http.get("/_sim/stats")
    assert codes == [200, 200, 429]  # the login was the first of three
    assert limited.status_code == 429 and 1 <= int(limited.headers["Retry-After"]) <= 60
    assert admin.status_code == 200  # admin endpoints are never limited


async def test_5xx_fault_answers_the_next_requests_then_recovers(client: Client) -> None:
    await client.http.post("/_sim/faults", json={"status": 503, "count": 2})
    codes = [(await client.get("/properties")).status_code for _ in range(3)]
    assert codes == [503, 503, 200]


async def test_fault_can_target_a_path_and_delay(client: Client) -> None:
    await client.http.post("/_sim/faults", json={"status": 500, "delay_s": 0.05, "path": "/import"})
    assert (await client.get("/properties")).status_code == 200
    assert (await client.post_import({"contacts": []})).status_code == 500
    assert (await client.post_import({"contacts": []})).status_code == 200


async def test_delay_fault_holds_the_answer_past_the_client_timeout(client: Client) -> None:
    await client.http.post("/_sim/faults", json={"delay_s": 5})
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(client.get("/properties"), 0.2)
    assert (await client.get("/properties")).status_code == 200  # count 1: only the first


async def test_invalid_fault_is_400(client: Client) -> None:
    response = await client.http.post("/_sim/faults", json={"count": 2})
    assert response.status_code == 400


# --- persistence, stats, reset ----------------------------------------------------------------


async def test_state_survives_a_restart_with_the_same_file(tmp_path: Path) -> None:
    config = SimulatorConfig(db_path=str(tmp_path / "casavi-sim.sqlite"))
    http, sim = connect(config)
    async with http:
        c = Client(http, sim)
        await c.login()
        job = await c.run_import(estate())
        token = c.token
        before = await c.state()
    sim.store.close()

    http, sim = connect(config)
    async with http:
        c = Client(http, sim)
        c.token = token  # issued tokens survive too
        assert await c.state() == before
        assert Job.model_validate((await c.get(f"/jobs/{job.id}")).json()) == job
        assert (await c.get("/units/P1-1")).json()["contracts"][0]["id"] == "K1"


async def test_jobs_accepted_before_a_restart_are_applied_after_it(tmp_path: Path) -> None:
    config = SimulatorConfig(db_path=str(tmp_path / "casavi-sim.sqlite"), job_processing_delay_s=60)
    http, sim = connect(config)
    async with http:
        c = Client(http, sim)
        await c.login()
        job_id = (await c.post_import({"contacts": [contact("C1")]})).json()["jobId"]
    for task in list(sim._tasks):  # the process ends before the job ran
        task.cancel()
    sim.store.close()

    app = create_app(config.model_copy(update={"job_processing_delay_s": 0}))
    async with app.router.lifespan_context(app):
        await app.state.simulator.drain()
        job = app.state.simulator.store.job(job_id)
    assert job is not None and job["completed"] is True


async def test_stats_count_requests_write_calls_and_items(client: Client) -> None:
    await client.run_import(estate())
    await client.run_import({"contacts": [delete_item("C9")]})
    await client.get("/properties/P1")
    stats = await client.stats()
    assert stats["requests"]["POST /import"] == 2
    assert stats["requests"]["GET /properties/{id}"] == 1
    assert stats["requests"]["GET /jobs/{id}"] >= 2
    assert stats["requests"]["POST /authenticate"] == 1
    assert stats["write_calls"] == 2  # authentication and /_sim/ are not writes
    assert stats["import_items"] == 5
    assert stats["items"]["contact"] == {"absent": 1, "created": 1}
    assert stats["entities"] == {"contact": 1, "contract": 1, "property": 1, "unit": 1}
    assert "GET /_sim/stats" not in stats["requests"]


async def test_reset_clears_data_counters_and_faults(client: Client) -> None:
    await client.run_import(estate())
    await client.http.post("/_sim/faults", json={"status": 503, "count": 5})
    assert (await client.http.post("/_sim/reset")).status_code == 200
    assert (await client.stats())["write_calls"] == 0
    assert (await client.get("/properties")).json()["count"] == 0  # token still valid, no fault left
    assert (await client.state())["contacts"] == {}


async def test_bridge_container_helpers_round_trip(client: Client) -> None:
    """The import_contract helpers the sink uses build bodies the simulator accepts."""
    await client.run_import({"contacts": [contact("C1")], "properties": [container("P1") | prop("P1")]})
    top, item = nest("contract", "K1", ["P1", "P1-1"], contract("K1", "C1"))
    item["units"][0].update(unit("P1-1"))
    job = await client.run_import({top: [item]})
    assert statuses(job) == [("property", "P1", "unchanged"), ("unit", "P1-1", "created"),
                             ("contract", "K1", "created")]


async def test_mode_as_the_api_text_shows_it_empty_results_and_ignored_deletes(client: Client) -> None:
    """``/_sim/mode``: job results as the API text shows them (``"results": {}``) and master-data
    deletes ignored (the text documents ``"delete": true`` for documents only)."""
    assert (await client.http.get("/_sim/mode")).json() == {"job_results": "items", "honour_deletes": True}
    mode = await client.http.post("/_sim/mode", json={"job_results": "empty", "honour_deletes": False})
    assert mode.json() == {"job_results": "empty", "honour_deletes": False}
    await client.run_import(estate())
    response = await client.post_import({"contacts": [archive_item("C1"), delete_item("C1")],
                                         "properties": [delete_item("P1")]})
    job_id = response.json()["jobId"]
    await client.sim.drain()
    job = (await client.get(f"/jobs/{job_id}")).json()
    assert job["completed"] is True and job["results"] == {}
    state = await client.state()
    assert "P1" in state["properties"] and state["contacts"]["C1"]["portalUser"] is False
    assert (await client.http.post("/_sim/mode", json={"job_results": "none"})).status_code == 400
