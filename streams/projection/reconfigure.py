"""A configuration change: which roots may project differently under the new settings.

``roots_affected_by_config(state, old, new, today)`` is what the worker re-projects when it
starts with settings other than those it last ran with (a person type disabled, a licence
switched, a property taken out of the selection): diffing exactly these roots against what
casavi holds sends the new entities and deletes what left the projection (R13). It returns
``None`` when the change reaches every root (the id separator, the R09 day counts), and
the empty set when nothing that decides the projection changed.

Reads indexes where it can; a licence switch scans the contracts (OWNER contracts) or the
owner and caretaker tables once — a restart, not an event.
"""

from __future__ import annotations

from datetime import date

from streams.projection.project import Config
from streams.projection.roots import DocumentRoot, PersonRoot, Root, StaffRoot, TicketRoot, UnitRoot
from streams.projection.rules import ProjectionConfig, Rules
from streams.projection.state import ErpState


def roots_affected_by_config(state: ErpState, old: Config, new: Config, today: date) -> set[Root] | None:
    a, b = ProjectionConfig.of(old), ProjectionConfig.of(new)
    if (a.sep, a.portal_days_before_start, a.delete_after_days) != (b.sep, b.portal_days_before_start,
                                                                   b.delete_after_days):
        return None
    roots: set[Root] = set()
    if (a.mandanten, a.properties) != (b.mandanten, b.properties):  # R01/R02
        before, after = Rules(state, a, today), Rules(state, b, today)
        for p in state.properties.values():
            if (before.property_reason(p) is None) != (after.property_reason(p) is None):
                state.add_property_dependants(p.property_id, roots)
    if a.person_types != b.person_types:  # R06
        codes = set(state.persons_by_type) if a.person_types is None or b.person_types is None \
            else set(a.person_types ^ b.person_types)
        for code in codes:
            for pid in state.persons_by_type.of(code):
                state.add_person_dependants(pid, roots)
    if a.owner_licence != b.owner_licence:  # R10: OWNER contracts and property owners
        for c in state.contracts.values():
            if c.contract_type == "OWNER":
                roots.add(UnitRoot(c.unit_id))
                roots.update(PersonRoot(pid) for pid in state.persons_of_contract(c.contract_id))
        roots.update(PersonRoot(o.person_id) for o in state.property_owners.values())
    if a.caretaker_licence != b.caretaker_licence:
        roots.update(PersonRoot(c.person_id) for c in state.caretakers.values())
    if a.staff_role != b.staff_role:  # R12
        roots.update(StaffRoot(u.user_id) for u in state.staff_users.values())
    if (a.document_types, a.document_types_unfiltered) != (b.document_types, b.document_types_unfiltered):  # R16
        codes = set(state.documents_by_type) if a.document_types is None or b.document_types is None \
            else set(a.document_types ^ b.document_types)
        codes |= a.document_types_unfiltered ^ b.document_types_unfiltered
        for code in codes:
            roots.update(DocumentRoot(d) for d in state.documents_by_type.of(code))
        if a.document_types is None or b.document_types is None:  # documents without a type too
            roots.update(DocumentRoot(d.document_id) for d in state.documents.values() if not d.document_type_code)
    if a.ticket_full_history != b.ticket_full_history:  # R17: the properties whose filter changed
        changed = a.ticket_full_history ^ b.ticket_full_history
        for p in state.properties.values():
            if (p.mandant_no, p.property_no) in changed or (None, p.property_no) in changed:
                roots.update(TicketRoot(t) for t in state.tickets_by_property.of(p.property_id))
    if a.ticket_teams != b.ticket_teams:  # R17 team filter
        teams = set(state.tickets_by_team) if a.ticket_teams is None or b.ticket_teams is None \
            else set(a.ticket_teams ^ b.ticket_teams)
        for team in teams:
            roots.update(TicketRoot(t) for t in state.tickets_by_team.of(team))
    if a.erp_user != b.erp_user:  # R18: the author of posts of tickets without a responsible user
        roots.update(TicketRoot(t.ticket_id) for t in state.tickets.values())
    return roots
