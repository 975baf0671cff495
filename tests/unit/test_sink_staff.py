"""Staff and responsibilities through the sink into the casavi simulator (``import_contract``
rules 9 and 10), and contact deletes that casavi refuses (R11)."""

from __future__ import annotations

from typing import Any

import httpx

from streams.casavi.models import Responsibility, Staff
from streams.commands.model import CasaviCommand
from streams.sink.apply import apply_batch
from tests.unit.casavi_commands import contact, contract, prop, unit
from tests.unit.test_sink_apply import Sim, sim, sourced  # noqa: F401 - the fixture

PERSONAL_FIELDS = ("salutation", "title", "firstName", "lastName", "company", "email", "telephone", "mobile",
                   "street", "postalCode", "city", "country")


def staff(ref: str, **fields: Any) -> CasaviCommand:
    values: dict[str, Any] = dict(first_name="Maria", last_name="Kaiser", email="m.kaiser@hv.example", role="MANAGER")
    values.update(fields)
    return CasaviCommand.upsert("staff", ref, Staff(id=ref, **values).wire())


def responsibility(property_ref: str, staff_ref: str, responsible: bool = True) -> CasaviCommand:
    ref = f"{property_ref}-S{staff_ref}"
    doc = Responsibility(id=ref, property_id=property_ref, staff_id=staff_ref, responsible=responsible,
                         team="Team Nord").wire()
    return CasaviCommand.upsert("responsibility", ref, doc, parent_ids=(property_ref,))


async def test_r12_staff_with_a_property_responsibility_reach_casavi_in_one_batch(sim: Sim) -> None:
    result = await apply_batch(sim.client, sourced(responsibility("1-1", "MKS"), staff("MKS"), prop("1-1")))
    assert not result.failed and len(result.applied) == 3
    state = await sim.state()
    assert state["staff"] == {"MKS": {"id": "MKS", "firstName": "Maria", "lastName": "Kaiser",
                                      "email": "m.kaiser@hv.example", "role": "MANAGER"}}
    assert state["responsibilities"] == {"1-1-SMKS": {"id": "1-1-SMKS", "propertyId": "1-1", "staffId": "MKS",
                                                      "responsible": True, "team": "Team Nord"}}
    token = (await sim.admin.post("/authenticate", json={"key": "demo-key", "secret": "demo-secret"})).json()["token"]
    got = (await sim.admin.get("/properties/1-1", headers={"token": token})).json()
    assert got["responsibilities"] == [state["responsibilities"]["1-1-SMKS"]]
    assert (await sim.admin.get("/staff", headers={"token": token})).json() == [state["staff"]["MKS"]]
    assert (await sim.admin.get("/staff/MKS", headers={"token": token})).json()["role"] == "MANAGER"
    assert (await sim.admin.get("/staff/XXX", headers={"token": token})).status_code == 404


async def test_r20_staff_deleted_after_the_responsibilities_naming_them(sim: Sim) -> None:
    await apply_batch(sim.client, sourced(prop("1-1"), staff("MKS"), responsibility("1-1", "MKS")))
    result = await apply_batch(sim.client, sourced(CasaviCommand.delete("staff", "MKS"),
                                                   CasaviCommand.delete("responsibility", "1-1-SMKS", ("1-1",))))
    assert not result.failed
    state = await sim.state()
    assert state["staff"] == {} and state["responsibilities"] == {}
    again = await apply_batch(sim.client, sourced(CasaviCommand.delete("staff", "MKS")))  # idempotent
    assert not again.failed and len(again.applied) == 1


async def test_r20_staff_still_named_and_references_that_are_missing_are_refused(sim: Sim) -> None:
    await apply_batch(sim.client, sourced(prop("1-1"), staff("MKS"), responsibility("1-1", "MKS")))
    refused = await apply_batch(sim.client, sourced(CasaviCommand.delete("staff", "MKS")))
    assert [f.error_code for f in refused.failed] == ["STAFF_IN_USE"]
    missing = await apply_batch(sim.client, sourced(responsibility("1-1", "NOBODY"), responsibility("9-9", "MKS")))
    assert [f.error_code for f in missing.failed] == ["MISSING_REFERENCE", "MISSING_REFERENCE"]
    # a property delete takes its responsibilities with it (rule 10)
    assert not (await apply_batch(sim.client, sourced(CasaviCommand.delete("property", "1-1")))).failed
    assert (await sim.state())["responsibilities"] == {}


async def test_r12_a_staff_member_casavi_refuses_is_a_failure_without_values(sim: Sim) -> None:
    bad = staff("MKS", email="kein-at-zeichen.example")
    result = await apply_batch(sim.client, sourced(bad, staff("TLB", first_name="Tom", last_name="Lehmann")))
    assert [(f.error_code, f.source.command.reference_id) for f in result.failed] == [("INVALID_FIELD", "MKS")]
    assert "kein-at" not in result.failed[0].reason
    assert set((await sim.state())["staff"]) == {"TLB"}


async def test_r11_a_contact_delete_casavi_ignores_leaves_no_personal_data(sim: Sim) -> None:
    await apply_batch(sim.client, sourced(contact("K1", telephone="+49 30 1")))
    await sim.admin.post("/_sim/mode", json={"honour_deletes": False})  # casavi keeps master data
    result = await apply_batch(sim.client, sourced(CasaviCommand.delete("contact", "K1")))
    assert not result.failed
    kept = (await sim.state())["contacts"]["K1"]
    assert kept["archived"] is True and kept["portalUser"] is False and kept["bankAccounts"] == []
    assert {f: kept[f] for f in PERSONAL_FIELDS} == dict.fromkeys(PERSONAL_FIELDS)


async def test_r11_a_contact_delete_casavi_refuses_leaves_no_personal_data(sim: Sim) -> None:
    # something else in casavi still names the contact: the delete is refused, the data goes anyway
    await apply_batch(sim.client, sourced(contact("K1"), prop("1-1"), unit("1-1-1", "1-1"),
                                          contract("1-1-1-1", "1-1", "1-1-1", "K1")))
    result = await apply_batch(sim.client, sourced(CasaviCommand.delete("contact", "K1")))
    assert [f.error_code for f in result.failed] == ["CONTACT_IN_USE"]
    kept = (await sim.state())["contacts"]["K1"]
    assert {f: kept[f] for f in PERSONAL_FIELDS} == dict.fromkeys(PERSONAL_FIELDS)


async def test_staff_endpoint_refuses_a_malformed_body_naming_paths_not_values() -> None:
    from streams.simulator import SimulatorConfig, create_app

    app = create_app(SimulatorConfig())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://casavi.test") as client:
        token = (await client.post("/authenticate", json={"key": "demo-key", "secret": "demo-secret"})).json()["token"]
        answer = await client.post("/staff", headers={"token": token},
                                   json={"id": "X", "firstName": "Geheim", "lastName": "Name", "role": "BOSS"})
        assert answer.status_code == 400 and answer.json()["error"] == "INVALID_FIELD"
        assert "Geheim" not in answer.text and "BOSS" not in answer.text
        assert (await client.delete("/staff/X", headers={"token": token})).status_code == 404
