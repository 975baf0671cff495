"""ErpState: row parsing, folding, indexes, affected roots, persistence; diff basics."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from streams.cdc.model import RowChange, SourcePosition
from streams.commands.model import CasaviCommand
from streams.erp.rows import ContractRow, PersonRow, RowSchemaError, UnknownTable, parse_row
from streams.projection import (
    Desired,
    EmittedEntry,
    EmittedTable,
    ErpState,
    PersonRoot,
    PropertyRoot,
    UnitRoot,
    diff,
    parse_root_key,
    project_all,
    project_root,
)
from streams.projection.sample import change, delete, minimal_dataset, random_dataset
from streams.settings import SyncSettings

TODAY = date(2025, 6, 15)


def loaded() -> ErpState:
    st = ErpState()
    for c in minimal_dataset().changes():
        st.apply(c)
    return st


# --- rows -------------------------------------------------------------------------------

def test_parse_row_types_and_quantizes() -> None:
    row = parse_row("contract", {"contract_id": 1, "contract_no": "01", "contract_type": "TENANT", "unit_id": 2,
                                 "person_id": 3, "start_date": "2024-01-01", "rent_amount": 850.5,
                                 "unknown_extra_column": 1})
    assert isinstance(row, ContractRow)
    assert row.start_date == date(2024, 1, 1) and row.rent_amount == Decimal("850.50")
    assert str(row.rent_amount) == "850.50" and row.key == (1,)


def test_parse_row_error_names_table_key_and_columns_never_values() -> None:
    secret = "geheim@example.invalid"
    with pytest.raises(RowSchemaError) as err:
        parse_row("person", {"person_id": 7, "person_no": None, "email": ["not", secret],
                             "anonymized_at": "not-a-time"})
    msg = str(err.value)
    assert "erp.person" in msg and "person_id=7" in msg
    assert "person_no" in msg and "email" in msg and "anonymized_at" in msg
    assert secret not in msg and "not-a-time" not in msg
    assert err.value.key == (7,)


def test_parse_row_key_missing_and_unknown_table() -> None:
    with pytest.raises(RowSchemaError, match="unreadable"):
        parse_row("unit", {"unit_no": "0001", "street": "Hauptstraße 1"})
    with pytest.raises(UnknownTable):
        parse_row("bookings", {})


def test_apply_bad_row_leaves_state_unchanged() -> None:
    st = loaded()
    before = st.dump()
    bad = {"contract_id": 500, "contract_no": "01", "contract_type": "LEASE", "unit_id": 1000, "person_id": 1}
    with pytest.raises(RowSchemaError):
        st.apply(change("contract", bad, "u"))
    assert st.dump() == before


# --- folding and affected roots ---------------------------------------------------------

def test_apply_returns_roots_of_both_old_and_new_parent() -> None:
    ds = minimal_dataset()
    ds.add("property", property_id=11, mandant_no=1, property_no="1001")
    st = ErpState()
    for c in ds.changes():
        st.apply(c)
    moved = {**ds.rows["unit"][0], "property_id": 11}
    roots = st.apply(change("unit", moved, "u"))
    assert roots == {UnitRoot(1000), PersonRoot(1), PersonRoot(2)}
    assert not st.units_by_property.of(10) and set(st.units_by_property.of(11)) == {1000}
    contract = {**ds.rows["contract"][0], "unit_id": 1001}
    assert st.apply(change("contract", contract, "u")) == {UnitRoot(1000), UnitRoot(1001), PersonRoot(1),
                                                           PersonRoot(2)}


def test_apply_local_changes_touch_only_their_root() -> None:
    ds = minimal_dataset()
    st = loaded()
    assert st.apply(change("property", {**ds.rows["property"][0], "name": "Neu"}, "u")) == {PropertyRoot(10)}
    assert st.apply(change("person", {**ds.rows["person"][0], "phone": "+49 1"}, "u")) == {PersonRoot(1)}
    assert st.apply(change("unit", {**ds.rows["unit"][0], "name": "Neu"}, "u")) == {UnitRoot(1000)}
    assert st.apply(change("contract", {**ds.rows["contract"][0], "rent_amount": Decimal(900)}, "u")) == {
        UnitRoot(1000)}
    assert st.apply(change("mandant", {"mandant_no": 1, "name": "Neu"}, "u")) == set()


def test_apply_person_email_change_reaches_contract_and_co_parties() -> None:
    ds = minimal_dataset()
    st = loaded()
    roots = st.apply(change("person", {**ds.rows["person"][0], "email": None}, "u"))
    assert roots == {PersonRoot(1), UnitRoot(1000), PersonRoot(2)}


def test_apply_property_selection_relevant_change_reaches_everything_below() -> None:
    ds = minimal_dataset()
    st = loaded()
    roots = st.apply(change("property", {**ds.rows["property"][0], "management_end": date(2020, 1, 1)}, "u"))
    assert roots == {PropertyRoot(10), UnitRoot(1000), PersonRoot(1), PersonRoot(2)}


def test_apply_update_with_key_change_moves_row() -> None:
    ds = minimal_dataset()
    st = loaded()
    old = ds.rows["contract_party"][0]
    new = {**old, "person_id": 1}
    roots = st.apply(change("contract_party", new, "u", before=old))
    assert st.contract_party(500, 2) is None and st.contract_party(500, 1) is not None
    assert {PersonRoot(1), PersonRoot(2), UnitRoot(1000)} <= roots
    assert st.parties_by_person.get(2) is None


def test_delete_by_key_only_and_twice() -> None:
    ds = minimal_dataset()
    st = loaded()
    d = delete("person", ds.rows["person"][1])
    assert d.before == {"person_id": 2}
    assert PersonRoot(2) in st.apply(d)
    assert st.person(2) is None
    assert st.apply(d) == set()  # deleting what is gone changes nothing
    no_before = RowChange(table="person", op="d", before=None, after=None, key=(1,),
                          position=SourcePosition(connector="sqlserver"))
    assert PersonRoot(1) in st.apply(no_before)


def test_key_normalized_from_strings() -> None:
    st = loaded()
    assert st.remove_row("unit", ("1000",)) == {UnitRoot(1000), PersonRoot(1), PersonRoot(2)}
    assert st.unit(1000) is None


def test_unknown_table_rejected() -> None:
    with pytest.raises(UnknownTable):
        ErpState().set_row("bookings", {"id": 1})


def test_dump_load_round_trip_and_set_row() -> None:
    st = ErpState()
    for c in random_dataset(3).changes():
        st.apply(c)
    again = ErpState.load(st.dump())
    cfg = SyncSettings()
    assert {k: d.content_hash for k, d in project_all(again, cfg, TODAY).items()} == {
        k: d.content_hash for k, d in project_all(st, cfg, TODAY).items()}
    assert again.contracts_by_person == st.contracts_by_person
    assert again.parties_by_contract == st.parties_by_contract
    assert len(again) == len(st)
    p = st.person(1)
    assert isinstance(p, PersonRow)
    fresh = ErpState()
    fresh.set_row("person", p)
    assert fresh.person(1) == p and set(fresh.persons_by_type.of(p.type_key)) == {1}


def test_root_keys_round_trip() -> None:
    for r in (PropertyRoot(1), UnitRoot(2), PersonRoot(3)):
        assert parse_root_key(r.key) == r
    with pytest.raises(ValueError):
        parse_root_key("X:1")


# --- diff -------------------------------------------------------------------------------

def test_diff_upsert_new_changed_and_unchanged_and_delete() -> None:
    st = loaded()
    out = project_root(st, UnitRoot(1000), SyncSettings(), TODAY)
    assert set(out) == {"unit:1-1000-0001", "contract:1-1000-0001-01"}
    cmds = diff(out, {}, set())
    assert [(c.op, c.reason) for c in cmds] == [("UPSERT", "upsert new")] * 2
    emitted = {k: EmittedEntry(d.entity, d.reference_id, d.content_hash, d.parent_ids, "U:1000")
               for k, d in out.items()}
    assert diff(out, emitted, set(emitted)) == []
    changed = dict(out)
    unit = out["unit:1-1000-0001"]
    changed[unit.key] = Desired(unit.entity, unit.reference_id, unit.parent_ids, {**unit.document, "name": "x"})
    del changed["contract:1-1000-0001-01"]
    cmds = diff(changed, emitted, set(emitted), reasons={"contract:1-1000-0001-01": "R09 contract ended"})
    assert [(c.op, c.entity, c.reason) for c in cmds] == [
        ("UPSERT", "unit", "upsert changed"), ("DELETE", "contract", "R09 contract ended")]
    assert cmds[1].parent_ids == ("1-1000", "1-1000-0001") and cmds[1].document is None


def test_diff_only_deletes_what_this_root_owns() -> None:
    entry = EmittedEntry("contact", "P001", "h", (), "C:1")
    assert diff({}, {"contact:P001": entry}, set()) == []
    cmds = diff({}, {"contact:P001": entry}, {"contact:P001"})
    assert [(c.op, c.reference_id, c.reason) for c in cmds] == [("DELETE", "P001", "R13 no longer in projection")]


def test_emitted_table_records_and_tracks_owner() -> None:
    table = EmittedTable()
    up = CasaviCommand.upsert("contact", "P001", {"id": "P001"})
    table.record([up], PersonRoot(1))
    assert table.owned(PersonRoot(1)) == {"contact:P001"}
    assert EmittedEntry.from_dict(table.entries["contact:P001"].to_dict()) == table.entries["contact:P001"]
    table.record([up], PersonRoot(2))  # taken over by another root
    assert table.owned(PersonRoot(1)) == set() and table.owned("C:2") == {"contact:P001"}
    table.record([CasaviCommand.delete("contact", "P001")], PersonRoot(2))
    assert len(table) == 0 and not table.by_root
