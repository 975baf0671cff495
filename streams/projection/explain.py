"""Why is this entity (not) in the portal? The rule decisions behind one casavi entity.

``explain(state, config, today, entity, key)`` finds the ERP rows that ``key`` names (an ERP
number or a casavi reference id) and returns, per match, the checks the rules make in their
order up to the one that decides, and the verdict. The verdict is the projection's own:
the entity is included when ``project_root`` of its root produces its slot, and the reason of
an exclusion is the one the projection puts on the delete (``Rules``); the decisions
explain it with the dates, numbers and settings involved. Pure: no Kafka, no clock.

Decisions name rules, ERP numbers, dates, codes and settings: never a name, an e-mail
address or any other personal data (a person is named by their person number).

``with_history`` adds what the bridge did with each slot (last command, casavi's receipt,
dead letters); those facts come from Kafka and are read by ``streams.ops.explain``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date, timedelta
from typing import Literal

from pydantic import BaseModel, Field

from streams.erp.rows import ContractRow, PersonRow, PropertyRow, StaffUserRow, UnitRow
from streams.projection import ids, rules as R
from streams.projection.model import slot_key
from streams.projection.project import project_with
from streams.projection.roots import PersonRoot, PropertyRoot, Root, StaffRoot, UnitRoot
from streams.projection.rules import ProjectionConfig, Rules
from streams.projection.state import ErpState
from streams.settings import SyncSettings

ExplainedEntity = Literal["property", "unit", "contract", "contact", "staff"]
ENTITIES: tuple[ExplainedEntity, ...] = ("property", "unit", "contract", "contact", "staff")
MAX_MATCHES = 50


class Decision(BaseModel):
    rule: str  # "R07"
    passed: bool
    text: str  # "tenant party without e-mail" (no personal data)

    def line(self) -> str:
        return f"{self.rule}: {self.text}"


class CommandSeen(BaseModel):
    op: str
    content_hash: str = ""
    emitted_at_ms: int = 0
    source_ts_ms: int | None = None
    topic: str = ""
    partition: int = 0
    offset: int = 0


class ReceiptSeen(BaseModel):
    status: str
    op: str
    content_hash: str = ""
    error_code: str = ""
    at_ms: int = 0
    matches_last_command: bool | None = None  # the receipt is about the last command (same content hash)


class LetterSeen(BaseModel):
    stage: str
    error_code: str = ""
    reason: str
    at_ms: int = 0
    topic: str = ""
    partition: int = -1
    offset: int = -1


class SlotHistory(BaseModel):
    slot: str
    last_command: CommandSeen | None = None
    receipt: ReceiptSeen | None = None
    dead_letters: list[LetterSeen] = Field(default_factory=list)


class Match(BaseModel):
    entity: ExplainedEntity
    reference_id: str | None  # None: no casavi id can be made (its property is missing)
    erp: dict[str, str | int]  # table, id and number of the ERP row
    included: bool
    reason: str | None = None  # the projection's reason for leaving it out
    decisions: list[Decision]
    history: SlotHistory | None = None

    @property
    def slot(self) -> str | None:
        return None if self.reference_id is None else slot_key(self.entity, self.reference_id)


class Explanation(BaseModel):
    entity: ExplainedEntity
    query: str
    today: date
    matches: list[Match]
    truncated: bool = False  # more than MAX_MATCHES rows carry this number


def explain(state: ErpState, config: SyncSettings | ProjectionConfig, today: date, entity: ExplainedEntity,
            key: str) -> Explanation:
    """The decisions for every ERP row of ``entity`` whose number or reference id is ``key``."""
    rules = Rules(state, config, today)
    key = key.strip()
    found = list(_find(rules, entity, key))
    matches = [_explain(rules, entity, row) for row in found[:MAX_MATCHES]]
    return Explanation(entity=entity, query=key, today=today, matches=matches, truncated=len(found) > MAX_MATCHES)


def with_history(explanation: Explanation, histories: dict[str, SlotHistory]) -> Explanation:
    """``explanation`` with the history of each match's slot (``streams.ops.explain`` reads them)."""
    matches = [m.model_copy(update={"history": histories.get(m.slot) if m.slot else None})
               for m in explanation.matches]
    return explanation.model_copy(update={"matches": matches})


# --- finding the rows --------------------------------------------------------------------

Row = PropertyRow | UnitRow | ContractRow | PersonRow | StaffUserRow


def _find(rules: Rules, entity: ExplainedEntity, key: str) -> Iterator[Row]:
    st = rules.state
    if entity == "property":
        yield from (p for p in sorted(st.properties.values(), key=lambda p: p.property_id)
                    if key in (p.property_no, rules.property_ref(p)))
    elif entity == "unit":
        for u in sorted(st.units.values(), key=lambda u: u.unit_id):
            p = st.property(u.property_id)
            if key == u.unit_no or (p is not None and key == rules.unit_ref(u, p)):
                yield u
    elif entity == "contract":
        for c in sorted(st.contracts.values(), key=lambda c: c.contract_id):
            ref = _contract_ref(rules, c)
            if key in (c.contract_no, ref):
                yield c
    elif entity == "contact":
        yield from (p for p in sorted(st.persons.values(), key=lambda p: p.person_id) if p.person_no == key)
    else:
        yield from (u for u in sorted(st.staff_users.values(), key=lambda u: u.user_id) if (u.user_no or "").strip() == key)


def _unit_ref(rules: Rules, u: UnitRow) -> str | None:
    p = rules.state.property(u.property_id)
    return None if p is None else rules.unit_ref(u, p)


def _contract_ref(rules: Rules, c: ContractRow) -> str | None:
    u = rules.state.unit(c.unit_id)
    uref = None if u is None else _unit_ref(rules, u)
    return None if uref is None else ids.contract_ref(uref, c.contract_no, rules.sep)


# --- the verdict: the projection itself ----------------------------------------------------

def _verdict(rules: Rules, root: Root, slot: str | None) -> tuple[bool, str | None]:
    excluded: dict[str, str] = {}
    out = project_with(rules, root, excluded)
    if slot is not None and slot in out:
        return True, None
    return False, excluded.get(slot, R.GONE) if slot is not None else R.PROPERTY_UNKNOWN


def _explain(rules: Rules, entity: ExplainedEntity, row: Row) -> Match:
    if isinstance(row, PropertyRow):
        ref: str | None = rules.property_ref(row)
        root: Root = PropertyRoot(row.property_id)
        decisions = list(_property_decisions(rules, row))
        erp: dict[str, str | int] = {"table": "property", "property_id": row.property_id,
                                     "mandant_no": row.mandant_no, "property_no": row.property_no}
    elif isinstance(row, UnitRow):
        ref, root = _unit_ref(rules, row), UnitRoot(row.unit_id)
        decisions = list(_unit_decisions(rules, row))
        erp = {"table": "unit", "unit_id": row.unit_id, "unit_no": row.unit_no}
    elif isinstance(row, ContractRow):
        ref, root = _contract_ref(rules, row), UnitRoot(row.unit_id)
        decisions = list(_contract_decisions(rules, row))
        erp = {"table": "contract", "contract_id": row.contract_id, "contract_no": row.contract_no}
    elif isinstance(row, PersonRow):
        ref, root = ids.contact_ref(row.person_no), PersonRoot(row.person_id)
        decisions = list(_person_decisions(rules, row))
        erp = {"table": "person", "person_id": row.person_id, "person_no": row.person_no}
    else:
        number = (row.user_no or "").strip()
        ref, root = (ids.staff_ref(number) if number else None), StaffRoot(row.user_id)
        decisions = list(_staff_decisions(rules, row))
        erp = {"table": "staff_user", "user_id": row.user_id, "user_no": number}
    included, reason = _verdict(rules, root, None if ref is None else slot_key(entity, ref))
    return Match(entity=entity, reference_id=ref, erp=erp, included=included, reason=reason, decisions=decisions)


# --- the decisions, in the order the rules make them ----------------------------------------

def _d(rule: str, passed: bool, text: str) -> Decision:
    return Decision(rule=rule, passed=passed, text=text)


def _until_failed(decisions: Iterable[Decision]) -> Iterator[Decision]:
    for d in decisions:
        yield d
        if not d.passed:
            return


def _property_decisions(rules: Rules, p: PropertyRow) -> Iterator[Decision]:
    return _until_failed(_property_checks(rules, p))


def _property_checks(rules: Rules, p: PropertyRow) -> Iterator[Decision]:
    cfg, today = rules.cfg, rules.today
    known = rules.state.mandant(p.mandant_no) is not None
    yield _d("R02", known, f"Mandant {p.mandant_no} known" if known else f"Mandant row {p.mandant_no} missing")
    if cfg.mandanten is None:
        yield _d("R02", True, "every Mandant selected (BRIDGE_SYNC__MANDANTEN unset)")
    else:
        selected = p.mandant_no in cfg.mandanten
        yield _d("R02", selected, f"Mandant {p.mandant_no} {'selected' if selected else 'not selected'} "
                                  f"(BRIDGE_SYNC__MANDANTEN {','.join(map(str, sorted(cfg.mandanten)))})")
    if cfg.properties is None:
        yield _d("R01", True, "every property selected (BRIDGE_SYNC__PROPERTIES unset)")
    else:
        chosen = (p.mandant_no, p.property_no) in cfg.properties or (None, p.property_no) in cfg.properties
        yield _d("R01", chosen, f"property {p.mandant_no}:{p.property_no} "
                                f"{'in' if chosen else 'not in'} the property selection (BRIDGE_SYNC__PROPERTIES)")
    end = p.management_end
    if end is None:
        yield _d("R01", True, "management has no end")
    elif end < today:
        yield _d("R01", False, f"management ended {end}")
    else:
        yield _d("R01", True, f"management ends {end}")


def _unit_decisions(rules: Rules, u: UnitRow) -> Iterator[Decision]:
    return _until_failed(_unit_checks(rules, u))


def _unit_checks(rules: Rules, u: UnitRow) -> Iterator[Decision]:
    p = rules.state.property(u.property_id)
    if p is None:
        yield _d("R13", False, f"property row {u.property_id} missing")
        return
    yield _d("R04", not u.is_phantom, "phantom unit: never synced" if u.is_phantom else "not a phantom unit")
    if u.valid_to is None:
        yield _d("R13", True, "unit has no end")
    else:
        yield _d("R13", u.valid_to >= rules.today,
                 f"unit {'ended' if u.valid_to < rules.today else 'ends'} {u.valid_to}")
    reason = rules.property_reason(p)
    pref = rules.property_ref(p)
    yield _d("R01", reason is None, f"property {pref} synced" if reason is None else
             f"property {pref} not synced ({reason})")


def _validity(rules: Rules, c: ContractRow) -> Decision:
    cfg, today = rules.cfg, rules.today
    before, after = cfg.portal_days_before_start, cfg.delete_after_days
    if c.start_date is not None and c.start_date - timedelta(days=before) > today:
        portal = c.start_date - timedelta(days=before)
        return _d("R09", False, f"contract starts {c.start_date}, portal access from {portal}")
    if c.end_date is not None and c.end_date + timedelta(days=after) < today:
        return _d("R09", False, f"contract ended {c.end_date}, grace until {c.end_date + timedelta(days=after)}")
    start = f"from {c.start_date}" if c.start_date else "without start"
    end = (f"until {c.end_date}, grace until {c.end_date + timedelta(days=after)}" if c.end_date
           else "without end")
    return _d("R09", True, f"contract valid {start} {end}")


def _contract_decisions(rules: Rules, c: ContractRow) -> Iterator[Decision]:
    return _until_failed(_contract_checks(rules, c))


def _contract_checks(rules: Rules, c: ContractRow) -> Iterator[Decision]:
    st = rules.state
    if c.contract_type == "OWNER":
        yield _d("R10", rules.cfg.owner_licence, "OWNER contract, owner licence "
                 + ("on" if rules.cfg.owner_licence else "off (BRIDGE_SYNC__OWNER_LICENCE)"))
    yield _validity(rules, c)
    main = st.person(c.person_id)
    if main is None:
        yield _d("R05", False, f"main party (person row {c.person_id}) missing")
        return
    yield _d("R05", True, f"main party: person {main.person_no}")
    yield _d("R11", not main.is_anonymized, "main party anonymized" if main.is_anonymized
             else "main party not anonymized")
    yield _type_decision(rules, main, "main party's")
    if c.contract_type == "TENANT":
        yield _d("R07", main.has_email, "main tenant has an e-mail address" if main.has_email
                 else "tenant party without e-mail")
    u = st.unit(c.unit_id)
    if u is None:
        yield _d("R13", False, f"unit row {c.unit_id} missing")
        return
    reason, _ = rules.unit_reason(u)
    uref = _unit_ref(rules, u) or f"row {u.unit_id}"
    yield _d(_rule_of(reason) if reason else "R13", reason is None,
             f"unit {uref} synced" if reason is None else f"unit {uref} not synced ({reason})")


def _type_decision(rules: Rules, p: PersonRow, whose: str) -> Decision:
    types = rules.cfg.person_types
    code = p.person_type_code or "none"
    if types is None:
        return _d("R06", True, f"{whose} person type {code}: every type enabled (BRIDGE_SYNC__PERSON_TYPES unset)")
    enabled = rules.type_enabled(p)
    return _d("R06", enabled, f"{whose} person type {code} {'enabled' if enabled else 'not enabled'} "
                              f"(BRIDGE_SYNC__PERSON_TYPES {','.join(sorted(types))})")


def _person_decisions(rules: Rules, p: PersonRow) -> Iterator[Decision]:
    st, cfg = rules.state, rules.cfg
    yield _d("R11", not p.is_anonymized, "person anonymized" if p.is_anonymized else "person not anonymized")
    if p.is_anonymized:
        return
    kind = _type_decision(rules, p, "the")
    yield kind
    if not kind.passed:
        return
    named = False
    for cid in sorted(st.contracts_by_person.of(p.person_id)):
        c = st.contract(cid)
        if c is None:
            continue
        reason = rules.contract_reason(c)
        ref = _contract_ref(rules, c) or f"contract {c.contract_no}"
        yield _d("R05", reason is None, f"main party of contract {ref}" + ("" if reason is None else
                                                                             f", which is not synced ({reason})"))
        named = named or reason is None
    for cid in sorted(st.parties_by_person.of(p.person_id)):
        c, party = st.contract(cid), st.contract_party(cid, p.person_id)
        if c is None or party is None or c.person_id == p.person_id:
            continue
        ref = _contract_ref(rules, c) or f"contract {c.contract_no}"
        reason = rules.contract_reason(c)
        if reason is not None:
            yield _d("R05", False, f"{party.role} on contract {ref}, which is not synced ({reason})")
            continue
        own = rules.party_reason(c, p, party.role)
        rule = "R05" if own is None else _rule_of(own)
        text = "tenant party without e-mail" if own == R.TENANT_WITHOUT_EMAIL else own
        yield _d(rule, own is None, f"{party.role} on contract {ref}" + ("" if own is None else f": {text}"))
        named = named or own is None
    for licence, index, what, setting in (
            (cfg.owner_licence, st.owned_by_person, "owner", "BRIDGE_SYNC__OWNER_LICENCE"),
            (cfg.caretaker_licence, st.caretaken_by_person, "caretaker", "BRIDGE_SYNC__CARETAKER_LICENCE")):
        for prop_id in sorted(index.of(p.person_id)):
            prop = st.property(prop_id)
            if prop is None:
                continue
            preason = rules.property_reason(prop)
            pref = rules.property_ref(prop)
            if preason is not None:
                yield _d("R10", False, f"{what} of property {pref}, which is not synced ({preason})")
            else:
                yield _d("R10", licence, f"{what} of property {pref}, {what} licence "
                                         + ("on" if licence else f"off ({setting})"))
                named = named or licence
    if not named and not any(True for _ in _links(st, p.person_id)):
        yield _d("R05", False, "no contract, property ownership or caretaking names this person")
    if rules.person_reason(p) is None and p.email_key is not None:
        carries = rules.portal_email(p) is not None
        peers = sorted(q.person_no for q in (st.person(i) for i in st.persons_by_email.of(p.email_key))
                       if q is not None and q.person_id != p.person_id)
        if peers:
            owner = rules.email_owner(p.email_key)
            holder = st.person(owner) if owner is not None else None
            yield _d("R08", True, f"shares its e-mail address with person {', '.join(peers)}: "
                     + ("carries it (lowest synced person number)" if carries else
                        f"synced without it (person {holder.person_no if holder else '?'} carries it)"))


def _links(st: ErpState, person_id: int) -> Iterator[int]:
    yield from st.contracts_by_person.of(person_id)
    yield from st.parties_by_person.of(person_id)
    yield from st.owned_by_person.of(person_id)
    yield from st.caretaken_by_person.of(person_id)


def _staff_decisions(rules: Rules, u: StaffUserRow) -> Iterator[Decision]:
    return _until_failed(_staff_checks(u))


def _staff_checks(u: StaffUserRow) -> Iterator[Decision]:
    yield _d("R12", u.active is not False, "user inactive" if u.active is False else "user active")
    number = bool(u.user_no and u.user_no.strip())
    yield _d("R12", number, "user has a user number" if number else "user without user number")
    yield _d("R12", u.has_name, "user has first and last name" if u.has_name else "user without first or last name")


def _rule_of(reason: str) -> str:
    return reason.split(" ", 1)[0]
