"""R05–R11: which persons and contracts are synced, and the contact fields.

Expected values are written out by hand; the data is ``minimal_dataset()``: property
``1-1000`` with unit ``1-1000-0001`` and TENANT contract ``…-01`` of P001 (Anna, e-mail)
with co-tenant P002 (Ben, e-mail), both of person type ``MIE``.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from streams.projection import EmittedTable, PersonRoot, UnitRoot, all_roots, plan, project_all, project_root
from streams.projection.sample import change, delete, minimal_dataset
from streams.settings import SyncSettings
from tests.unit.rules_support import TODAY, keys, state_of

OWNERS = SyncSettings(owner_licence=True)
CONTRACT = "contract:1-1000-0001-01"
HOUSE = {"property:1-1000", "unit:1-1000-0001"}
ANNA_ONLY = [{"contactId": "P001", "role": "MAIN"}]


def contacts_of(cfg: SyncSettings | None = None, **edits: dict[str, object]) -> list[dict[str, str]] | None:
    ds = minimal_dataset()
    for table, values in edits.items():
        ds.rows[table][0].update(values)
    out = project_all(state_of(ds), cfg or SyncSettings(), TODAY)
    return out[CONTRACT].document["contacts"] if CONTRACT in out else None


# --- R05 ---------------------------------------------------------------------------------

def test_r05_co_tenant_synced() -> None:
    out = project_all(state_of(minimal_dataset()), SyncSettings(), TODAY)
    assert "contact:P002" in out  # co-tenant, from the partner management
    contacts = out[CONTRACT].document["contacts"]
    assert contacts == [{"contactId": "P001", "role": "MAIN"}, {"contactId": "P002", "role": "CO_TENANT"}]


def test_r05_contract_contacts_main_first_then_by_person_no() -> None:
    ds = minimal_dataset()
    ds.add("person", person_id=3, person_no="P000", last_name="Zett", email="zett@example.invalid")
    ds.add("person", person_id=4, person_no="P999", last_name="Alpha", email=None)
    ds.add("contract_party", contract_id=500, person_id=4, role="RESIDENT")
    ds.add("contract_party", contract_id=500, person_id=3, role="PARTNER")
    ds.add("contract_party", contract_id=500, person_id=1, role="PARTNER")  # main party named once only
    contacts = project_all(state_of(ds), SyncSettings(), TODAY)[CONTRACT].document["contacts"]
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


def test_r05_contact_email_without_surrounding_blanks() -> None:
    ds = minimal_dataset()
    ds.rows["person"][0]["email"] = "  anna@example.invalid \t"
    assert project_all(state_of(ds), SyncSettings(), TODAY)["contact:P001"].document["email"] == \
        "anna@example.invalid"


def test_r05_person_without_contract_not_synced() -> None:
    ds = minimal_dataset()
    ds.add("person", person_id=9, person_no="P009", email="x@example.invalid")
    assert "contact:P009" not in keys(state_of(ds))


def test_r05_contract_waits_for_its_main_party() -> None:
    ds = minimal_dataset()
    main = ds.rows["person"].pop(0)
    st = state_of(ds)
    assert keys(st) == HOUSE
    roots = st.apply(change("person", main))
    assert {UnitRoot(1000), PersonRoot(1), PersonRoot(2)} <= roots
    assert CONTRACT in keys(st)


# --- R06 ---------------------------------------------------------------------------------

def test_r06_persons_of_enabled_types_are_portal_users() -> None:
    out = project_all(state_of(minimal_dataset()), SyncSettings(person_types=["MIE"]), TODAY)
    assert {k for k in out if k.startswith("contact:")} == {"contact:P001", "contact:P002"}
    assert out["contact:P001"].document["portalUser"] is True
    assert out["contact:P002"].document["portalUser"] is True


def test_r06_person_of_a_disabled_type_is_neither_synced_nor_named() -> None:
    ds = minimal_dataset()
    ds.rows["person"][1]["person_type_code"] = "INT"
    cfg = SyncSettings(person_types=["MIE", "EIG"])
    assert keys(state_of(ds), cfg) == HOUSE | {CONTRACT, "contact:P001"}
    assert project_all(state_of(ds), cfg, TODAY)[CONTRACT].document["contacts"] == ANNA_ONLY


def test_r06_contract_of_a_main_party_of_a_disabled_type_not_synced() -> None:
    ds = minimal_dataset()
    ds.rows["person"][0]["person_type_code"] = "EIG"
    st = state_of(ds)
    assert keys(st, SyncSettings(person_types=["MIE"])) == HOUSE
    excluded: dict[str, str] = {}
    project_root(st, UnitRoot(1000), SyncSettings(person_types=["MIE"]), TODAY, excluded=excluded)
    assert excluded == {CONTRACT: "R06 main party's person type not enabled"}
    assert keys(st, SyncSettings(person_types=["MIE", "EIG"])) == HOUSE | {CONTRACT, "contact:P001", "contact:P002"}


def test_r06_persons_without_a_type_count_only_without_a_type_selection() -> None:
    ds = minimal_dataset()
    ds.rows["person"][1]["person_type_code"] = None
    assert "contact:P002" in keys(state_of(ds))
    assert "contact:P002" not in keys(state_of(ds), SyncSettings(person_types=["MIE"]))


def test_r06_type_disabled_later_deletes_its_persons() -> None:
    st = state_of(minimal_dataset())
    emitted = EmittedTable()
    plan(st, all_roots(st), SyncSettings(), TODAY, emitted)
    cmds = plan(st, all_roots(st), SyncSettings(person_types=["EIG"]), TODAY, emitted)
    assert [(c.op, c.entity, c.reference_id, c.reason) for c in cmds] == [
        ("UPSERT", "unit", "1-1000-0001", "upsert changed"),  # no current contract any more (R14)
        ("DELETE", "contract", "1-1000-0001-01", "R06 main party's person type not enabled"),
        ("DELETE", "contact", "P001", "R06 person type not enabled"),
        ("DELETE", "contact", "P002", "R06 person type not enabled"),
    ]


def test_r06_prospects_of_a_disabled_type_are_never_sent() -> None:
    ds = minimal_dataset()
    ds.add("person", person_id=7, person_no="P007", person_type_code="INT", email="prospect@example.invalid")
    ds.add("contract_party", contract_id=500, person_id=7, role="RESIDENT")
    st = state_of(ds)
    emitted = EmittedTable()
    cfg = SyncSettings(person_types=["MIE"])
    first = plan(st, all_roots(st), cfg, TODAY, emitted)
    prospect = ds.rows["person"][-1]
    later = plan(st, st.apply(change("person", {**prospect, "phone": "+49 1"}, "u")), cfg, TODAY, emitted)
    gone = plan(st, st.apply(delete("person", prospect)), cfg, TODAY, emitted)
    sent = [c for c in first + later + gone if "P007" in c.reference_id or "P007" in str(c.document)]
    assert sent == [] and len(first) == 5


# --- R07 ---------------------------------------------------------------------------------

def test_r07_tenant_without_email_not_synced() -> None:
    ds = minimal_dataset()
    ds.rows["person"][0]["email"] = "  "
    st = state_of(ds)
    # neither the contract nor its parties (who hold no other contract)
    assert keys(st) == HOUSE
    excluded: dict[str, str] = {}
    project_root(st, UnitRoot(1000), SyncSettings(), TODAY, excluded=excluded)
    assert excluded == {CONTRACT: "R07 tenant without e-mail"}


@pytest.mark.parametrize("role", ["CO_TENANT", "PARTNER"])
def test_r07_co_tenant_without_email_not_synced_and_not_named(role: str) -> None:
    assert contacts_of(person={}, contract_party={"role": role}) == [
        {"contactId": "P001", "role": "MAIN"}, {"contactId": "P002", "role": role}]
    ds = minimal_dataset()
    ds.rows["person"][1]["email"] = None
    ds.rows["contract_party"][0]["role"] = role
    st = state_of(ds)
    assert keys(st) == HOUSE | {CONTRACT, "contact:P001"}
    assert project_all(st, SyncSettings(), TODAY)[CONTRACT].document["contacts"] == ANNA_ONLY
    excluded: dict[str, str] = {}
    project_root(st, PersonRoot(2), SyncSettings(), TODAY, excluded=excluded)
    assert excluded == {"contact:P002": "R07 tenant without e-mail"}


def test_r07_resident_needs_no_email() -> None:
    ds = minimal_dataset()
    ds.rows["person"][1]["email"] = None
    ds.rows["contract_party"][0]["role"] = "RESIDENT"
    out = project_all(state_of(ds), SyncSettings(), TODAY)
    assert out["contact:P002"].document["email"] is None
    assert out[CONTRACT].document["contacts"] == [{"contactId": "P001", "role": "MAIN"},
                                                   {"contactId": "P002", "role": "RESIDENT"}]


def test_r07_co_tenant_of_an_owner_contract_needs_no_email() -> None:
    ds = minimal_dataset()
    ds.rows["person"][1]["email"] = None
    ds.rows["contract"][0]["contract_type"] = "OWNER"
    assert "contact:P002" in keys(state_of(ds), OWNERS)


def test_r07_co_tenant_gets_an_email_later_and_is_named() -> None:
    ds = minimal_dataset()
    ben = {**ds.rows["person"][1], "email": None}
    ds.rows["person"][1] = ben
    st = state_of(ds)
    emitted = EmittedTable()
    plan(st, all_roots(st), SyncSettings(), TODAY, emitted)
    cmds = plan(st, st.apply(change("person", {**ben, "email": "ben@example.invalid"}, "u")), SyncSettings(),
                TODAY, emitted)
    assert [(c.op, c.entity, c.reference_id) for c in cmds] == [
        ("UPSERT", "contact", "P002"), ("UPSERT", "contract", "1-1000-0001-01")]
    assert cmds[1].document is not None and [c["contactId"] for c in cmds[1].document["contacts"]] == ["P001", "P002"]


def test_r07_tenant_without_email_synced_through_another_contract() -> None:
    ds = minimal_dataset()
    ds.rows["person"][0]["email"] = None
    ds.add("unit", unit_id=1001, property_id=10, building_id=None, unit_no="0002")
    ds.add("contract", contract_id=501, contract_no="01", contract_type="OWNER", unit_id=1001, person_id=1,
           start_date=date(2020, 1, 1))
    got = keys(state_of(ds), OWNERS)
    assert "contact:P001" in got and "contract:1-1000-0002-01" in got
    assert CONTRACT not in got and "contact:P002" not in got


def test_r07_owner_contract_without_email_synced() -> None:
    ds = minimal_dataset()
    ds.rows["person"][0]["email"] = None
    ds.rows["contract"][0]["contract_type"] = "OWNER"
    assert CONTRACT in keys(state_of(ds), OWNERS)


# --- R08 ---------------------------------------------------------------------------------

def test_r08_shared_address_kept_by_the_lowest_person_number_never_merged() -> None:
    ds = minimal_dataset()
    ds.rows["person"][1]["email"] = " Anna@Example.INVALID"  # the same login: case and blanks do not count
    out = project_all(state_of(ds), SyncSettings(), TODAY)
    assert out["contact:P001"].document["email"] == "anna@example.invalid"
    assert out["contact:P002"].document["email"] is None
    assert out["contact:P002"].document["firstName"] == "Ben"  # two contacts, nothing merged
    assert out[CONTRACT].document["contacts"] == [{"contactId": "P001", "role": "MAIN"},
                                                   {"contactId": "P002", "role": "CO_TENANT"}]


def test_r08_numeric_person_numbers_compare_by_value() -> None:
    ds = minimal_dataset()
    ds.rows["person"][0]["person_no"] = "100"
    ds.rows["person"][1].update(person_no="99", email="anna@example.invalid")
    out = project_all(state_of(ds), SyncSettings(), TODAY)
    assert out["contact:99"].document["email"] == "anna@example.invalid"
    assert out["contact:100"].document["email"] is None


def test_r08_a_person_who_is_not_synced_does_not_take_the_address() -> None:
    ds = minimal_dataset()
    ds.add("person", person_id=3, person_no="P000", email="anna@example.invalid")  # no contract
    out = project_all(state_of(ds), SyncSettings(), TODAY)
    assert "contact:P000" not in out
    assert out["contact:P001"].document["email"] == "anna@example.invalid"


def test_r08_the_address_moves_on_when_its_holder_changes_it() -> None:
    ds = minimal_dataset()
    ds.rows["person"][1]["email"] = "anna@example.invalid"
    st = state_of(ds)
    emitted = EmittedTable()
    plan(st, all_roots(st), SyncSettings(), TODAY, emitted)
    anna = {**ds.rows["person"][0], "email": "anna.neu@example.invalid"}
    cmds = plan(st, st.apply(change("person", anna, "u")), SyncSettings(), TODAY, emitted)
    got = {c.reference_id: c.document["email"] for c in cmds if c.document is not None}
    assert got == {"P001": "anna.neu@example.invalid", "P002": "anna@example.invalid"}


def test_r08_the_address_moves_on_when_its_holder_is_no_longer_synced() -> None:
    ds = minimal_dataset()
    ds.rows["person"][1]["email"] = "anna@example.invalid"
    ds.add("unit", unit_id=1001, property_id=10, building_id=None, unit_no="0002")
    ds.add("contract", contract_id=501, contract_no="01", contract_type="TENANT", unit_id=1001, person_id=2,
           start_date=date(2020, 1, 1))
    st = state_of(ds)
    emitted = EmittedTable()
    plan(st, all_roots(st), SyncSettings(), TODAY, emitted)
    assert emitted.entries["contact:P002"].content_hash != ""
    ended = {**ds.rows["contract"][0], "end_date": TODAY - timedelta(days=31)}  # Anna's only contract
    cmds = plan(st, st.apply(change("contract", ended, "u")), SyncSettings(), TODAY, emitted)
    assert [(c.op, c.entity, c.reference_id) for c in cmds] == [
        ("UPSERT", "contact", "P002"), ("UPSERT", "unit", "1-1000-0001"), ("DELETE", "contract", "1-1000-0001-01"),
        ("DELETE", "contact", "P001")]
    assert cmds[0].document is not None and cmds[0].document["email"] == "anna@example.invalid"


# --- R09 ---------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("days_after_end", "synced"), [(-1, True), (0, True), (29, True), (30, True), (31, False)]
)
def test_r09_grace_period_boundaries(days_after_end: int, synced: bool) -> None:
    ds = minimal_dataset()
    end = date(2025, 3, 31)
    ds.rows["contract"][0]["end_date"] = end
    got = keys(state_of(ds), SyncSettings(delete_after_days=30), end + timedelta(days=days_after_end))
    assert (CONTRACT in got) is synced
    assert ("contact:P001" in got) is synced
    assert ("contact:P002" in got) is synced
    assert "unit:1-1000-0001" in got


@pytest.mark.parametrize(("days_before_start", "synced"), [(15, False), (14, True), (1, True), (0, True)])
def test_r09_grace_period_boundaries_before_start(days_before_start: int, synced: bool) -> None:
    ds = minimal_dataset()
    start = date(2025, 7, 1)
    ds.rows["contract"][0]["start_date"] = start
    got = keys(state_of(ds), SyncSettings(portal_days_before_start=14), start - timedelta(days=days_before_start))
    assert (CONTRACT in got) is synced
    assert ("contact:P001" in got) is synced


def test_r09_default_no_lead_days() -> None:
    ds = minimal_dataset()
    ds.rows["contract"][0]["start_date"] = TODAY + timedelta(days=1)
    assert CONTRACT not in keys(state_of(ds))
    assert CONTRACT in keys(state_of(ds), today=TODAY + timedelta(days=1))


def test_r09_person_with_one_valid_contract_left_stays() -> None:
    ds = minimal_dataset()
    ds.rows["contract"][0]["end_date"] = date(2020, 1, 31)  # long over
    ds.add("contract", contract_id=501, contract_no="02", contract_type="TENANT", unit_id=1000, person_id=1,
           start_date=date(2020, 2, 1))
    got = keys(state_of(ds))
    assert "contact:P001" in got and "contract:1-1000-0001-02" in got
    assert CONTRACT not in got and "contact:P002" not in got


# --- R10 ---------------------------------------------------------------------------------

def test_r10_owners_and_owner_contracts_only_with_the_owner_licence() -> None:
    ds = minimal_dataset()
    ds.rows["contract"][0]["contract_type"] = "OWNER"
    ds.add("person", person_id=5, person_no="P005", email=None)
    ds.add("property_owner", property_id=10, person_id=5)
    st = state_of(ds)
    assert keys(st) == HOUSE
    excluded: dict[str, str] = {}
    project_root(st, UnitRoot(1000), SyncSettings(), TODAY, excluded=excluded)
    assert excluded == {CONTRACT: "R10 owner licence off"}
    out = project_all(st, OWNERS, TODAY)
    assert set(out) == HOUSE | {CONTRACT, "contact:P001", "contact:P002", "contact:P005"}
    assert out[CONTRACT].document["type"] == "OWNER"


def test_r10_caretakers_only_with_the_caretaker_licence() -> None:
    ds = minimal_dataset()
    ds.add("person", person_id=6, person_no="P006", email="hm@example.invalid")
    ds.add("caretaker", property_id=10, person_id=6)
    st = state_of(ds)
    assert "contact:P006" not in keys(st)
    assert "contact:P006" not in keys(st, OWNERS)
    assert "contact:P006" in keys(st, SyncSettings(caretaker_licence=True))
    excluded: dict[str, str] = {}
    project_root(st, PersonRoot(6), SyncSettings(), TODAY, excluded=excluded)
    assert excluded == {"contact:P006": "R10 caretaker licence off"}


def test_r10_owners_and_caretakers_of_a_property_not_synced_are_not_synced() -> None:
    ds = minimal_dataset()
    ds.add("person", person_id=5, person_no="P005")
    ds.add("property_owner", property_id=10, person_id=5)
    ds.add("caretaker", property_id=10, person_id=5)
    cfg = SyncSettings(owner_licence=True, caretaker_licence=True, properties=["1:9999"])
    assert keys(state_of(ds), cfg) == set()


def test_r10_licence_switched_off_deletes_owners() -> None:
    ds = minimal_dataset()
    ds.rows["contract"][0]["contract_type"] = "OWNER"
    ds.add("person", person_id=5, person_no="P005")
    ds.add("property_owner", property_id=10, person_id=5)
    st = state_of(ds)
    emitted = EmittedTable()
    plan(st, all_roots(st), OWNERS, TODAY, emitted)
    cmds = plan(st, all_roots(st), SyncSettings(), TODAY, emitted)
    assert [(c.op, c.entity, c.reference_id, c.reason) for c in cmds] == [
        ("UPSERT", "unit", "1-1000-0001", "upsert changed"),
        ("DELETE", "contract", "1-1000-0001-01", "R10 owner licence off"),
        ("DELETE", "contact", "P001", "R05 no synced valid contract"),
        ("DELETE", "contact", "P002", "R05 no synced valid contract"),
        ("DELETE", "contact", "P005", "R10 owner licence off"),
    ]


# --- R11 ---------------------------------------------------------------------------------

def test_r11_anonymized_person_not_synced_nor_named() -> None:
    ds = minimal_dataset()
    ds.rows["person"][1]["anonymized_at"] = datetime(2025, 1, 1, tzinfo=timezone.utc)
    out = project_all(state_of(ds), SyncSettings(), TODAY)
    assert "contact:P002" not in out
    assert out[CONTRACT].document["contacts"] == ANNA_ONLY


def test_r11_contract_of_anonymized_main_party_not_synced() -> None:
    ds = minimal_dataset()
    ds.rows["person"][0]["anonymized_at"] = datetime(2025, 1, 1, tzinfo=timezone.utc)
    ds.rows["contract"][0]["contract_type"] = "OWNER"  # needs no e-mail: only R11 keeps it out
    assert keys(state_of(ds), OWNERS) == HOUSE


def test_r11_anonymized_owner_or_caretaker_not_synced() -> None:
    ds = minimal_dataset()
    ds.add("person", person_id=5, person_no="P005", anonymized_at=datetime(2025, 1, 1, tzinfo=timezone.utc))
    ds.add("property_owner", property_id=10, person_id=5)
    ds.add("caretaker", property_id=10, person_id=5)
    assert "contact:P005" not in keys(state_of(ds), SyncSettings(owner_licence=True, caretaker_licence=True))


def test_r11_anonymization_deletes_the_contact_after_the_contract_stops_naming_it() -> None:
    ds = minimal_dataset()
    st = state_of(ds)
    emitted = EmittedTable()
    plan(st, all_roots(st), SyncSettings(), TODAY, emitted)
    ben = {**ds.rows["person"][1], "first_name": None, "last_name": None, "email": None,
           "anonymized_at": datetime(2025, 6, 1, tzinfo=timezone.utc)}
    cmds = plan(st, st.apply(change("person", ben, "u")), SyncSettings(), TODAY, emitted)
    assert [(c.op, c.entity, c.reference_id, c.reason) for c in cmds] == [
        ("UPSERT", "contract", "1-1000-0001-01", "upsert changed"),
        ("DELETE", "contact", "P002", "R11 person anonymized"),
    ]
