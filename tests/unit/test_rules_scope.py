"""R01–R04: which properties and units are synced, and their reference ids."""

from __future__ import annotations

from datetime import timedelta

import pytest

from streams.projection import EmittedTable, PropertyRoot, plan, project_all, project_root
from streams.projection.sample import change, minimal_dataset
from streams.settings import SyncSettings
from tests.unit.rules_support import TODAY, keys, state_of


FULL = {"property:1-1000", "unit:1-1000-0001", "contract:1-1000-0001-01", "contact:P001", "contact:P002"}


def test_r01_all_synced_when_no_selection() -> None:
    assert keys(state_of(minimal_dataset())) == FULL


def test_r01_property_outside_selection_sends_nothing() -> None:
    st = state_of(minimal_dataset())
    assert keys(st, SyncSettings(properties=["9999"])) == set()
    assert keys(st, SyncSettings(properties=["1000"])) == FULL
    assert keys(st, SyncSettings(properties="1000,2000")) == FULL


def test_r01_management_end_passed_deletes_everything_below() -> None:
    ds = minimal_dataset()
    ds.rows["property"][0]["management_end"] = TODAY - timedelta(days=1)
    assert keys(state_of(ds)) == set()
    ds.rows["property"][0]["management_end"] = TODAY  # the last day still counts
    assert keys(state_of(ds)) == FULL


def test_r01_management_start_irrelevant() -> None:
    ds = minimal_dataset()
    ds.rows["property"][0]["management_start"] = TODAY + timedelta(days=365)
    assert keys(state_of(ds)) == FULL


def test_r01_property_taken_out_of_selection_is_deleted_with_everything() -> None:
    st = state_of(minimal_dataset())
    emitted = EmittedTable()
    cfg = SyncSettings(properties=["1000"])
    from streams.projection import all_roots
    first = plan(st, all_roots(st), cfg, TODAY, emitted)
    assert {c.op for c in first} == {"UPSERT"} and len(first) == 5
    cmds = plan(st, all_roots(st), SyncSettings(properties=["2000"]), TODAY, emitted)
    assert {(c.op, c.entity) for c in cmds} == {("DELETE", e) for e in ("property", "unit", "contract", "contact")}
    assert len(cmds) == 5 and len(emitted) == 0
    assert any(c.reason.startswith("R01") for c in cmds)


def test_r02_mandant_filter() -> None:
    st = state_of(minimal_dataset())
    assert keys(st, SyncSettings(mandanten=[2])) == set()
    assert keys(st, SyncSettings(mandanten=[1, 2])) == FULL
    assert keys(st, SyncSettings(mandanten="1")) == FULL


def test_r02_property_of_unknown_mandant_waits_for_its_row() -> None:
    ds = minimal_dataset()
    mandant = ds.rows.pop("mandant")[0]
    st = state_of(ds)
    assert keys(st) == set()
    roots = st.apply(change("mandant", mandant))
    assert PropertyRoot(10) in roots
    assert keys(st) == FULL


def test_r03_reference_ids() -> None:
    out = project_all(state_of(minimal_dataset()), SyncSettings(), TODAY)
    assert out["property:1-1000"].document["addresses"][0]["id"] == "1-1000-B100"
    assert out["unit:1-1000-0001"].parent_ids == ("1-1000",)
    assert out["contract:1-1000-0001-01"].parent_ids == ("1-1000", "1-1000-0001")
    assert out["contact:P001"].reference_id == "P001"


@pytest.mark.parametrize("sep", ["-", "_", ".", "/", "|"])
def test_r03_separator_configurable(sep: str) -> None:
    out = project_all(state_of(minimal_dataset()), SyncSettings(id_separator=sep), TODAY)
    assert {d.reference_id for d in out.values()} == {
        f"1{sep}1000", f"1{sep}1000{sep}0001", f"1{sep}1000{sep}0001{sep}01", "P001", "P002"
    }
    assert out[f"property:1{sep}1000"].document["addresses"][0]["id"] == f"1{sep}1000{sep}B100"


def test_r03_ids_stable() -> None:
    a = project_all(state_of(minimal_dataset()), SyncSettings(), TODAY)
    b = project_all(state_of(minimal_dataset()), SyncSettings(), TODAY + timedelta(days=1))
    assert set(a) == set(b)
    assert {k: v.content_hash for k, v in a.items()} == {k: v.content_hash for k, v in b.items()}


def test_r04_phantom_unit_never_synced() -> None:
    ds = minimal_dataset()
    ds.rows["unit"][0]["is_phantom"] = True
    st = state_of(ds)
    # nothing of the unit, its contract, nor the persons who hold only that contract
    assert keys(st) == {"property:1-1000"}
    excluded: dict[str, str] = {}
    from streams.projection import UnitRoot
    assert project_root(st, UnitRoot(1000), SyncSettings(), TODAY, excluded=excluded) == {}
    assert excluded == {"unit:1-1000-0001": "R04 phantom unit", "contract:1-1000-0001-01": "R04 phantom unit"}


def test_r01_selection_by_mandant_and_property_number() -> None:
    ds = minimal_dataset()
    ds.add("mandant", mandant_no=2, name="Mandant Zwei")
    ds.add("property", property_id=20, mandant_no=2, property_no="1000", name="Gleiche Nummer")  # same number
    st = state_of(ds)
    assert keys(st, SyncSettings(properties=["1:1000"])) == FULL
    assert keys(st, SyncSettings(properties=["2:1000"])) == {"property:2-1000"}
    assert keys(st, SyncSettings(properties="1000")) == FULL | {"property:2-1000"}  # a bare number: every Mandant
    assert keys(st, SyncSettings(properties=["3:1000"])) == set()


def test_r01_selection_entry_must_name_a_mandant_number() -> None:
    with pytest.raises(ValueError, match="mandant_no"):
        SyncSettings(properties=["x:1000"])


def test_r01_selection_edited_in_place_is_not_a_stale_configuration() -> None:
    st = state_of(minimal_dataset())
    cfg = SyncSettings(properties=["1000"])
    assert keys(st, cfg) == FULL
    assert cfg.properties is not None
    cfg.properties[0] = "2000"  # another list of the same length
    assert keys(st, cfg) == set()
    cfg.mandanten = [2]
    cfg.properties[0] = "1000"
    assert keys(st, cfg) == set()
