"""R17–R19: open tickets, ticket types, notes as comments, ticket documents as attachments.

The data is ``minimal_dataset()`` (property ``1-1000`` of Mandant 1, unit ``1-1000-0001``,
TENANT contract of P001 with co-tenant P002) with the ticket lookups, staff user ``MKS`` in
team 5, and ticket 70 (number 412, a damage report of P001) added per test. ``TODAY`` is
2025-06-15: the time filter starts on 2024-01-01.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any

from streams.casavi.import_contract import MAX_CONTENT_BYTES
from streams.erp.rows import content_digest
from streams.projection import EmittedTable, all_roots, plan, project_all, project_root
from streams.projection.reconfigure import roots_affected_by_config
from streams.projection.roots import StaffRoot, TicketRoot
from streams.projection.sample import Dataset, change, delete, minimal_dataset
from streams.settings import SyncSettings
from streams.worker.processor import Processor
from tests.unit.rules_support import TODAY, state_of

TICKET = "ticket:1-1000-T412"
POST = "post:1-1000-T412"
PDF = b"%PDF-1.4\n% Foto Heizung\n%%EOF\n"


def with_ticket(ds: Dataset | None = None, notes: list[dict[str, Any]] | None = None, **fields: Any) -> Dataset:
    ds = ds or minimal_dataset()
    for code, name, mode in (("SCHADEN", "Schadensmeldung", "STANDARD"), ("AUSHANG", "Aushang", "PINBOARD"),
                             ("SPERRE", "Gesperrt", "BLOCKED"), ("OBJEKT", "Objektmeldung", "PROPERTY")):
        ds.add("ticket_type", ticket_type_code=code, name=name, portal_mode=mode)
    for code, name, kind in (("NEU", "Neu", "OPEN"), ("INARB", "In Arbeit", "IN_PROGRESS"),
                             ("ZURUECK", "Zurückgestellt", "POSTPONED"), ("ERL", "Erledigt", "DONE"),
                             ("STORNO", "Storniert", "CANCELLED")):
        ds.add("ticket_status", status_code=code, name=name, status_kind=kind)
    ds.add("ticket_priority", priority_code="HOCH", name="Hoch", rank=1)
    ds.add("team", team_id=5, name="Team Nord")
    ds.add("staff_user", user_id=7, user_no="MKS", first_name="Maria", last_name="Kaiser", email="mk@hv.example",
           phone=None, active=True)
    row: dict[str, Any] = dict(
        ticket_id=70, ticket_no=412, ticket_type_code="SCHADEN", subject="Heizung kalt",
        description="Heizkörper im Bad wird nicht warm.", hint1="Schlüssel beim Hausmeister", hint2=None,
        reporter_person_id=1, trade="Heizung", reported_at=datetime(2025, 5, 2, 8, 15, tzinfo=timezone.utc),
        property_id=10, unit_id=1000, technical_object="Therme", responsible_user_id=7, responsible_team_id=5,
        due_from=date(2025, 5, 5), due_to=date(2025, 5, 9), status_code="NEU", priority_code="HOCH", origin="ERP")
    row.update(fields)
    ds.add("ticket", **row)
    for note in notes or []:
        ds.add("ticket_note", **{"ticket_id": 70, "author": "Maria Kaiser",
                                 "created_at": datetime(2025, 5, 3, 10, 5, tzinfo=timezone.utc), **note})
    return ds


def out(ds: Dataset, cfg: SyncSettings | None = None, today: date = TODAY) -> dict[str, dict[str, Any]]:
    return {k: d.document for k, d in project_all(state_of(ds), cfg or SyncSettings(), today).items()
            if k.split(":")[0] in ("ticket", "post", "comment", "attachment")}


def excluded(ds: Dataset, cfg: SyncSettings | None = None) -> dict[str, str]:
    found: dict[str, str] = {}
    project_root(state_of(ds), TicketRoot(70), cfg or SyncSettings(), TODAY, excluded=found)
    return found


def sent_then(ds: Dataset, *changes: tuple[str, dict[str, Any]]) -> list[tuple[str, str, str]]:
    """The commands after the ERP changes ``changes`` (table, full row), once the data set was sent."""
    st = state_of(ds)
    emitted = EmittedTable()
    plan(st, all_roots(st), SyncSettings(), TODAY, emitted)
    roots = set()
    for table, row in changes:
        roots |= st.apply(change(table, row, "u"))
    return [(c.op, c.slot, c.reason) for c in plan(st, roots, SyncSettings(), TODAY, emitted)]


# --- R17 -------------------------------------------------------------------------------------

def test_r17_open_ticket_with_every_field() -> None:
    assert out(with_ticket()) == {TICKET: {
        "id": "1-1000-T412", "number": 412, "title": "Heizung kalt", "description": "Heizkörper im Bad wird nicht warm.",
        "type": "Schadensmeldung", "propertyId": "1-1000", "unitId": "1-1000-0001", "status": "OPEN",
        "statusText": "Neu", "contactId": "P001", "sharedWithContacts": ["P001"], "sharedWithProperty": False,
        "assignedToId": "MKS", "reportedAt": "2025-05-02T08:15:00Z",
        "customFields": {"hint1": "Schlüssel beim Hausmeister", "hint2": None, "trade": "Heizung",
                         "technicalObject": "Therme", "responsibleTeam": "Team Nord", "dueFrom": "2025-05-05",
                         "dueTo": "2025-05-09", "priority": "Hoch"},
    }}


def test_r17_only_open_tickets_in_progress_and_postponed_with_their_status() -> None:
    assert out(with_ticket(status_code="INARB"))[TICKET]["status"] == "INPROGRESS"
    assert out(with_ticket(status_code="ZURUECK"))[TICKET]["status"] == "POSTPONED"
    assert out(with_ticket(status_code="ERL")) == {}
    assert out(with_ticket(status_code="STORNO")) == {}
    assert out(with_ticket(status_code="UNBEKANNT")) == {}


def test_r17_closing_or_cancelling_in_the_erp_closes_it_in_casavi() -> None:
    for status, reason in (("ERL", "R17 ticket done"), ("STORNO", "R17 ticket cancelled")):
        ds = with_ticket(notes=[{"note_id": 1, "content": "Monteur kommt Dienstag.", "is_internal": False}])
        cmds = sent_then(ds, ("ticket", {**ds.rows["ticket"][0], "status_code": status}))
        assert ("DELETE", TICKET, reason) in cmds  # the sink closes a ticket, never deletes it


def test_r17_time_filter_except_properties_with_the_full_history() -> None:
    old = datetime(2023, 12, 31, 22, 0, tzinfo=timezone.utc)
    assert out(with_ticket(reported_at=old)) == {}
    assert excluded(with_ticket(reported_at=old))[TICKET] == "R17 ticket older than the time filter"
    assert TICKET in out(with_ticket(reported_at=datetime(2024, 1, 1, tzinfo=timezone.utc)))
    for selection in (["1000"], ["1:1000"]):
        assert TICKET in out(with_ticket(reported_at=old), SyncSettings(ticket_full_history=selection))
    assert out(with_ticket(reported_at=old), SyncSettings(ticket_full_history=["2:1000"])) == {}


def test_r17_time_filter_rolls_over_on_first_january() -> None:
    p = Processor(SyncSettings(today=date(2025, 12, 31)))
    p.fold(with_ticket(reported_at=datetime(2024, 6, 1, tzinfo=timezone.utc)).changes())
    assert TICKET in {c.slot for c in p.reproject_all()}
    p.config = SyncSettings(today=date(2026, 1, 1))
    p.tick()
    cmds = p.project(p.next_chunk().roots)
    assert [(c.op, c.slot, c.reason) for c in cmds] == [("DELETE", TICKET, "R17 ticket older than the time filter")]


def test_r17_only_tickets_of_enabled_teams_or_of_no_team() -> None:
    assert out(with_ticket(), SyncSettings(ticket_teams=[6])) == {}
    assert excluded(with_ticket(), SyncSettings(ticket_teams=[6]))[TICKET] == "R17 ticket of a team not enabled"
    assert TICKET in out(with_ticket(), SyncSettings(ticket_teams=[5, 6]))
    assert TICKET in out(with_ticket(responsible_team_id=None), SyncSettings(ticket_teams=[6]))
    st = state_of(with_ticket())
    assert roots_affected_by_config(st, SyncSettings(), SyncSettings(ticket_teams=[6]), TODAY) == {TicketRoot(70)}


def test_r17_ticket_of_a_property_not_synced_is_not_sent() -> None:
    assert out(with_ticket(), SyncSettings(properties=["2000"])) == {}
    assert out(with_ticket(property_id=99)) == {}


def test_r17_ticket_from_the_portal_is_not_sent_back() -> None:
    assert out(with_ticket(origin="PORTAL")) == {}
    assert excluded(with_ticket(origin="PORTAL"))[TICKET] == "R17 ticket created in the portal"


def test_r17_reporter_unit_and_responsible_only_when_synced() -> None:
    doc = out(with_ticket(reporter_person_id=99, unit_id=None, responsible_user_id=None))[TICKET]
    assert (doc["contactId"], doc["sharedWithContacts"], doc["unitId"], doc["assignedToId"]) == (None, [], None, None)
    ds = with_ticket()
    ds.rows["staff_user"][0]["active"] = False
    assert out(ds)[TICKET]["assignedToId"] is None
    # the staff user deactivated later: projecting the staff root projects the ticket too
    ds = with_ticket()
    st = state_of(ds)
    emitted = EmittedTable()
    plan(st, all_roots(st), SyncSettings(), TODAY, emitted)
    roots = st.apply(change("staff_user", {**ds.rows["staff_user"][0], "active": False}, "u"))
    assert StaffRoot(7) in roots
    cmds = plan(st, roots, SyncSettings(), TODAY, emitted)
    assert ("UPSERT", TICKET) in {(c.op, c.slot) for c in cmds}


def test_r17_ticket_documents_as_attachments() -> None:
    ds = with_ticket()
    ds.add("document", document_id=33, property_id=10, unit_id=None, contract_id=None, person_id=None,
           document_type_code=None, name="Foto.pdf", mime_type="application/pdf",
           created_at=datetime(2020, 1, 1, tzinfo=timezone.utc), released=True, content=PDF)
    ds.add("ticket_document", ticket_id=70, document_id=33)
    slot = f"attachment:1-1000-T412-D33-{content_digest(PDF)[:8]}"
    assert out(ds)[slot] == {"id": slot.split(":", 1)[1], "name": "Foto.pdf", "contentType": "application/pdf",
                             "contentRef": {"key": "document:33", "sha256": content_digest(PDF), "size": len(PDF)}}
    # not released: no attachment; new content: a new attachment, the old one taken back
    ds_off = with_ticket()
    ds_off.rows = {**ds.rows, "document": [{**ds.rows["document"][0], "released": False}]}
    assert slot not in out(ds_off)
    newer = PDF + b"v2"
    cmds = sent_then(ds, ("document", {**ds.rows["document"][0], "content": newer}))
    new_slot = f"attachment:1-1000-T412-D33-{content_digest(newer)[:8]}"
    assert [(op, s) for op, s, _ in cmds] == [("UPSERT", new_slot), ("DELETE", slot)]


def test_r17_attachment_over_the_limit_is_a_dead_letter() -> None:
    ds = with_ticket()
    ds.add("document", document_id=33, property_id=10, document_type_code=None, name="Film.mp4", mime_type="video/mp4",
           created_at=None, released=True, content=b"\0" * (MAX_CONTENT_BYTES + 1))
    ds.add("ticket_document", ticket_id=70, document_id=33)
    p = Processor(SyncSettings(today=TODAY))
    cmds = p.project(p.fold(ds.changes()).roots)
    assert not any(c.entity == "attachment" for c in cmds) and TICKET in {c.slot for c in cmds}
    letters = p.take_dead_letters()  # the document itself is one too (R16): the same content, a document of the property
    assert sorted((d.error_code, d.entity) for d in letters) == [("CONTENT_TOO_LARGE", "attachment"),
                                                                 ("CONTENT_TOO_LARGE", "document")]


# --- R18 -------------------------------------------------------------------------------------

def test_r18_blocked_never_and_an_unknown_type_is_not_taken_for_another() -> None:
    assert out(with_ticket(ticket_type_code="SPERRE")) == {}
    assert excluded(with_ticket(ticket_type_code="SPERRE"))[TICKET] == "R18 ticket type blocked"
    assert out(with_ticket(ticket_type_code="NEUART")) == {}
    ds = with_ticket()
    cmds = sent_then(ds, ("ticket", {**ds.rows["ticket"][0], "ticket_type_code": "SPERRE"}))
    assert ("DELETE", TICKET, "R18 ticket type blocked") in cmds


def test_r18_pinboard_notice_is_a_post_without_status_removed_when_closed() -> None:
    ds = with_ticket(ticket_type_code="AUSHANG", subject="Wasser abgestellt",
                     description="Am Freitag 9-12 Uhr kein Wasser.")
    assert out(ds) == {POST: {"id": "1-1000-T412", "title": "Wasser abgestellt", "text": "Am Freitag 9-12 Uhr kein Wasser.",
                              "authorId": "MKS", "propertyId": "1-1000", "allowComments": False, "isImportant": False,
                              "showOnInfoboard": False}}
    cmds = sent_then(ds, ("ticket", {**ds.rows["ticket"][0], "status_code": "ERL"}))
    assert cmds == [("DELETE", POST, "R17 ticket done")]


def test_r18_pinboard_post_author_falls_back_to_the_erp_user() -> None:
    ds = with_ticket(ticket_type_code="AUSHANG", responsible_user_id=None)
    assert out(ds) == {}
    assert excluded(ds)[POST] == "R18 pinboard post without an author"
    assert out(ds, SyncSettings(erp_user="HVW"))[POST]["authorId"] == "HVW"


def test_r18_property_ticket_shared_with_everyone_standard_with_the_reporter() -> None:
    prop = out(with_ticket(ticket_type_code="OBJEKT"))[TICKET]
    assert (prop["sharedWithProperty"], prop["sharedWithContacts"]) == (True, [])
    std = out(with_ticket())[TICKET]
    assert (std["sharedWithProperty"], std["sharedWithContacts"]) == (False, ["P001"])


def test_r18_type_changed_to_pinboard_closes_the_ticket_and_posts_it() -> None:
    ds = with_ticket()
    cmds = sent_then(ds, ("ticket", {**ds.rows["ticket"][0], "ticket_type_code": "AUSHANG"}))
    assert cmds == [("UPSERT", POST, "upsert new"), ("DELETE", TICKET, "R18 pinboard notice: a post, not a ticket")]


def test_r18_ticket_type_row_changed_reprojects_its_tickets() -> None:
    ds = with_ticket()
    st = state_of(ds)
    roots = st.apply(change("ticket_type", {"ticket_type_code": "SCHADEN", "name": "Schaden", "portal_mode": "BLOCKED"},
                            "u"))
    assert roots == {TicketRoot(70)}
    assert project_root(st, TicketRoot(70), SyncSettings(), TODAY) == {}


# --- R19 -------------------------------------------------------------------------------------

NOTES = [{"note_id": 1, "content": "Monteur kommt Dienstag.", "is_internal": False},
         {"note_id": 2, "content": "Mieter ist schwierig.", "is_internal": True},
         {"note_id": 3, "content": "Ohne Kennzeichen.", "is_internal": None}]


def test_r19_public_notes_as_comments_with_author_and_time() -> None:
    found = out(with_ticket(notes=NOTES))
    comments = {k: v for k, v in found.items() if k.startswith("comment:")}
    assert comments == {"comment:1-1000-T412-N1": {
        "id": "1-1000-T412-N1", "text": "**Maria Kaiser · 03.05.2025 10:05**\n\nMonteur kommt Dienstag.",
        "isInternal": False, "authorId": None, "authorEmail": None, "fallbackToAccount": True, "attachments": []}}


def test_r19_internal_notes_never() -> None:
    found = excluded(with_ticket(notes=NOTES))
    assert found["comment:1-1000-T412-N2"] == "R19 internal note"
    assert found["comment:1-1000-T412-N3"] == "R19 internal note"  # not marked public: internal
    assert "schwierig" not in str(out(with_ticket(notes=NOTES)))


def test_r19_note_made_internal_or_deleted_is_taken_back() -> None:
    ds = with_ticket(notes=NOTES[:1])
    note = ds.rows["ticket_note"][0]
    assert sent_then(ds, ("ticket_note", {**note, "is_internal": True})) == [
        ("DELETE", "comment:1-1000-T412-N1", "R19 internal note")]
    st = state_of(ds)
    emitted = EmittedTable()
    plan(st, all_roots(st), SyncSettings(), TODAY, emitted)
    cmds = plan(st, st.apply(delete("ticket_note", note)), SyncSettings(), TODAY, emitted)
    assert [(c.op, c.slot) for c in cmds] == [("DELETE", "comment:1-1000-T412-N1")]


def test_r19_a_pinboard_post_has_no_comments() -> None:
    found = out(with_ticket(ticket_type_code="AUSHANG", notes=NOTES))
    assert [k.split(":")[0] for k in found] == ["post"]
