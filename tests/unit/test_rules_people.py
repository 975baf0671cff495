"""R05, R07, R09, R11: which persons and contracts are synced, and the contact fields."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from streams.projection import PersonRoot, UnitRoot, project_all, project_root
from streams.projection.sample import change, minimal_dataset
from streams.settings import SyncSettings
from tests.unit.rules_support import TODAY, keys, state_of

OWNERS = SyncSettings(owner_licence=True)


def test_r05_co_tenant_synced() -> None:
    out = project_all(state_of(minimal_dataset()), SyncSettings(), TODAY)
    assert "contact:P002" in out  # co-tenant, from the partner management
    contacts = out["contract:1-1000-0001-01"].document["contacts"]
    assert contacts == [{"contactId": "P001", "role": "MAIN"}, {"contactId": "P002", "role": "CO_TENANT"}]


def test_r05_contract_contacts_main_first_then_by_person_no() -> None:
    ds = minimal_dataset()
    ds.add("person", person_id=3, person_no="P000", last_name="Zett", email="zett@example.invalid")
    ds.add("person", person_id=4, person_no="P999", last_name="Alpha", email=None)
    ds.add("contract_party", contract_id=500, person_id=4, role="RESIDENT")
    ds.add("contract_party", contract_id=500, person_id=3, role="PARTNER")
    ds.add("contract_party", contract_id=500, person_id=1, role="PARTNER")  # main party named once only
    contacts = project_all(state_of(ds), SyncSettings(), TODAY)["contract:1-1000-0001-01"].document["contacts"]
    assert [c["contactId"] for c in contacts] == ["P001", "P000", "P002", "P999"]
    assert contacts[0]["role"] == "MAIN"


def test_r05_contact_fields() -> None:
    doc = project_all(state_of(minimal_dataset()), SyncSettings(), TODAY)["contact:P001"].document
    assert doc == {
        "id": "P001", "salutation": "Frau", "title": "Dr.", "firstName": "Anna", "lastName": "Muster",
        "company": None, "email": "anna@example.invalid", "telephone": "+49 30 1", "mobile": "+49 170 1",
        "street": "Lindenallee 5", "postalCode": "10115", "city": "Berlin", "country": "DE",
        "bankAccounts": [{"iban": "DE00123456780000000000", "bic": "TESTDEFFXXX", "accountHolder": "Anna Muster"}],
        "portalUser": True,
    }


def test_r05_person_without_contract_not_synced() -> None:
    ds = minimal_dataset()
    ds.add("person", person_id=9, person_no="P009", email="x@example.invalid")
    assert "contact:P009" not in keys(state_of(ds))


def test_r05_contract_waits_for_its_main_party() -> None:
    ds = minimal_dataset()
    main = ds.rows["person"].pop(0)
    st = state_of(ds)
    assert keys(st) == {"property:1-1000", "unit:1-1000-0001"}
    roots = st.apply(change("person", main))
    assert {UnitRoot(1000), PersonRoot(1), PersonRoot(2)} <= roots
    assert "contract:1-1000-0001-01" in keys(st)


def test_r07_tenant_without_email_not_synced() -> None:
    ds = minimal_dataset()
    ds.rows["person"][0]["email"] = "  "
    st = state_of(ds)
    # neither the contract nor its parties (who hold no other contract)
    assert keys(st) == {"property:1-1000", "unit:1-1000-0001"}
    excluded: dict[str, str] = {}
    project_root(st, UnitRoot(1000), SyncSettings(), TODAY, excluded=excluded)
    assert excluded == {"contract:1-1000-0001-01": "R07 tenant without e-mail"}


def test_r07_tenant_without_email_synced_through_another_contract() -> None:
    ds = minimal_dataset()
    ds.rows["person"][0]["email"] = None
    ds.add("unit", unit_id=1001, property_id=10, building_id=None, unit_no="0002")
    ds.add("contract", contract_id=501, contract_no="01", contract_type="OWNER", unit_id=1001, person_id=1,
           start_date=date(2020, 1, 1))
    got = keys(state_of(ds), OWNERS)
    assert "contact:P001" in got and "contract:1-1000-0002-01" in got
    assert "contract:1-1000-0001-01" not in got and "contact:P002" not in got


def test_r07_owner_contract_without_email_synced() -> None:
    ds = minimal_dataset()
    ds.rows["person"][0]["email"] = None
    ds.rows["contract"][0]["contract_type"] = "OWNER"
    assert "contract:1-1000-0001-01" in keys(state_of(ds), OWNERS)


@pytest.mark.parametrize(
    ("days_after_end", "synced"), [(-1, True), (0, True), (29, True), (30, True), (31, False)]
)
def test_r09_grace_period_boundaries(days_after_end: int, synced: bool) -> None:
    ds = minimal_dataset()
    end = date(2025, 3, 31)
    ds.rows["contract"][0]["end_date"] = end
    got = keys(state_of(ds), SyncSettings(delete_after_days=30), end + timedelta(days=days_after_end))
    assert ("contract:1-1000-0001-01" in got) is synced
    assert ("contact:P001" in got) is synced
    assert ("contact:P002" in got) is synced
    assert "unit:1-1000-0001" in got


@pytest.mark.parametrize(("days_before_start", "synced"), [(15, False), (14, True), (1, True), (0, True)])
def test_r09_grace_period_boundaries_before_start(days_before_start: int, synced: bool) -> None:
    ds = minimal_dataset()
    start = date(2025, 7, 1)
    ds.rows["contract"][0]["start_date"] = start
    got = keys(state_of(ds), SyncSettings(portal_days_before_start=14), start - timedelta(days=days_before_start))
    assert ("contract:1-1000-0001-01" in got) is synced
    assert ("contact:P001" in got) is synced


def test_r09_default_no_lead_days() -> None:
    ds = minimal_dataset()
    ds.rows["contract"][0]["start_date"] = TODAY + timedelta(days=1)
    assert "contract:1-1000-0001-01" not in keys(state_of(ds))
    assert "contract:1-1000-0001-01" in keys(state_of(ds), today=TODAY + timedelta(days=1))


def test_r09_person_with_one_valid_contract_left_stays() -> None:
    ds = minimal_dataset()
    ds.rows["contract"][0]["end_date"] = date(2020, 1, 31)  # long over
    ds.add("contract", contract_id=501, contract_no="02", contract_type="TENANT", unit_id=1000, person_id=1,
           start_date=date(2020, 2, 1))
    got = keys(state_of(ds))
    assert "contact:P001" in got and "contract:1-1000-0001-02" in got
    assert "contract:1-1000-0001-01" not in got and "contact:P002" not in got


def test_r11_anonymized_person_not_synced_nor_named() -> None:
    ds = minimal_dataset()
    ds.rows["person"][1]["anonymized_at"] = datetime(2025, 1, 1, tzinfo=timezone.utc)
    out = project_all(state_of(ds), SyncSettings(), TODAY)
    assert "contact:P002" not in out
    assert out["contract:1-1000-0001-01"].document["contacts"] == [{"contactId": "P001", "role": "MAIN"}]


def test_r11_contract_of_anonymized_main_party_not_synced() -> None:
    ds = minimal_dataset()
    ds.rows["person"][0]["anonymized_at"] = datetime(2025, 1, 1, tzinfo=timezone.utc)
    ds.rows["contract"][0]["contract_type"] = "OWNER"
    assert keys(state_of(ds)) == {"property:1-1000", "unit:1-1000-0001"}


def test_r06_person_type_does_not_matter_yet() -> None:
    ds = minimal_dataset()
    ds.rows.pop("person_type")
    ds.rows["person"][0]["person_type_code"] = "XYZ"
    assert "contact:P001" in keys(state_of(ds))
