"""R13–R15 and R20: master-data documents, deletes and the emit order."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from streams.commands.model import CasaviCommand
from streams.projection import (
    EmittedTable,
    ErpState,
    UnitRoot,
    all_roots,
    order_commands,
    plan,
    project_all,
)
from streams.projection.sample import Dataset, change, delete, minimal_dataset
from streams.settings import SyncSettings

TODAY = date(2025, 6, 15)
CFG = SyncSettings()


def state_of(ds: Dataset) -> ErpState:
    st = ErpState()
    for c in ds.changes():
        st.apply(c)
    return st


def synced(ds: Dataset) -> tuple[ErpState, EmittedTable]:
    st = state_of(ds)
    emitted = EmittedTable()
    plan(st, all_roots(st), CFG, TODAY, emitted)
    return st, emitted


def test_r13_unit_delete_removes_unit_and_contracts() -> None:
    ds = minimal_dataset()
    st, emitted = synced(ds)
    roots = st.apply(delete("unit", ds.rows["unit"][0]))
    cmds = plan(st, roots, CFG, TODAY, emitted)
    assert [(c.op, c.entity, c.reference_id) for c in cmds] == [
        ("DELETE", "contract", "1-1000-0001-01"),
        ("DELETE", "unit", "1-1000-0001"),
        ("DELETE", "contact", "P001"),
        ("DELETE", "contact", "P002"),
    ]
    assert cmds[0].parent_ids == ("1-1000", "1-1000-0001")
    assert set(emitted.entries) == {"property:1-1000"}


def test_r13_unit_end_is_a_delete() -> None:
    ds = minimal_dataset()
    st, emitted = synced(ds)
    unit = {**ds.rows["unit"][0], "valid_to": TODAY - timedelta(days=1)}
    cmds = plan(st, st.apply(change("unit", unit, "u")), CFG, TODAY, emitted)
    assert {(c.op, c.entity) for c in cmds} == {("DELETE", "unit"), ("DELETE", "contract"), ("DELETE", "contact")}
    assert {c.reason for c in cmds if c.entity == "unit"} == {"R13 unit ended"}
    # valid_to today: still synced
    unit["valid_to"] = TODAY
    cmds = plan(st, st.apply(change("unit", unit, "u")), CFG, TODAY, emitted)
    assert {c.op for c in cmds} == {"UPSERT"} and len(cmds) == 4


def test_r13_contract_row_deleted_and_party_removed() -> None:
    ds = minimal_dataset()
    st, emitted = synced(ds)
    cmds = plan(st, st.apply(delete("contract_party", ds.rows["contract_party"][0])), CFG, TODAY, emitted)
    assert [(c.op, c.entity, c.reference_id, c.reason) for c in cmds] == [
        ("UPSERT", "contract", "1-1000-0001-01", "upsert changed"),
        ("DELETE", "contact", "P002", "R05 no synced valid contract"),
    ]
    cmds = plan(st, st.apply(delete("contract", ds.rows["contract"][0])), CFG, TODAY, emitted)
    assert [(c.op, c.entity) for c in cmds] == [("UPSERT", "unit"), ("DELETE", "contract"), ("DELETE", "contact")]
    assert cmds[1].reason == "R13 no longer in projection"


def test_r13_replay_is_quiet() -> None:
    ds = minimal_dataset()
    st, emitted = synced(ds)
    for c in ds.changes():
        assert st.apply(c) == set()
    assert plan(st, all_roots(st), CFG, TODAY, emitted) == []


def test_r14_unit_fields() -> None:
    ds = minimal_dataset()
    ds.add("contract", contract_id=499, contract_no="00", contract_type="TENANT", unit_id=1000, person_id=1,
           start_date=date(2019, 1, 1), end_date=date(2023, 12, 31), rent_amount=Decimal("700"))
    ds.add("contract", contract_id=501, contract_no="02", contract_type="TENANT", unit_id=1000, person_id=1,
           start_date=TODAY + timedelta(days=10), end_date=None)
    out = project_all(state_of(ds), SyncSettings(portal_days_before_start=30, delete_after_days=600), TODAY)
    assert out["unit:1-1000-0001"].document == {
        "id": "1-1000-0001", "number": "0001", "name": "Wohnung 1 links", "address": "Lindenallee 5, 10115 Berlin",
        "purpose": "RESIDENTIAL", "area": "75.50", "floor": "1", "rooms": "3.0", "startDate": "2000-01-01",
        "endDate": None,
        # the synced contract with the latest start on or before today: 500, not 499 (older) nor 501 (future)
        "currentContractStart": "2024-01-01", "currentContractEnd": None,
    }
    assert {"contract:1-1000-0001-00", "contract:1-1000-0001-02"} <= set(out)


def test_r14_unit_without_building_and_decimal_strings() -> None:
    ds = minimal_dataset()
    ds.rows["unit"][0].update(building_id=None, area=Decimal("1E+2"), rooms=Decimal("2.50"))
    ds.rows.pop("contract")
    doc = project_all(state_of(ds), CFG, TODAY)["unit:1-1000-0001"].document
    assert (doc["address"], doc["area"], doc["rooms"]) == (None, "100.00", "2.5")
    assert doc["currentContractStart"] is None


def test_r14_property_fields_and_buildings_as_addresses() -> None:
    ds = minimal_dataset()
    ds.add("building", building_id=99, property_id=10, street="Gartenweg", house_no="1a", postal_code="10117",
           city="Berlin")
    doc = project_all(state_of(ds), CFG, TODAY)["property:1-1000"].document
    assert doc == {
        "id": "1-1000", "number": "1000", "name": "Objekt Lindenallee", "group": "MIET",
        "managementStart": "2010-01-01", "street": "Lindenallee", "postalCode": "10115", "city": "Berlin",
        "country": "DE",
        "addresses": [
            {"id": "1-1000-B99", "street": "Gartenweg", "houseNumber": "1a", "postalCode": "10117", "city": "Berlin"},
            {"id": "1-1000-B100", "street": "Lindenallee", "houseNumber": "5", "postalCode": "10115",
             "city": "Berlin"},
        ],
    }


def test_r14_contract_fields() -> None:
    doc = project_all(state_of(minimal_dataset()), CFG, TODAY)["contract:1-1000-0001-01"].document
    assert doc == {
        "id": "1-1000-0001-01", "number": "01", "type": "TENANT",
        "contacts": [{"contactId": "P001", "role": "MAIN"}, {"contactId": "P002", "role": "CO_TENANT"}],
        "startDate": "2024-01-01", "endDate": None, "rent": "850.00", "deposit": "2550.00",
    }


def test_r14_building_change_reaches_property_and_unit() -> None:
    ds = minimal_dataset()
    st, emitted = synced(ds)
    b = {**ds.rows["building"][0], "house_no": "7"}
    cmds = plan(st, st.apply(change("building", b, "u")), CFG, TODAY, emitted)
    assert [(c.entity, c.op) for c in cmds] == [("property", "UPSERT"), ("unit", "UPSERT")]
    assert cmds[1].document is not None and cmds[1].document["address"] == "Lindenallee 7, 10115 Berlin"


def test_r15_no_balances_in_any_document() -> None:
    """Every document carries exactly the fields R05, R12 and R14 name — nothing else, so no
    account balance or booking can slip in."""
    from tests.unit.test_rules_staff import company

    ds = company()
    ds.add("person", person_id=5, person_no="P005")
    ds.add("property_owner", property_id=10, person_id=5)
    out = project_all(state_of(ds), SyncSettings(owner_licence=True), TODAY)
    fields: dict[str, set[str]] = {}
    for d in out.values():
        fields.setdefault(d.entity, set()).update(d.document)
    assert fields == {
        "contact": {"id", "salutation", "title", "firstName", "lastName", "company", "email", "telephone", "mobile",
                    "street", "postalCode", "city", "country", "bankAccounts", "portalUser"},
        "property": {"id", "number", "name", "group", "managementStart", "street", "postalCode", "city", "country",
                     "addresses"},
        "unit": {"id", "number", "name", "address", "purpose", "area", "floor", "rooms", "startDate", "endDate",
                 "currentContractStart", "currentContractEnd"},
        "contract": {"id", "number", "type", "contacts", "startDate", "endDate", "rent", "deposit"},
        "staff": {"id", "firstName", "lastName", "email", "role"},
        "responsibility": {"id", "propertyId", "staffId", "responsible", "team"},
    }


def test_r20_emit_order() -> None:
    cmds = [
        CasaviCommand.delete("contact", "P9"),
        CasaviCommand.upsert("contract", "1-1-1-1", {"id": "1-1-1-1"}, ("1-1", "1-1-1")),
        CasaviCommand.delete("property", "1-2"),
        CasaviCommand.upsert("unit", "1-1-1", {"id": "1-1-1"}, ("1-1",)),
        CasaviCommand.delete("contract", "1-2-1-1", ("1-2", "1-2-1")),
        CasaviCommand.upsert("contact", "P1", {"id": "P1"}),
        CasaviCommand.delete("unit", "1-2-1", ("1-2",)),
        CasaviCommand.upsert("property", "1-1", {"id": "1-1"}),
        CasaviCommand.upsert("contact", "P2", {"id": "P2"}),
    ]
    got = [(c.op, c.entity, c.reference_id) for c in order_commands(cmds)]
    assert got == [
        ("UPSERT", "contact", "P1"), ("UPSERT", "contact", "P2"), ("UPSERT", "property", "1-1"),
        ("UPSERT", "unit", "1-1-1"), ("UPSERT", "contract", "1-1-1-1"),
        ("DELETE", "contract", "1-2-1-1"), ("DELETE", "unit", "1-2-1"),
        ("DELETE", "contact", "P9"), ("DELETE", "property", "1-2"),
    ]


def test_r20_a_property_with_its_units_and_contracts_stays_together_after_every_contact() -> None:
    # a bulk load: the sink cuts the topic into imports; a unit and its contracts side by side
    # land in one import instead of the contracts in a later one inside their unit again
    cmds = [CasaviCommand.upsert("property", p, {"id": p}) for p in ("1-1", "1-2")]
    cmds += [CasaviCommand.upsert("unit", f"{p}-1", {"id": f"{p}-1"}, (p,)) for p in ("1-1", "1-2")]
    cmds += [CasaviCommand.upsert("contract", f"{p}-1-1", {"id": f"{p}-1-1"}, (p, f"{p}-1")) for p in ("1-1", "1-2")]
    cmds += [CasaviCommand.upsert("contact", "P1", {"id": "P1"}),
             CasaviCommand.upsert("document", "D1", {"id": "D1"}),
             CasaviCommand.upsert("responsibility", "1-2-S1", {"id": "1-2-S1"}, ("1-2",)),
             CasaviCommand.upsert("staff", "S1", {"id": "S1"})]
    got = [(c.entity, c.reference_id) for c in order_commands(cmds)]
    assert got == [("contact", "P1"), ("staff", "S1"),
                   ("property", "1-1"), ("unit", "1-1-1"), ("contract", "1-1-1-1"),
                   ("property", "1-2"), ("unit", "1-2-1"), ("responsibility", "1-2-S1"), ("contract", "1-2-1-1"),
                   ("document", "D1")]


def test_r20_contract_updated_before_contact_deleted() -> None:
    ds = minimal_dataset()
    st, emitted = synced(ds)
    # the main party changes: the new one must exist before the contract names it, the old
    # one is deleted only after the contract stopped naming them
    ds.add("person", person_id=3, person_no="P003", email="c@example.invalid")
    st.apply(change("person", ds.rows["person"][-1]))
    contract = {**ds.rows["contract"][0], "person_id": 3}
    roots = st.apply(change("contract", contract, "u"))
    assert UnitRoot(1000) in roots
    cmds = plan(st, roots, CFG, TODAY, emitted)
    assert [(c.op, c.entity, c.reference_id) for c in cmds] == [
        ("UPSERT", "contact", "P003"), ("UPSERT", "contract", "1-1000-0001-01"), ("DELETE", "contact", "P001"),
    ]
