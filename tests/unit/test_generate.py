"""The demo housing company generator: deterministic, sized, schema-exact, referentially sane."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest

from streams.demo.generate import (
    DEPENDENCY_ORDER,
    GRACE_DAYS,
    Change,
    Dataset,
    generate,
    iban_de,
    iban_is_valid,
    live_changes,
)
from streams.erp.schema import PERSONAL_COLUMNS, TABLES

TODAY = date(2025, 6, 15)

KIND_TYPES: dict[str, tuple[type, ...]] = {
    "int": (int,), "text": (str,), "varchar": (str,), "char": (str,), "numeric": (Decimal,),
    "date": (date,), "timestamptz": (datetime,), "boolean": (bool,), "bytes": (bytes,),
}


@pytest.fixture(scope="module")
def ds() -> Dataset:
    return generate(42, 1.0, TODAY)


def test_deterministic() -> None:
    a, b = generate(7, 0.2, TODAY), generate(7, 0.2, TODAY)
    assert a.tables == b.tables
    c = generate(8, 0.2, TODAY)
    assert a.tables["person"] != c.tables["person"]
    assert live_changes(a, 3, 40) == live_changes(b, 3, 40)


def test_counts_at_scale_one(ds: Dataset) -> None:
    n = ds.counts()
    assert n["mandant"] == 2 and n["property"] == 100 and n["unit"] == 3000
    assert n["person"] == 5000 and n["contract"] == 4000
    assert n["person_type"] == 3
    assert {r["person_type_code"] for r in ds.rows("person_type")} == {"TENANT", "OWNER", "PROSPECT"}
    per_prop = Counter(b["property_id"] for b in ds.rows("building"))
    assert set(per_prop) == {p["property_id"] for p in ds.rows("property")}
    assert all(1 <= c <= 3 for c in per_prop.values())
    assert n["contract_party"] > 100
    assert {p["mandant_no"] for p in ds.rows("property")} == {1, 2}
    assert ds.rows("property")[0]["property_no"] == "0001"


def test_scaling() -> None:
    small = generate(1, 0.1, TODAY).counts()
    assert (small["property"], small["unit"], small["person"], small["contract"]) == (10, 300, 500, 400)
    tiny = generate(1, 0.001, TODAY).counts()
    assert min(tiny["property"], tiny["unit"], tiny["person"], tiny["contract"]) >= 1


def test_rows_match_schema_exactly(ds: Dataset) -> None:
    assert list(ds.tables) == list(DEPENDENCY_ORDER)
    for table, rows in ds:
        spec = TABLES[table]
        kinds = {c.name: c for c in spec.columns}
        keys = set()
        for row in rows:
            assert tuple(row) == spec.column_names, table
            for name, value in row.items():
                col = kinds[name]
                if value is None:
                    assert col.nullable, (table, name)
                    continue
                assert isinstance(value, KIND_TYPES[col.kind]), (table, name, type(value))
                if col.kind == "int":
                    assert not isinstance(value, bool)
                if col.kind == "timestamptz":
                    assert isinstance(value, datetime) and value.tzinfo is not None
            keys.add(tuple(row[c] for c in spec.primary_key))
        assert len(keys) == len(rows), f"duplicate primary key in {table}"


def test_referential_sanity(ds: Dataset) -> None:
    ids = {t: {r[TABLES[t].primary_key[0]] for r in ds.rows(t)} for t in
           ("mandant", "property", "building", "unit", "person", "contract", "team", "staff_user", "document_type")}
    units = {u["unit_id"]: u for u in ds.rows("unit")}
    assert all(p["mandant_no"] in ids["mandant"] for p in ds.rows("property"))
    assert all(p["team_id"] is None or p["team_id"] in ids["team"] for p in ds.rows("property"))
    assert all(b["property_id"] in ids["property"] for b in ds.rows("building"))
    buildings = {b["building_id"]: b for b in ds.rows("building")}
    for u in ds.rows("unit"):
        assert u["property_id"] in ids["property"]
        assert u["building_id"] is None or buildings[u["building_id"]]["property_id"] == u["property_id"]
    for c in ds.rows("contract"):
        assert c["unit_id"] in ids["unit"] and c["person_id"] in ids["person"]
        assert units[c["unit_id"]]["property_id"] == c["property_id"]
        assert c["end_date"] is None or c["end_date"] >= c["start_date"]
    for cp in ds.rows("contract_party"):
        assert cp["contract_id"] in ids["contract"] and cp["person_id"] in ids["person"]
    for t in ("property_owner", "caretaker"):
        assert all(r["property_id"] in ids["property"] and r["person_id"] in ids["person"] for r in ds.rows(t))
    assert all(p["person_type_code"] in {"TENANT", "OWNER", "PROSPECT"} for p in ds.rows("person"))
    assert all(r["user_id"] in ids["staff_user"] for r in ds.rows("property_user") + ds.rows("team_member"))
    assert all(d["document_type_code"] in ids["document_type"] and d["property_id"] in ids["property"]
               for d in ds.rows("document"))


def test_realistic_mix(ds: Dataset) -> None:
    units = ds.rows("unit")
    phantom = sum(u["is_phantom"] for u in units) / len(units)
    assert 0.005 < phantom < 0.04
    assert {u["usage"] for u in units} == {"RESIDENTIAL", "COMMERCIAL", "PARKING", "OTHER"}
    assert all(u["area"].as_tuple().exponent == -2 and u["rooms"].as_tuple().exponent == -1 for u in units)

    persons = ds.rows("person")
    no_mail = sum(p["email"] is None for p in persons) / len(persons)
    assert 0.03 < no_mail < 0.07
    mails = Counter(p["email"] for p in persons if p["email"])
    shared = [m for m, c in mails.items() if c > 1]
    assert 1 <= len(shared) <= 50
    ibans = [p["iban"] for p in persons if p["iban"]]
    assert len(ibans) > 500 and all(i.startswith("DE") and len(i) == 22 and iban_is_valid(i) for i in ibans)

    contracts = ds.rows("contract")
    types = Counter(c["contract_type"] for c in contracts)
    assert types["TENANT"] > types["OWNER"] > 0
    tenant = [c for c in contracts if c["contract_type"] == "TENANT"]
    open_ = [c for c in tenant if c["end_date"] is None and c["start_date"] <= TODAY]
    future = [c for c in tenant if c["start_date"] > TODAY]
    long_ended = [c for c in tenant if c["end_date"] and (TODAY - c["end_date"]).days > GRACE_DAYS]
    recent = [c for c in tenant if c["end_date"] and 0 < (TODAY - c["end_date"]).days <= GRACE_DAYS]
    assert len(open_) > len(tenant) / 2
    assert future and long_ended and recent
    assert len(open_) + len(future) + len(long_ended) + len(recent) == len(tenant)
    # at most one open tenant contract per unit
    assert max(Counter(c["unit_id"] for c in open_).values()) == 1


def test_iban_check_digits() -> None:
    assert iban_de("37040044", "0532013000") == "DE89370400440532013000"  # the well-known example IBAN
    assert iban_is_valid("DE89370400440532013000") and not iban_is_valid("DE88370400440532013000")


def _apply(ds: Dataset, changes: list[Change]) -> dict[str, dict[tuple[Any, ...], dict[str, Any]]]:
    state = {t: {tuple(r[c] for c in TABLES[t].primary_key): dict(r) for r in ds.rows(t)} for t in ds.tables}
    for ch in changes:
        key = tuple(ch.key[c] for c in TABLES[ch.table].primary_key)
        rows = state[ch.table]
        if ch.kind == "insert":
            assert key not in rows
            assert tuple(ch.values) == TABLES[ch.table].column_names
            rows[key] = dict(ch.values)
        elif ch.kind == "update":
            assert key in rows and set(ch.values) <= set(TABLES[ch.table].column_names)
            rows[key].update(ch.values)
        else:
            assert key in rows, ch.describe()
            del rows[key]
    return state


def test_live_changes_are_consistent(ds: Dataset) -> None:
    changes = live_changes(ds, 11, 300, TODAY)
    events = Counter(c.event for c in changes)
    assert {"move-in", "move-out", "edit", "delete-party", "delete-unit"} <= set(events)
    state = _apply(ds, changes)  # every update/delete hits an existing row, inserts are new
    for c in state["contract"].values():
        assert (c["unit_id"],) in state["unit"] and (c["person_id"],) in state["person"]
    for (cid, pid) in state["contract_party"]:
        assert (cid,) in state["contract"]
    for ch in changes:
        if ch.event == "move-out":
            assert (TODAY - ch.values["end_date"]).days > GRACE_DAYS
        if ch.event == "move-in" and ch.table == "person":
            assert ch.values["email"]
    # the source data set is untouched
    assert ds.counts()["contract"] == 4000


def test_change_description_has_no_personal_data(ds: Dataset) -> None:
    for ch in live_changes(ds, 5, 100, TODAY):
        text = ch.describe()
        for col in PERSONAL_COLUMNS:
            value = ch.values.get(col)
            if isinstance(value, str) and len(value) > 3:
                assert value not in text
