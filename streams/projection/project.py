"""Projection: ERP state -> desired casavi documents, per root or in full.

``project_all(state, config, today)`` is the function of ``sync-rules.md``
(``casavi_state = project(erp_state, config, today)``); ``project_root`` computes the
part of it that one root owns, so the worker re-projects only what a change touched.
The union of ``project_root`` over ``all_roots`` is ``project_all`` by construction.

Both return ``{slot key: Desired}`` (slot key = ``"<entity>:<reference id>"``).
``today`` is always an argument: the projection never reads the clock
(``effective_today`` resolves ``SyncSettings.today``).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from streams.casavi.import_contract import MAX_CONTENT_BYTES
from streams.erp.rows import ContractRow, PersonRow
from streams.projection import ids
from streams.projection.due import roots_due_in
from streams.projection.model import Desired, slot_key
from streams.projection.roots import (ROOT_TABLES, DocumentRoot, PersonRoot, PropertyRoot, Root, StaffRoot, TicketRoot,
                                      UnitRoot)
from streams.projection.rules import (
    ATTACHMENT_TOO_LARGE,
    DOCUMENT_SHARE_NOT_SYNCED,
    DOCUMENT_TOO_LARGE,
    GONE,
    NOTE_OF_POST,
    POST_WITHOUT_AUTHOR,
    TICKET_IS_POST,
    TICKET_NOT_POST,
    ProjectionConfig,
    Rejection,
    Rules,
)
from streams.projection.state import ErpState
from streams.settings import SyncSettings

Config = SyncSettings | ProjectionConfig


def effective_today(config: SyncSettings) -> date:
    """The configured fixed day (dry runs, tests) or the real one."""
    return config.today or date.today()


def project_root(
    state: ErpState,
    root: Root,
    config: Config,
    today: date,
    *,
    excluded: dict[str, str] | None = None,
) -> dict[str, Desired]:
    """The desired casavi entities owned by ``root``.

    When ``excluded`` is given, it receives ``{slot key: reason}`` for entities of this
    root that exist in the ERP but are not synced (the reasons for deletes).
    """
    return project_with(Rules(state, config, today), root, excluded)


def project_roots(
    state: ErpState,
    roots: Iterable[Root],
    config: Config,
    today: date,
) -> dict[Root, dict[str, Desired]]:
    rules = Rules(state, config, today)
    return {r: project_with(rules, r, None) for r in roots}


def all_roots(state: ErpState) -> set[Root]:
    """The root of every row a root is named after (from the keys: no row is read)."""
    return {make(root_id) for make, table in ROOT_TABLES for root_id in state.key_values(table)}


def root_exists(state: ErpState, root: Root) -> bool:
    """Whether the row a root is named after is in the state (``all_roots`` holds it)."""
    if isinstance(root, PropertyRoot):
        return (root.property_id,) in state.properties
    if isinstance(root, UnitRoot):
        return (root.unit_id,) in state.units
    if isinstance(root, PersonRoot):
        return (root.person_id,) in state.persons
    if isinstance(root, StaffRoot):
        return (root.user_id,) in state.staff_users
    if isinstance(root, DocumentRoot):
        return (root.document_id,) in state.documents
    return (root.ticket_id,) in state.tickets


def with_dependants(state: ErpState, roots: Iterable[Root]) -> set[Root]:
    """``roots`` and the roots that read whether their entities are synced (documents of a
    property, unit, contract or person: ``ErpState.dependants``)."""
    out = set(roots)
    for root in list(out):
        out.update(state.dependants(root))
    return out


def with_email_peers(state: ErpState, roots: Iterable[Root]) -> set[Root]:
    """``roots`` and, for every person among them, the persons sharing their e-mail address:
    whether a person is synced decides which of them carries the address (R08)."""
    out = set(roots)
    for root in [r for r in out if isinstance(r, PersonRoot)]:
        out.update(PersonRoot(pid) for pid in state.email_peers(root.person_id))
    return out


def project_all(state: ErpState, config: Config, today: date) -> dict[str, Desired]:
    """The full projection: the union of every root's output."""
    rules = Rules(state, config, today)
    out: dict[str, Desired] = {}
    for root in all_roots(state):
        out.update(project_with(rules, root, None))
    return out


def roots_due(state: ErpState, config: Config, since: date, today: date) -> set[Root]:
    """Roots whose projection can differ between day ``since`` and day ``today`` with no
    row change (``streams.projection.due``), found by a scan of every dated row. The
    worker keeps a ``DueIndex`` instead; both give the same roots.
    """
    if today <= since:
        return set()
    rows = [*state.properties.values(), *state.units.values(), *state.contracts.values(), *state.documents.values(),
            *state.tickets.values()]
    return roots_due_in(state, ProjectionConfig.of(config), rows, since, today)


# --- per root --------------------------------------------------------------------------

def project_with(rules: Rules, root: Root, excluded: dict[str, str] | None = None) -> dict[str, Desired]:
    """``project_root`` with rules made once for many roots (one state, configuration, day)."""
    if isinstance(root, UnitRoot):
        return _project_unit(rules, root.unit_id, excluded)
    if isinstance(root, PersonRoot):
        return _project_person(rules, root.person_id, excluded)
    if isinstance(root, StaffRoot):
        return _project_staff(rules, root.user_id, excluded)
    if isinstance(root, DocumentRoot):
        return _project_document(rules, root.document_id, excluded)
    if isinstance(root, TicketRoot):
        return _project_ticket(rules, root.ticket_id, excluded)
    return _project_property(rules, root.property_id, excluded)


def _project_property(rules: Rules, property_id: int, excluded: dict[str, str] | None) -> dict[str, Desired]:
    p = rules.state.property(property_id)
    if p is None:
        return {}
    ref = rules.property_ref(p)
    reason = rules.property_reason(p)
    if reason is not None:
        if excluded is not None:
            excluded[slot_key("property", ref)] = reason
            for rid, _ in rules.responsibilities(p, ref):
                excluded[slot_key("responsibility", rid)] = reason
        return {}
    d = Desired("property", ref, (), rules.property_document(p, ref))
    out = {d.key: d}
    for rid, doc in rules.responsibilities(p, ref, excluded):
        r = Desired("responsibility", rid, (ref,), doc)
        out[r.key] = r
    return out


def _project_staff(rules: Rules, user_id: int, excluded: dict[str, str] | None) -> dict[str, Desired]:
    u = rules.state.staff_user(user_id)
    if u is None or not u.user_no or not u.user_no.strip():
        return {}
    ref = ids.staff_ref(u.user_no.strip())
    reason = rules.staff_reason(u)
    if reason is not None:
        if excluded is not None:
            excluded[slot_key("staff", ref)] = reason
        return {}
    d = Desired("staff", ref, (), rules.staff_document(u))
    return {d.key: d}


def _project_unit(rules: Rules, unit_id: int, excluded: dict[str, str] | None) -> dict[str, Desired]:
    st = rules.state
    u = st.unit(unit_id)
    if u is None:
        return {}
    reason, p = rules.unit_reason(u)
    contracts = [c for c in (st.contract(cid) for cid in st.contracts_by_unit.of(unit_id)) if c is not None]
    if reason is not None:
        if excluded is not None and p is not None:
            uref = rules.unit_ref(u, p)
            excluded[slot_key("unit", uref)] = reason
            for c in contracts:
                excluded[slot_key("contract", ids.contract_ref(uref, c.contract_no, rules.sep))] = reason
        return {}
    assert p is not None
    pref = rules.property_ref(p)
    uref = ids.unit_ref(pref, u.unit_no, rules.sep)
    out: dict[str, Desired] = {}
    synced: list[tuple[ContractRow, PersonRow]] = []
    for c in contracts:
        creason = rules.contract_own_reason(c)
        if creason is not None:
            if excluded is not None:
                excluded[slot_key("contract", ids.contract_ref(uref, c.contract_no, rules.sep))] = creason
            continue
        main = st.person(c.person_id)
        assert main is not None
        synced.append((c, main))
    # R14: the unit's current contract is the synced one with the latest start on or before today
    current: ContractRow | None = None
    for c, _ in synced:
        if c.start_date is None or c.start_date <= rules.today:
            if current is None or _later(c, current):
                current = c
    unit_doc = Desired("unit", uref, (pref,), rules.unit_document(u, uref, current))
    out[unit_doc.key] = unit_doc
    for c, main in synced:
        cref = ids.contract_ref(uref, c.contract_no, rules.sep)
        d = Desired("contract", cref, (pref, uref), rules.contract_document(c, cref, main))
        out[d.key] = d
    return out



def _project_document(rules: Rules, document_id: int, excluded: dict[str, str] | None) -> dict[str, Desired]:
    d = rules.state.document(document_id)
    if d is None:
        return {}
    reason, p = rules.document_reason(d)
    if p is None:
        return {}  # no property: no id either
    ref = ids.document_ref(rules.property_ref(p), document_id, rules.sep)
    share = rules.document_share(d, p) if reason is None else None
    if reason is None and share is None:
        reason = DOCUMENT_SHARE_NOT_SYNCED
    if reason is None and rules.document_too_large(d):
        reason = DOCUMENT_TOO_LARGE
        rules.rejections.append(Rejection(
            "document", ref, DocumentRoot(document_id).key, d.content_sha256 or "",
            f"document {ref}: content of {d.content_size} bytes is over casavi's limit of "
            f"{MAX_CONTENT_BYTES} bytes; not sent (content is never cut)"))
    if reason is not None:
        if excluded is not None:
            excluded[slot_key("document", ref)] = reason
        return {}
    assert share is not None
    doc = Desired("document", ref, (), rules.document_document(d, ref, share))
    return {doc.key: doc}


def _project_ticket(rules: Rules, ticket_id: int, excluded: dict[str, str] | None) -> dict[str, Desired]:
    """R17–R19: the ticket (or, for a pinboard notice, the post) with its comments and attachments."""
    st = rules.state
    t = st.ticket(ticket_id)
    if t is None or t.ticket_no is None:
        return {}  # no number, no id
    reason, p, tt = rules.ticket_reason(t)
    if p is None:
        return {}
    ref = ids.ticket_ref(rules.property_ref(p), t.ticket_no, rules.sep)
    notes = [n for n in (st.ticket_note(nid) for nid in st.notes_by_ticket.of(ticket_id)) if n is not None]
    out: dict[str, Desired] = {}
    marks: dict[str, str] = {}  # slot -> why it is not in the projection

    def part_reasons(why: str) -> None:
        for n in notes:
            marks[slot_key("comment", ids.comment_ref(ref, n.note_id, rules.sep))] = why

    if reason is None and tt is not None and tt.portal_mode == "PINBOARD":
        author = rules.post_author(t)
        marks[slot_key("ticket", ref)] = TICKET_IS_POST
        if author is None:
            marks[slot_key("post", ref)] = POST_WITHOUT_AUTHOR
        else:
            post = Desired("post", ref, (), rules.post_document(t, ref, p, tt, author))
            out[post.key] = post
        part_reasons(NOTE_OF_POST)
    elif reason is None and tt is not None:
        ticket = Desired("ticket", ref, (), rules.ticket_document(t, ref, p, tt))
        out[ticket.key] = ticket
        marks[slot_key("post", ref)] = TICKET_NOT_POST
        for n in notes:
            cref = ids.comment_ref(ref, n.note_id, rules.sep)
            why = rules.note_reason(n)
            if why is not None:
                marks[slot_key("comment", cref)] = why
                continue
            c = Desired("comment", cref, (ref,), rules.comment_document(n, cref))
            out[c.key] = c
        for document_id in sorted(st.documents_by_ticket.of(ticket_id)):
            d = st.document(document_id)
            if d is None or rules.attachment_reason(d) is not None:
                continue  # what casavi holds of it is deleted: its slot is not produced
            aref = ids.attachment_ref(ref, document_id, d.content_sha256 or "", rules.sep)
            if rules.document_too_large(d):
                marks[slot_key("attachment", aref)] = ATTACHMENT_TOO_LARGE
                rules.rejections.append(Rejection(
                    "attachment", aref, TicketRoot(ticket_id).key, d.content_sha256 or "",
                    f"attachment {aref}: content of {d.content_size} bytes is over casavi's limit of "
                    f"{MAX_CONTENT_BYTES} bytes; not sent (content is never cut)"))
                continue
            a = Desired("attachment", aref, (ref,), rules.attachment_document(d, aref))
            out[a.key] = a
    else:
        for entity in ("ticket", "post"):
            marks[slot_key(entity, ref)] = reason or GONE
        part_reasons(reason or GONE)
    if excluded is not None:
        excluded.update(marks)
    return out


def _later(a: ContractRow, b: ContractRow) -> bool:
    ka = (a.start_date or date.min, a.contract_id)
    kb = (b.start_date or date.min, b.contract_id)
    return ka > kb


def _project_person(rules: Rules, person_id: int, excluded: dict[str, str] | None) -> dict[str, Desired]:
    p = rules.state.person(person_id)
    if p is None:
        return {}
    reason = rules.person_reason(p)
    if reason is not None:
        if excluded is not None:
            excluded[slot_key("contact", ids.contact_ref(p.person_no))] = reason
        return {}
    d = Desired("contact", ids.contact_ref(p.person_no), (), rules.contact_document(p))
    return {d.key: d}


__all__ = [
    "GONE",
    "Config",
    "all_roots",
    "effective_today",
    "project_all",
    "project_root",
    "project_roots",
    "project_with",
    "roots_due",
    "with_dependants",
    "with_email_peers",
]
