"""R16: released documents of synced properties, with name, type or class, date and content.

The data is ``minimal_dataset()`` (property ``1-1000``, unit ``1-1000-0001``, TENANT contract
``…-01`` of P001 with co-tenant P002) with a document type ``NK`` (class ``Abrechnung``) and
documents added per test. ``TODAY`` is 2025-06-15: the time filter starts on 2024-01-01.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timezone
from typing import Any

from streams.casavi.import_contract import MAX_CONTENT_BYTES
from streams.erp.rows import content_digest, row_dict
from streams.projection import EmittedTable, PersonRoot, UnitRoot, all_roots, plan, project_all, project_root
from streams.projection.roots import DocumentRoot
from streams.projection.sample import Dataset, change, delete, minimal_dataset
from streams.settings import SyncSettings
from streams.worker.processor import Processor
from tests.unit.rules_support import TODAY, state_of

PDF = b"%PDF-1.4\n% Abrechnung 2024\n%%EOF\n"
SLOT = "document:1-1000-D7"


def with_document(ds: Dataset | None = None, **fields: Any) -> Dataset:
    ds = ds or minimal_dataset()
    if "document_type" not in ds.rows:
        ds.add("document_type", document_type_code="NK", name="Nebenkostenabrechnung", document_class="Abrechnung")
        ds.add("document_type", document_type_code="HO", name="Hausordnung", document_class=None)
    row: dict[str, Any] = dict(document_id=7, property_id=10, unit_id=None, contract_id=None, person_id=None,
                               document_type_code="NK", name="Abrechnung 2024.pdf", mime_type="application/pdf",
                               created_at=datetime(2025, 3, 1, 9, 30, tzinfo=timezone.utc), released=True,
                               content=PDF)
    row.update(fields)
    ds.add("document", **row)
    return ds


def documents(ds: Dataset, cfg: SyncSettings | None = None, today: date = TODAY) -> dict[str, dict[str, Any]]:
    out = project_all(state_of(ds), cfg or SyncSettings(), today)
    return {k: d.document for k, d in out.items() if k.startswith("document:")}


def test_r16_released_document_with_name_class_date_and_content_reference() -> None:
    assert documents(with_document()) == {SLOT: {
        "id": "1-1000-D7", "title": "Abrechnung 2024.pdf", "name": "Abrechnung 2024.pdf", "type": ["Abrechnung"],
        "publishedAt": "2025-03-01T09:30:00Z", "contentType": "application/pdf",
        "sharedWith": [{"propertyId": "1-1000"}],
        "contentRef": {"key": "document:7", "sha256": content_digest(PDF), "size": len(PDF)},
    }}


def test_r16_type_name_when_the_type_has_no_document_class() -> None:
    assert documents(with_document(document_type_code="HO"))[SLOT]["type"] == ["Hausordnung"]


def test_r16_document_not_released_is_not_sent_and_a_withdrawn_one_is_deleted_without_content() -> None:
    assert documents(with_document(released=False)) == {}
    assert documents(with_document(released=None)) == {}
    ds = with_document()
    st = state_of(ds)
    emitted = EmittedTable()
    sent = plan(st, all_roots(st), SyncSettings(), TODAY, emitted)
    assert [(c.op, c.slot) for c in sent if c.entity == "document"] == [("UPSERT", SLOT)]
    withdrawn = {**ds.rows["document"][0], "released": False}
    cmds = plan(st, st.apply(change("document", withdrawn, "u")), SyncSettings(), TODAY, emitted)
    assert [(c.op, c.slot, c.reason, c.document) for c in cmds] == [
        ("DELETE", SLOT, "R16 document not released", None)]


def test_r16_time_filter_from_first_january_of_the_previous_calendar_year() -> None:
    old = datetime(2023, 12, 31, 23, 0, tzinfo=timezone.utc)
    new = datetime(2024, 1, 1, 0, 0, tzinfo=timezone.utc)
    assert documents(with_document(created_at=old)) == {}
    assert SLOT in documents(with_document(created_at=new))
    excluded: dict[str, str] = {}
    project_root(state_of(with_document(created_at=old)), DocumentRoot(7), SyncSettings(), TODAY, excluded=excluded)
    assert excluded == {SLOT: "R16 document older than the time filter"}


def test_r16_types_without_time_filter_are_synced_whatever_their_date() -> None:
    ancient = datetime(2001, 5, 1, tzinfo=timezone.utc)
    cfg = SyncSettings(document_types_without_time_filter=["NK"])
    assert SLOT in documents(with_document(created_at=ancient), cfg)
    assert documents(with_document(created_at=ancient, document_type_code="HO"), cfg) == {}


def test_r16_only_selected_document_types() -> None:
    cfg = SyncSettings(document_types=["HO"], document_types_without_time_filter=["PR"])
    assert documents(with_document(), cfg) == {}
    assert SLOT in documents(with_document(document_type_code="HO"), cfg)
    assert SLOT in documents(with_document(document_type_code="PR", created_at=datetime(2001, 1, 1, tzinfo=timezone.utc)),
                             cfg)
    excluded: dict[str, str] = {}
    project_root(state_of(with_document()), DocumentRoot(7), cfg, TODAY, excluded=excluded)
    assert excluded == {SLOT: "R16 document type not selected"}


def test_r16_time_filter_rolls_over_on_first_january_without_a_row_change() -> None:
    ds = with_document(created_at=datetime(2024, 2, 1, tzinfo=timezone.utc))
    p = Processor(SyncSettings(today=date(2025, 12, 31)))
    for c in ds.changes():
        p.fold([c])
    first = p.reproject_all()
    assert SLOT in {c.slot for c in first}
    p.config = SyncSettings(today=date(2026, 1, 1))
    assert p.tick() >= 1
    chunk = p.next_chunk()
    cmds = p.project(chunk.roots)
    assert [(c.op, c.slot, c.reason) for c in cmds] == [("DELETE", SLOT, "R16 document older than the time filter")]


def test_r16_shared_as_the_erp_row_says_person_contract_unit_property() -> None:
    share = {
        "person": ({"person_id": 2, "contract_id": 500, "unit_id": 1000}, {"contactId": "P002"}),
        "contract": ({"contract_id": 500, "unit_id": 1000}, {"contractId": "1-1000-0001-01"}),
        "unit": ({"unit_id": 1000}, {"unitId": "1-1000-0001"}),
        "property": ({}, {"propertyId": "1-1000"}),
    }
    for what, (fields, expected) in share.items():
        assert documents(with_document(**fields))[SLOT]["sharedWith"] == [expected], what


def test_r16_not_sent_while_what_it_is_shared_with_is_not_synced() -> None:
    cfg_mie = SyncSettings(person_types=["EIG"])  # P001 and P002 not enabled: no contract, no contacts
    for fields in ({"person_id": 2}, {"contract_id": 500}):
        assert documents(with_document(**fields), cfg_mie) == {}
        assert SLOT in documents(with_document(**fields))
    ds = with_document(unit_id=1000)
    ds.rows["unit"][0]["is_phantom"] = True
    assert documents(ds) == {}
    assert documents(with_document(person_id=99)) == {}  # the person has not arrived


def test_r16_property_not_synced_no_document() -> None:
    assert documents(with_document(), SyncSettings(properties=["2000"])) == {}
    ds = with_document()
    ds.rows["property"][0]["management_end"] = date(2025, 1, 1)
    assert documents(ds) == {}


def test_r16_document_follows_what_it_is_shared_with() -> None:
    ds = with_document(person_id=2)
    st = state_of(ds)
    emitted = EmittedTable()
    plan(st, all_roots(st), SyncSettings(), TODAY, emitted)
    assert SLOT in emitted.entries
    # the co-tenant leaves the contract: re-projecting P002 (and the unit) re-projects the document
    roots = st.apply(delete("contract_party", ds.rows["contract_party"][0]))
    assert roots == {PersonRoot(2), UnitRoot(1000)}
    cmds = plan(st, roots, SyncSettings(), TODAY, emitted)
    assert ("DELETE", SLOT, "R16 what the document is shared with is not synced") in {
        (c.op, c.slot, c.reason) for c in cmds}


def test_r16_document_type_change_reprojects_its_documents() -> None:
    ds = with_document()
    st = state_of(ds)
    roots = st.apply(change("document_type", {"document_type_code": "NK", "name": "NK", "document_class": "Belege"},
                            "u"))
    assert roots == {DocumentRoot(7)}
    assert project_root(st, DocumentRoot(7), SyncSettings(), TODAY)[SLOT].document["type"] == ["Belege"]


def test_r16_document_without_content_is_not_sent() -> None:
    excluded: dict[str, str] = {}
    project_root(state_of(with_document(content=None)), DocumentRoot(7), SyncSettings(), TODAY, excluded=excluded)
    assert excluded == {SLOT: "R16 document without content"}


def test_r16_content_never_in_the_state_its_table_or_a_command() -> None:
    p = Processor(SyncSettings(today=TODAY))
    step = p.fold(with_document().changes())
    held = p.state.document(7)
    assert held is not None and "content" not in row_dict(held)
    assert held.content_sha256 == content_digest(PDF) and held.content_size == len(PDF)
    doc_writes = [row for key, row, _ in step.row_writes if key.startswith("document|")]
    assert doc_writes and all(row is not None and "content" not in row for row in doc_writes)
    assert step.content_writes == [("document:7", PDF)]  # to the content topic, keyed as the command names it
    cmds = p.project(step.roots)
    assert PDF.decode() not in json.dumps([c.model_dump(mode="json") for c in cmds])
    reloaded = Processor(SyncSettings(today=TODAY))
    for key, row, position in step.row_writes:
        reloaded.load_row(key, row, position)
    assert reloaded.state.document(7) == held


def test_r16_content_forgotten_when_the_document_is_deleted_or_emptied() -> None:
    ds = with_document()
    p = Processor(SyncSettings(today=TODAY))
    p.fold(ds.changes())
    assert p.fold([change("document", {**ds.rows["document"][0], "content": None}, "u")]).content_writes == [
        ("document:7", None)]
    assert p.fold([delete("document", ds.rows["document"][0])]).content_writes == [("document:7", None)]


def test_r16_content_over_the_limit_is_a_dead_letter_never_cut() -> None:
    big = b"%PDF" + b"\0" * MAX_CONTENT_BYTES
    p = Processor(SyncSettings(today=TODAY))
    step = p.fold(with_document(content=big).changes())
    cmds = p.project(step.roots)
    assert SLOT not in {c.slot for c in cmds}
    letters = p.take_dead_letters()
    assert [(d.stage, d.error_code, d.entity, d.reference_id) for d in letters] == [
        ("project", "CONTENT_TOO_LARGE", "document", "1-1000-D7")]
    assert f"{len(big)} bytes" in letters[0].reason and str(MAX_CONTENT_BYTES) in letters[0].reason
    assert "PDF" not in letters[0].model_dump_json()
    p.project({DocumentRoot(7)})  # projected again: the same rejection is not reported twice
    assert p.take_dead_letters() == []
    exact = b"\0" * MAX_CONTENT_BYTES  # the limit itself is taken
    step = p.fold([change("document", {**with_document().rows["document"][0], "content": exact}, "u")])
    assert SLOT in {c.slot for c in p.project(step.roots)} and p.take_dead_letters() == []


def test_r16_document_type_settings_changed_reproject_the_documents_of_those_types() -> None:
    from streams.projection.reconfigure import roots_affected_by_config

    ds = with_document()
    ds.add("document", **{**ds.rows["document"][0], "document_id": 8, "document_type_code": "HO"})
    st = state_of(ds)
    old, new = SyncSettings(), SyncSettings(document_types=["HO"])
    assert roots_affected_by_config(st, old, new, TODAY) == {DocumentRoot(7), DocumentRoot(8)}
    newer = SyncSettings(document_types=["HO"], document_types_without_time_filter=["NK"])
    assert roots_affected_by_config(st, new, newer, TODAY) == {DocumentRoot(7)}
    emitted = EmittedTable()
    plan(st, all_roots(st), old, TODAY, emitted)
    cmds = plan(st, roots_affected_by_config(st, old, new, TODAY) or set(), new, TODAY, emitted)
    assert [(c.op, c.slot, c.reason) for c in cmds] == [("DELETE", SLOT, "R16 document type not selected")]
