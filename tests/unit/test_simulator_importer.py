"""The simulator's import rules without HTTP: ``check_structure``, ``plan``, ``apply_import``."""

from __future__ import annotations

from typing import Any

from streams.casavi.import_contract import archive_item, delete_item
from streams.simulator.importer import apply_import, check_structure, plan
from streams.simulator.store import Store


def _body() -> dict[str, Any]:
    return {
        "properties": [
            {"id": "P1", "number": "1", "units": [
                {"id": "P1-1", "number": "1", "contracts": [
                    {"id": "K1", "number": "K1", "type": "TENANT", "contacts": [{"contactId": "C1", "role": "MAIN"}]},
                ]},
            ]},
            {"id": "P2", "number": "2", "units": [{"id": "P2-1", "number": "1"}]},
        ],
        "contacts": [{"id": "C1"}],
    }


def test_r20_plan_applies_level_by_level() -> None:
    order = [(entity, item["id"], parent) for entity, parent, item in plan(_body())]
    assert order == [("contact", "C1", None), ("property", "P1", None), ("property", "P2", None),
                     ("unit", "P1-1", "P1"), ("unit", "P2-1", "P2"), ("contract", "K1", "P1-1")]


def test_apply_import_creates_then_is_idempotent() -> None:
    store = Store(":memory:")
    first = apply_import(store, _body())
    assert {r.status for r in first} == {"created"}
    assert {r.status for r in apply_import(store, _body())} == {"unchanged"}
    assert store.referrers("contact", "C1") == [("contract", "K1")]


def test_contact_lifecycle_in_one_store() -> None:
    store = Store(":memory:")
    apply_import(store, _body())
    blocked = apply_import(store, {"contacts": [archive_item("C1"), delete_item("C1")]})
    assert [(r.status, r.error_code) for r in blocked] == [("archived", None), ("failed", "CONTACT_IN_USE")]
    apply_import(store, {"properties": [delete_item("P1")]})
    assert store.get("contract", "K1") is None and store.referrers("contact", "C1") == []
    done = apply_import(store, {"contacts": [delete_item("C1")]})  # archived by the earlier import
    assert [r.status for r in done] == ["deleted"]


def test_structure_problems_name_paths_not_values() -> None:
    problems = check_structure({"contacts": [{"id": 7, "email": "someone@example.org"}], "tenants": [],
                                "properties": [{"id": "P1", "delete": "yes"}]})
    assert [(p.path, p.message) for p in problems] == [
        ("tenants", "unknown list; expected one of contacts, properties, responsibilities"),
        ("contacts[0].id", "must be a non-empty string"),
        ("properties[0].delete", "must be a boolean"),
    ]
    # responsibilities are items like any other (import contract rule 10): each needs its id
    assert [(p.path, p.message) for p in check_structure({"responsibilities": [{"anything": 1}]})] == [
        ("responsibilities[0].id", "must be a non-empty string")]
    assert check_structure("x")[0].path == ""


def test_the_next_number_of_tickets_posts_and_files_is_one_above_the_largest_held() -> None:
    from streams.simulator.tickets import _next_internal_id

    store = Store(":memory:")
    assert _next_internal_id(store, "ticket") == 1
    store.put("ticket", "t1", None, {"internalId": 7})
    store.put("ticket", "t2", None, {"internalId": "12"})
    store.put("ticket", "t3", None, {"title": "no number"})
    store.put("post", "p1", None, {"internalId": 3})
    assert _next_internal_id(store, "ticket") == 13 and _next_internal_id(store, "post") == 4
    store.put("file", "f1", None, {"id": 40})  # a file's number is its id where it has no internalId
    store.put("file", "f2", None, {"internalId": 0, "id": 41})
    store.put("file", "f3", None, {"internalId": 5, "id": 99})
    assert _next_internal_id(store, "file") == 42
