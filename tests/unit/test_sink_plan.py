"""plan_batch: from a batch of commands to imports in an order casavi accepts (R20)."""

from __future__ import annotations

from typing import Any

from streams.commands.model import CasaviCommand
from streams.sink.plan import build_phase, collapse, plan_batch
from tests.unit.casavi_commands import contact, contract, prop, unit


def delete(entity: Any, ref: str, *parents: str) -> CasaviCommand:
    return CasaviCommand.delete(entity, ref, parent_ids=tuple(parents))


def test_empty_batch_has_no_phases() -> None:
    assert plan_batch([]) == []


def test_collapse_keeps_the_last_command_per_entity_and_the_earliest_position() -> None:
    cmds = [prop("P1", "old"), contact("K1"), prop("P1", "new"), delete("contact", "K1"), prop("P2")]
    planned = collapse(cmds)
    assert [(p.key, p.index, p.first_index, p.superseded) for p in planned] == [
        (("property", "P1"), 2, 0, (0,)),
        (("contact", "K1"), 3, 1, (1,)),
        (("property", "P2"), 4, 4, ()),
    ]
    assert planned[0].command.document is not None and planned[0].command.document["name"] == "new"


def test_same_reference_id_of_different_entities_is_not_collapsed() -> None:
    planned = collapse([contact("1-100"), prop("1-100")])
    assert [p.key for p in planned] == [("contact", "1-100"), ("property", "1-100")]


def test_upserts_are_one_import_with_units_and_contracts_nested() -> None:
    cmds = [contract("C1", "P1", "U1", "K1"), unit("U1", "P1"), contact("K1"), prop("P1"), unit("U2", "P1"),
            contract("C2", "P2", "U3", "K1")]
    (phase,) = plan_batch(cmds)
    assert phase.kind == "upsert"
    body = phase.body
    assert [c["id"] for c in body["contacts"]] == ["K1"]
    assert body["contacts"][0]["archived"] is False
    p1, p2 = body["properties"]
    # The upserted property carries its units in the same item (merged, no second container).
    assert p1["id"] == "P1" and p1["name"] == "Haus"
    assert [u["id"] for u in p1["units"]] == ["U1", "U2"]
    assert p1["units"][0]["number"] == "U1"  # the unit's full document, merged with its container
    assert [c["id"] for c in p1["units"][0]["contracts"]] == ["C1"]
    assert "contracts" not in p1["units"][1]
    # A contract of a property/unit not in the batch goes into containers.
    assert p2 == {"id": "P2", "units": [{"id": "U3", "contracts": [p2["units"][0]["contracts"][0]]}]}
    assert set(phase.targets) == set(range(6))
    assert phase.targets[0].own == ("contract", "C1")
    assert phase.targets[0].ancestors == (("property", "P1"), ("unit", "U1"))


def test_r20_units_after_their_property() -> None:
    # A unit read before its property (e.g. from an earlier position) is still nested
    # under it, so casavi creates the property first (properties before units).
    (phase,) = plan_batch([unit("U1", "P1"), prop("P1")])
    (p1,) = phase.body["properties"]
    assert p1["number"] == "P1" and p1["units"][0]["id"] == "U1"
    # Commands are in referential order: a bisected half never holds a unit before its property.
    assert [p.command.entity for p in phase.commands] == ["property", "unit"]


def test_r20_contract_after_its_contacts_and_unit() -> None:
    (phase,) = plan_batch([contract("C1", "P1", "U1", "K1", "K2"), contact("K2"), unit("U1", "P1"),
                           contact("K1")])
    # casavi applies the contacts list before properties and their nested units and contracts.
    assert list(phase.body) == ["contacts", "properties"]
    assert {c["id"] for c in phase.body["contacts"]} == {"K1", "K2"}
    assert [p.command.entity for p in phase.commands] == ["contact", "contact", "unit", "contract"]


def test_r20_contact_delete_after_contract_delete() -> None:
    phases = plan_batch([delete("contact", "K1"), delete("contract", "C1", "P1", "U1")])
    assert [p.kind for p in phases] == ["delete", "contact_delete"]
    assert phases[0].body == {"properties": [{"id": "P1", "units": [{"id": "U1", "contracts": [
        {"id": "C1", "delete": True}]}]}]}
    # The contact is archived (portal access ended, personal data erased: R11) before it is
    # deleted, in the same import.
    assert phases[1].body == {"contacts": [
        {"id": "K1", "archived": True, "portalUser": False, "salutation": None, "title": None, "firstName": None,
         "lastName": None, "company": None, "email": None, "telephone": None, "mobile": None, "street": None,
         "postalCode": None, "city": None, "country": None, "bankAccounts": []},
        {"id": "K1", "delete": True}]}


def test_r13_upserts_then_deletes_then_contact_deletes() -> None:
    phases = plan_batch([delete("contact", "K9"), delete("unit", "U9", "P9"), contact("K1")])
    assert [p.kind for p in phases] == ["upsert", "delete", "contact_delete"]
    assert phases[1].body == {"properties": [{"id": "P9", "units": [{"id": "U9", "delete": True}]}]}


def test_deletes_implied_by_a_cascading_parent_delete_are_not_sent() -> None:
    cmds = [delete("contract", "C1", "P1", "U1"), delete("unit", "U1", "P1"), delete("property", "P1"),
            delete("contract", "C2", "P2", "U2"), delete("unit", "U2", "P2")]
    (phase,) = plan_batch(cmds)
    assert phase.body == {"properties": [
        {"id": "P1", "delete": True},
        {"id": "P2", "units": [{"id": "U2", "delete": True}]},
    ]}
    # Every command still maps to the result that decides it.
    assert phase.targets[0].own == ("property", "P1")
    assert phase.targets[1].own == ("property", "P1")
    assert phase.targets[2].own == ("property", "P1")
    assert phase.targets[3].own == ("unit", "U2")
    assert phase.targets[4].own == ("unit", "U2")
    assert phase.targets[4].ancestors == (("property", "P2"),)


def test_last_command_decides_between_upsert_and_delete() -> None:
    phases = plan_batch([prop("P1"), delete("property", "P1"), delete("contact", "K1"), contact("K1")])
    assert [p.kind for p in phases] == ["upsert", "delete"]
    assert phases[0].body == {"contacts": [phases[0].body["contacts"][0]]}
    assert phases[1].body == {"properties": [{"id": "P1", "delete": True}]}


def test_build_phase_on_a_subset_is_self_contained() -> None:
    (phase,) = plan_batch([prop("P1"), unit("U1", "P1"), unit("U2", "P1")])
    half = build_phase("upsert", phase.commands[1:])
    assert half.body == {"properties": [{"id": "P1", "units": [half.body["properties"][0]["units"][0],
                                                               half.body["properties"][0]["units"][1]]}]}
    assert [u["id"] for u in half.body["properties"][0]["units"]] == ["U1", "U2"]
    assert set(half.targets) == {1, 2}
