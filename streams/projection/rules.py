"""The sync rules as predicates and document builders over ``ErpState``.

Every predicate returns ``None`` when the entity is synced, otherwise a short reason
naming the rule (``"R09 contract ended"``). Reasons never contain personal data; they
end up on delete commands and in logs.

Decisions (see ``docs/projection.md``):

* A property is synced when its Mandant row exists and is selected (R02), it is in the
  property selection (R01: ``<mandant>:<number>``, or a bare number in every selected
  Mandant; unset = all) and ``management_end`` is not before ``today`` (the end day itself
  still counts). ``management_start`` does not matter.
* A unit is synced when its property is synced, it is not phantom (R04) and
  ``valid_to`` is not before ``today`` (a unit end is a delete, R13/R14).
* A contract is synced when its unit is synced, an OWNER contract only with the owner
  licence (R10), it is valid under R09 (``start_date - portal_days_before_start <= today
  <= end_date + delete_after_days``, open ends open), its main party row exists, is not
  anonymized (R11), is of an enabled person type (R06) and — for a TENANT contract — has
  an e-mail address (R07). The contract's own ``property_id`` is informational.
* A contract names its main party and each party that is not anonymized, of an enabled
  type and — for a co-tenant or partner of a TENANT contract — has an e-mail (R07;
  residents need none).
* A person is synced when they exist, are not anonymized (R11), are of an enabled type
  (R06) and are named by a synced contract (R05), or own (owner licence) or take care of
  (caretaker licence) a synced property (R10). Of the synced persons sharing an e-mail
  address, only the one with the lowest person number carries it (R08).
* A staff user is synced unless inactive or without a user number (R12); a property's
  responsibilities name the synced staff users with rights on it or in its team.
* A document is synced when its property is synced, it is released, its type is selected
  (the time filter: created on or after 1 January of the previous calendar year, unless its
  type is configured without it), it has content, and what it is shared with — the person,
  else the contract, else the unit the row names, else the property — is synced (R16).
  Content over casavi's limit is rejected (a dead letter), never cut.
* A ticket is synced when its property is synced, it was not created in the portal (casavi
  has it), its type is known and not ``BLOCKED`` (R18), its status is known and open (not
  ``DONE``, not ``CANCELLED``), it has a number, it was reported on or after 1 January of the
  previous calendar year unless its property has the full ticket history, and it belongs to
  an enabled team or to none (R17). A ``PINBOARD`` ticket is a post on its property's
  pinboard, without status (R18); the others are casavi tickets, ``PROPERTY`` shared with the
  property, ``STANDARD`` with the reporter. A ticket's notes that are not internal are its
  comments (R19); its released documents its attachments.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from streams.casavi.import_contract import MAX_CONTENT_BYTES
from streams.casavi.models import (
    CONTENT_REF,
    Address,
    Attachment,
    BankAccount,
    Comment,
    Contact,
    ContentRef,
    Contract,
    ContractParty,
    Document,
    Post,
    Property,
    Responsibility,
    Staff,
    StaffRole,
    Ticket,
    TicketStatus,
    Unit,
)
from streams.erp.rows import (
    BuildingRow,
    ContractRow,
    DocumentRow,
    PersonRow,
    PropertyRow,
    StaffUserRow,
    TicketNoteRow,
    TicketRow,
    TicketTypeRow,
    UnitRow,
)
from streams.projection import ids
from streams.projection.state import ErpState
from streams.settings import PROPERTY_MANDANT_MARK, SyncSettings

# --- reasons ---------------------------------------------------------------------------

MANDANT_UNKNOWN = "R02 Mandant row missing"
MANDANT_NOT_SELECTED = "R02 Mandant not selected"
PROPERTY_NOT_SELECTED = "R01 property not selected"
PROPERTY_ENDED = "R01 property management ended"
PROPERTY_UNKNOWN = "R13 property missing"
PROPERTY_NOT_SYNCED = "R01 property not synced"
PHANTOM_UNIT = "R04 phantom unit"
UNIT_ENDED = "R13 unit ended"
UNIT_NOT_SYNCED = "R13 unit not synced"
UNIT_UNKNOWN = "R13 unit missing"
CONTRACT_NOT_STARTED = "R09 contract not yet valid"
CONTRACT_ENDED = "R09 contract ended"
OWNER_LICENCE_OFF = "R10 owner licence off"
CARETAKER_LICENCE_OFF = "R10 caretaker licence off"
MAIN_PARTY_UNKNOWN = "R05 main party missing"
MAIN_PARTY_ANONYMIZED = "R11 main party anonymized"
MAIN_PARTY_TYPE_DISABLED = "R06 main party's person type not enabled"
TENANT_WITHOUT_EMAIL = "R07 tenant without e-mail"
PERSON_ANONYMIZED = "R11 person anonymized"
PERSON_TYPE_DISABLED = "R06 person type not enabled"
NO_VALID_CONTRACT = "R05 no synced valid contract"
STAFF_INACTIVE = "R12 staff user inactive"
STAFF_WITHOUT_NUMBER = "R12 staff user without number"
STAFF_WITHOUT_NAME = "R12 staff user without first or last name"
NOT_RESPONSIBLE = "R12 no rights on the property"
DOCUMENT_NOT_RELEASED = "R16 document not released"
DOCUMENT_TYPE_NOT_SELECTED = "R16 document type not selected"
DOCUMENT_TOO_OLD = "R16 document older than the time filter"
DOCUMENT_WITHOUT_CONTENT = "R16 document without content"
DOCUMENT_TOO_LARGE = "R16 document content over casavi's size limit"
DOCUMENT_SHARE_NOT_SYNCED = "R16 what the document is shared with is not synced"
TICKET_FROM_PORTAL = "R17 ticket created in the portal"
TICKET_TYPE_UNKNOWN = "R18 ticket type unknown"
TICKET_TYPE_BLOCKED = "R18 ticket type blocked"
TICKET_STATUS_UNKNOWN = "R17 ticket status unknown"
TICKET_DONE = "R17 ticket done"
TICKET_CANCELLED = "R17 ticket cancelled"
TICKET_WITHOUT_NUMBER = "R17 ticket without number"
TICKET_TOO_OLD = "R17 ticket older than the time filter"
TICKET_TEAM_NOT_ENABLED = "R17 ticket of a team not enabled"
TICKET_IS_POST = "R18 pinboard notice: a post, not a ticket"
TICKET_NOT_POST = "R18 not a pinboard notice"
POST_WITHOUT_AUTHOR = "R18 pinboard post without an author"
NOTE_INTERNAL = "R19 internal note"
NOTE_WITHOUT_TEXT = "R19 note without text"
NOTE_OF_POST = "R18 a pinboard post has no comments"
ATTACHMENT_NOT_RELEASED = "R17 ticket document not released"
ATTACHMENT_WITHOUT_CONTENT = "R17 ticket document without content"
ATTACHMENT_TOO_LARGE = "R17 ticket document over casavi's size limit"
GONE = "R13 no longer in projection"

# R17: the ERP's kind of status -> casavi's ticket status (DONE and CANCELLED are not synced)
TICKET_STATUS: dict[str, TicketStatus] = {"OPEN": "OPEN", "IN_PROGRESS": "INPROGRESS", "POSTPONED": "POSTPONED"}

# Parties of a TENANT contract who are tenants themselves and so need an e-mail (R07); a
# RESIDENT (Mitbewohner) lives there without being a party to the lease.
TENANT_PARTY_ROLES = frozenset({"CO_TENANT", "PARTNER"})

PropertySelection = frozenset[tuple[int | None, str]]


def property_selection(entries: list[str]) -> PropertySelection:
    """``"7:1000"`` -> ``(7, "1000")``; a bare ``"1000"`` -> ``(None, "1000")`` (any Mandant)."""
    out: set[tuple[int | None, str]] = set()
    for entry in entries:
        mandant, mark, number = str(entry).rpartition(PROPERTY_MANDANT_MARK)
        out.add((int(mandant), number.strip()) if mark else (None, number.strip()))
    return frozenset(out)


@dataclass(frozen=True, slots=True)
class ProjectionConfig:
    """``SyncSettings`` prepared for fast lookups (sets instead of lists)."""

    mandanten: frozenset[int] | None
    properties: PropertySelection | None
    sep: str
    portal_days_before_start: int
    delete_after_days: int
    person_types: frozenset[str] | None
    owner_licence: bool
    caretaker_licence: bool
    staff_role: StaffRole
    document_types: frozenset[str] | None
    document_types_unfiltered: frozenset[str]
    ticket_full_history: PropertySelection
    ticket_teams: frozenset[int] | None
    erp_user: str | None

    @classmethod
    def of(cls, config: SyncSettings | ProjectionConfig) -> ProjectionConfig:
        if isinstance(config, ProjectionConfig):
            return config
        fingerprint = config.fingerprint()  # the whole selection: an in-place edit is a new config
        cached = _CACHE.get(fingerprint)
        if cached is not None:
            return cached
        pc = cls(
            mandanten=None if config.mandanten is None else frozenset(config.mandanten),
            properties=None if config.properties is None else property_selection(config.properties),
            sep=config.id_separator,
            portal_days_before_start=config.portal_days_before_start,
            delete_after_days=config.delete_after_days,
            person_types=None if config.person_types is None else frozenset(config.person_types),
            owner_licence=config.owner_licence,
            caretaker_licence=config.caretaker_licence,
            staff_role=config.staff_role,
            document_types=None if config.document_types is None else frozenset(config.document_types),
            document_types_unfiltered=frozenset(config.document_types_without_time_filter),
            ticket_full_history=property_selection(config.ticket_full_history),
            ticket_teams=None if config.ticket_teams is None else frozenset(config.ticket_teams),
            erp_user=config.erp_user.strip() if config.erp_user and config.erp_user.strip() else None,
        )
        _CACHE.clear()
        _CACHE[fingerprint] = pc
        return pc


_CACHE: dict[str, ProjectionConfig] = {}


def dec_str(v: Decimal | None) -> str | None:
    """A decimal as casavi's string: plain notation, never an exponent."""
    return None if v is None else format(v, "f")


def person_no_order(person_no: str) -> tuple[int, int, str]:
    """R08's "lowest person number": numeric numbers by value (``99`` before ``100``), before
    any number with other characters, which compare as text."""
    digits = person_no.strip()
    return (0, int(digits), digits) if digits.isdigit() else (1, 0, digits)


@dataclass(frozen=True, slots=True)
class Rejection:
    """An entity the projection wants in casavi that casavi cannot take (content over its
    size limit, R16): not sent, reported as a dead letter. Names no personal data."""

    entity: str
    reference_id: str
    root: str
    fingerprint: str  # what was rejected (the content's digest): the same rejection is reported once
    reason: str


def time_filter_start(today: date) -> date:
    """R16/R17: 1 January of the previous calendar year."""
    return date(today.year - 1, 1, 1)


class Rules:
    """The rules evaluated against one state, configuration and day."""

    __slots__ = ("state", "cfg", "today", "sep", "_start_limit", "_end_limit", "_email_owner", "_since",
                 "rejections")

    def __init__(self, state: ErpState, config: SyncSettings | ProjectionConfig, today: date) -> None:
        self.state = state
        self.cfg = ProjectionConfig.of(config)
        self.today = today
        self.sep = self.cfg.sep
        # R09: valid iff start - before <= today <= end + after
        self._start_limit = today + timedelta(days=self.cfg.portal_days_before_start)
        self._end_limit = today - timedelta(days=self.cfg.delete_after_days)
        self._email_owner: dict[str, int | None] = {}  # R08, per e-mail key: who carries it
        self._since = time_filter_start(today)  # R16/R17
        self.rejections: list[Rejection] = []  # filled while projecting (R16 size limit)

    # --- ids ------------------------------------------------------------------------------

    def property_ref(self, p: PropertyRow) -> str:
        return ids.property_ref(p.mandant_no, p.property_no, self.sep)

    def unit_ref(self, u: UnitRow, p: PropertyRow) -> str:
        return ids.unit_ref(self.property_ref(p), u.unit_no, self.sep)

    # --- predicates -----------------------------------------------------------------------

    def property_reason(self, p: PropertyRow) -> str | None:
        """R01/R02."""
        cfg = self.cfg
        if self.state.mandant(p.mandant_no) is None:
            return MANDANT_UNKNOWN
        if cfg.mandanten is not None and p.mandant_no not in cfg.mandanten:
            return MANDANT_NOT_SELECTED
        if cfg.properties is not None and (p.mandant_no, p.property_no) not in cfg.properties \
                and (None, p.property_no) not in cfg.properties:
            return PROPERTY_NOT_SELECTED
        if p.management_end is not None and p.management_end < self.today:
            return PROPERTY_ENDED
        return None

    def unit_reason(self, u: UnitRow) -> tuple[str | None, PropertyRow | None]:
        """R01 (through the property), R04, R13 unit end. Returns (reason, property row)."""
        p = self.state.property(u.property_id)
        if p is None:
            return PROPERTY_UNKNOWN, None
        if u.is_phantom:
            return PHANTOM_UNIT, p
        if u.valid_to is not None and u.valid_to < self.today:
            return UNIT_ENDED, p
        if self.property_reason(p) is not None:
            return PROPERTY_NOT_SYNCED, p
        return None, p

    def contract_validity_reason(self, c: ContractRow) -> str | None:
        """R09 alone."""
        if c.start_date is not None and c.start_date > self._start_limit:
            return CONTRACT_NOT_STARTED
        if c.end_date is not None and c.end_date < self._end_limit:
            return CONTRACT_ENDED
        return None

    def type_enabled(self, p: PersonRow) -> bool:
        """R06: the person's type is enabled (no configuration: every type, none included)."""
        return self.cfg.person_types is None or p.type_key in self.cfg.person_types

    def contract_own_reason(self, c: ContractRow) -> str | None:
        """Everything about a contract except its unit: R10, R09, R05 main party, R11, R06, R07."""
        if c.contract_type == "OWNER" and not self.cfg.owner_licence:
            return OWNER_LICENCE_OFF
        r = self.contract_validity_reason(c)
        if r is not None:
            return r
        main = self.state.person(c.person_id)
        if main is None:
            return MAIN_PARTY_UNKNOWN
        if main.is_anonymized:
            return MAIN_PARTY_ANONYMIZED
        if not self.type_enabled(main):
            return MAIN_PARTY_TYPE_DISABLED
        if c.contract_type == "TENANT" and not main.has_email:
            return TENANT_WITHOUT_EMAIL
        return None

    def contract_reason(self, c: ContractRow) -> str | None:
        """Whether a contract is synced, its unit included."""
        r = self.contract_own_reason(c)
        if r is not None:
            return r
        u = self.state.unit(c.unit_id)
        if u is None:
            return UNIT_UNKNOWN
        if self.unit_reason(u)[0] is not None:
            return UNIT_NOT_SYNCED
        return None

    def party_reason(self, c: ContractRow, person: PersonRow, role: str) -> str | None:
        """Whether a contract party other than the main party is named on the contract
        (R11, R06, and R07 for co-tenants and partners of a TENANT contract)."""
        if person.is_anonymized:
            return PERSON_ANONYMIZED
        if not self.type_enabled(person):
            return PERSON_TYPE_DISABLED
        if c.contract_type == "TENANT" and role in TENANT_PARTY_ROLES and not person.has_email:
            return TENANT_WITHOUT_EMAIL
        return None

    def person_reason(self, p: PersonRow) -> str | None:
        """R05/R06/R07/R09/R10/R11: synced through a synced contract naming them, or a synced
        property they own or take care of."""
        if p.is_anonymized:
            return PERSON_ANONYMIZED
        if not self.type_enabled(p):
            return PERSON_TYPE_DISABLED
        st, cfg = self.state, self.cfg
        pid = p.person_id
        reason = NO_VALID_CONTRACT
        for cid in st.contracts_by_person.of(pid):
            c = st.contract(cid)
            if c is not None and self.contract_reason(c) is None:
                return None
        for cid in st.parties_by_person.of(pid):
            c = st.contract(cid)
            party = st.contract_party(cid, pid)
            if c is None or party is None or c.person_id == pid or self.contract_reason(c) is not None:
                continue
            party_reason = self.party_reason(c, p, party.role)
            if party_reason is None:
                return None
            reason = party_reason
        for licence, properties, off in ((cfg.owner_licence, st.owned_by_person, OWNER_LICENCE_OFF),
                                         (cfg.caretaker_licence, st.caretaken_by_person, CARETAKER_LICENCE_OFF)):
            for prop_id in properties.of(pid):
                prop = st.property(prop_id)
                if prop is None or self.property_reason(prop) is not None:
                    continue
                if licence:
                    return None
                if reason == NO_VALID_CONTRACT:
                    reason = off
        return reason

    def portal_email(self, p: PersonRow) -> str | None:
        """R08: the e-mail address, if this synced person carries it — of the synced persons
        sharing an address, the one with the lowest person number does."""
        key = p.email_key
        if key is None:
            return None
        if sum(1 for _ in self.state.persons_by_email.of(key)) > 1:
            if key not in self._email_owner:
                self._email_owner[key] = self.email_owner(key)
            if self._email_owner[key] != p.person_id:
                return None
        return p.email_address

    def email_owner(self, key: str) -> int | None:
        """R08: the synced person with the lowest number among those with this address."""
        st = self.state
        peers = [q for q in (st.person(pid) for pid in st.persons_by_email.of(key)) if q is not None]
        for q in sorted(peers, key=lambda q: (person_no_order(q.person_no), q.person_id)):
            if self.person_reason(q) is None:
                return q.person_id
        return None

    def staff_reason(self, u: StaffUserRow) -> str | None:
        """R12: active users with a user number and a name (casavi requires both names)."""
        if u.active is False:
            return STAFF_INACTIVE
        if not (u.user_no and u.user_no.strip()):
            return STAFF_WITHOUT_NUMBER
        if not u.has_name:
            return STAFF_WITHOUT_NAME
        return None

    def document_reason(self, d: DocumentRow) -> tuple[str | None, PropertyRow | None]:
        """R01 (through the property), R16 release, type, time filter and content. Returns
        (reason, property row). What it is shared with is ``document_share``."""
        st, cfg = self.state, self.cfg
        p = st.property(d.property_id) if d.property_id is not None else None
        if p is None:
            return PROPERTY_UNKNOWN, None
        if self.property_reason(p) is not None:
            return PROPERTY_NOT_SYNCED, p
        if not d.released:
            return DOCUMENT_NOT_RELEASED, p
        code = d.document_type_code or ""
        if code not in cfg.document_types_unfiltered:
            if cfg.document_types is not None and code not in cfg.document_types:
                return DOCUMENT_TYPE_NOT_SELECTED, p
            if d.created_at is not None and d.created_at.date() < self._since:
                return DOCUMENT_TOO_OLD, p
        if d.content_sha256 is None:
            return DOCUMENT_WITHOUT_CONTENT, p
        return None, p

    def document_share(self, d: DocumentRow, p: PropertyRow) -> dict[str, str] | None:
        """R16 visibility as the ERP row says, most narrowly: the person, else the contract,
        else the unit, else the property. ``None`` when that one is not synced."""
        st = self.state
        if d.person_id is not None:
            person = st.person(d.person_id)
            ok = person is not None and self.person_reason(person) is None
            return {"contactId": ids.contact_ref(person.person_no)} if ok and person is not None else None
        if d.contract_id is not None:
            c = st.contract(d.contract_id)
            u = st.unit(c.unit_id) if c is not None else None
            if c is None or u is None or self.contract_reason(c) is not None:
                return None
            up = st.property(u.property_id)
            assert up is not None  # the contract is synced, so its unit's property is
            return {"contractId": ids.contract_ref(self.unit_ref(u, up), c.contract_no, self.sep)}
        if d.unit_id is not None:
            u = st.unit(d.unit_id)
            if u is None:
                return None
            reason, up = self.unit_reason(u)
            return {"unitId": self.unit_ref(u, up)} if reason is None and up is not None else None
        return {"propertyId": self.property_ref(p)}

    def document_document(self, d: DocumentRow, ref: str, share: dict[str, str]) -> dict[str, Any]:
        """The casavi document (R16): name, type or document class, creation date and a
        reference to the content (the sink puts the content in)."""
        assert d.content_sha256 is not None and d.content_size is not None  # document_reason
        dt = self.state.document_type(d.document_type_code) if d.document_type_code else None
        kind = (dt.document_class or dt.name) if dt is not None else None
        kind = kind or d.document_type_code
        doc = Document(id=ref, title=d.name or ref, name=d.name, type=[kind] if kind else [],
                       published_at=d.created_at, content_type=d.mime_type, shared_with=[share]).wire()
        for field in ("content", "location", "resource"):
            del doc[field]
        doc[CONTENT_REF] = ContentRef(key=f"document:{d.document_id}", sha256=d.content_sha256,
                                      size=d.content_size).wire()
        return doc

    def document_too_large(self, d: DocumentRow) -> bool:
        return (d.content_size or 0) > MAX_CONTENT_BYTES

    # --- tickets (R17–R19) ------------------------------------------------------------------------

    def ticket_reason(self, t: TicketRow) -> tuple[str | None, PropertyRow | None, TicketTypeRow | None]:
        """R01 (through the property), R17, R18. Returns (reason, property row, type row)."""
        st, cfg = self.state, self.cfg
        p = st.property(t.property_id) if t.property_id is not None else None
        if p is None:
            return PROPERTY_UNKNOWN, None, None
        if self.property_reason(p) is not None:
            return PROPERTY_NOT_SYNCED, p, None
        tt = st.ticket_type(t.ticket_type_code) if t.ticket_type_code else None
        if t.origin == "PORTAL":
            return TICKET_FROM_PORTAL, p, tt
        if tt is None or tt.portal_mode is None:
            return TICKET_TYPE_UNKNOWN, p, tt  # BLOCKED must never pass: unknown is not sent
        if tt.portal_mode == "BLOCKED":
            return TICKET_TYPE_BLOCKED, p, tt
        status = st.ticket_status(t.status_code) if t.status_code else None
        if status is None or status.status_kind is None:
            return TICKET_STATUS_UNKNOWN, p, tt
        if status.status_kind == "DONE":
            return TICKET_DONE, p, tt
        if status.status_kind == "CANCELLED":
            return TICKET_CANCELLED, p, tt
        if t.ticket_no is None:
            return TICKET_WITHOUT_NUMBER, p, tt
        full = (p.mandant_no, p.property_no) in cfg.ticket_full_history or (None, p.property_no) in cfg.ticket_full_history
        if not full and t.reported_at is not None and t.reported_at.date() < self._since:
            return TICKET_TOO_OLD, p, tt
        if cfg.ticket_teams is not None and t.responsible_team_id is not None \
                and t.responsible_team_id not in cfg.ticket_teams:
            return TICKET_TEAM_NOT_ENABLED, p, tt
        return None, p, tt

    def synced_staff_ref(self, user_id: int | None) -> str | None:
        """The staff reference id of a synced staff user (R12), else None."""
        u = self.state.staff_user(user_id) if user_id is not None else None
        if u is None or self.staff_reason(u) is not None:
            return None
        assert u.user_no is not None
        return ids.staff_ref(u.user_no.strip())

    def synced_contact_ref(self, person_id: int | None) -> str | None:
        p = self.state.person(person_id) if person_id is not None else None
        return ids.contact_ref(p.person_no) if p is not None and self.person_reason(p) is None else None

    def ticket_document(self, t: TicketRow, ref: str, p: PropertyRow, tt: TicketTypeRow) -> dict[str, Any]:
        """R17 fields; R18 sharing: ``PROPERTY`` with everyone in the property, ``STANDARD`` with the
        reporter. What casavi's ticket has no field for goes into ``customFields``."""
        st = self.state
        status = st.ticket_status(t.status_code) if t.status_code else None
        assert status is not None and status.status_kind in TICKET_STATUS  # ticket_reason
        unit_ref = None
        u = st.unit(t.unit_id) if t.unit_id is not None else None
        if u is not None:
            reason, up = self.unit_reason(u)
            if reason is None and up is not None and up.property_id == p.property_id:
                unit_ref = self.unit_ref(u, up)
        reporter = self.synced_contact_ref(t.reporter_person_id)
        team = st.team(t.responsible_team_id) if t.responsible_team_id is not None else None
        priority = st.ticket_priority(t.priority_code) if t.priority_code else None
        shared_with_property = tt.portal_mode == "PROPERTY"
        return Ticket(
            id=ref, number=t.ticket_no, title=self.ticket_title(t, tt), description=t.description, type=tt.name,
            property_id=self.property_ref(p), unit_id=unit_ref, status=TICKET_STATUS[status.status_kind],
            status_text=status.name, contact_id=reporter,
            shared_with_contacts=[reporter] if reporter is not None and not shared_with_property else [],
            shared_with_property=shared_with_property, assigned_to_id=self.synced_staff_ref(t.responsible_user_id),
            reported_at=t.reported_at,
            custom_fields={
                "hint1": t.hint1, "hint2": t.hint2, "trade": t.trade, "technicalObject": t.technical_object,
                "responsibleTeam": team.name if team is not None else None,
                "dueFrom": t.due_from.isoformat() if t.due_from else None,
                "dueTo": t.due_to.isoformat() if t.due_to else None,
                "priority": (priority.name or priority.priority_code) if priority is not None else None,
            },
        ).wire()

    @staticmethod
    def ticket_title(t: TicketRow, tt: TicketTypeRow) -> str:
        subject = (t.subject or "").strip()
        return subject or f"{tt.name or tt.ticket_type_code} {t.ticket_no}"

    def post_author(self, t: TicketRow) -> str | None:
        """R18: the responsible user, if synced as staff, else the configured ERP user."""
        return self.synced_staff_ref(t.responsible_user_id) or (
            ids.staff_ref(self.cfg.erp_user) if self.cfg.erp_user else None)

    def post_document(self, t: TicketRow, ref: str, p: PropertyRow, tt: TicketTypeRow, author: str) -> dict[str, Any]:
        """R18: a pinboard notice as a post of its property, without status."""
        title = self.ticket_title(t, tt)
        text = (t.description or "").strip() or title
        return Post(id=ref, title=title, text=text, author_id=author, property_id=self.property_ref(p),
                    allow_comments=False).wire()

    def note_reason(self, n: TicketNoteRow) -> str | None:
        """R19: internal notes never (a note not marked public counts as internal), nor empty ones."""
        if n.is_internal is not False:
            return NOTE_INTERNAL
        if not (n.content and n.content.strip()):
            return NOTE_WITHOUT_TEXT
        return None

    @staticmethod
    def comment_document(n: TicketNoteRow, ref: str) -> dict[str, Any]:
        """R19: the note as a comment; author and time head the text (casavi's comment has no
        fields for a name or a time; the account is named as its author)."""
        assert n.content is not None
        head = " · ".join(x for x in ((n.author or "").strip(),
                                      n.created_at.strftime("%d.%m.%Y %H:%M") if n.created_at else "") if x)
        text = f"**{head}**\n\n{n.content.strip()}" if head else n.content.strip()
        return Comment(id=ref, text=text, is_internal=False, fallback_to_account=True).wire()

    def attachment_reason(self, d: DocumentRow) -> str | None:
        if not d.released:
            return ATTACHMENT_NOT_RELEASED
        if d.content_sha256 is None:
            return ATTACHMENT_WITHOUT_CONTENT
        return None

    @staticmethod
    def attachment_document(d: DocumentRow, ref: str) -> dict[str, Any]:
        assert d.content_sha256 is not None and d.content_size is not None
        return Attachment(id=ref, name=d.name or f"Dokument {d.document_id}", content_type=d.mime_type,
                          content_ref=ContentRef(key=f"document:{d.document_id}", sha256=d.content_sha256,
                                                 size=d.content_size)).wire()

    # --- documents (R05, R12, R14) ---------------------------------------------------------------

    def property_document(self, p: PropertyRow, ref: str) -> dict[str, Any]:
        st = self.state
        buildings = sorted(
            (b for b in (st.building(bid) for bid in st.buildings_by_property.of(p.property_id)) if b is not None),
            key=lambda b: b.building_id,
        )
        return Property(
            id=ref,
            number=p.property_no,
            name=p.name,
            group=p.property_group,
            management_start=p.management_start,
            street=p.street,
            postal_code=p.postal_code,
            city=p.city,
            country=p.country,
            addresses=[
                Address(id=ids.address_ref(ref, b.building_id, self.sep), street=b.street, house_number=b.house_no,
                        postal_code=b.postal_code, city=b.city)
                for b in buildings
            ],
        ).wire()

    @staticmethod
    def address_line(b: BuildingRow | None) -> str | None:
        """``"street house_no, postal_code city"``, leaving out what is empty."""
        if b is None:
            return None
        first = " ".join(x for x in (b.street, b.house_no) if x)
        second = " ".join(x for x in (b.postal_code, b.city) if x)
        line = ", ".join(x for x in (first, second) if x)
        return line or None

    def unit_document(self, u: UnitRow, ref: str, current: ContractRow | None) -> dict[str, Any]:
        b = self.state.building(u.building_id) if u.building_id is not None else None
        return Unit(
            id=ref,
            number=u.unit_no,
            name=u.name,
            address=self.address_line(b),
            purpose=u.usage,
            area=dec_str(u.area),
            floor=u.floor,
            rooms=dec_str(u.rooms),
            start_date=u.valid_from,
            end_date=u.valid_to,
            current_contract_start=current.start_date if current else None,
            current_contract_end=current.end_date if current else None,
        ).wire()

    def contract_document(self, c: ContractRow, ref: str, main: PersonRow) -> dict[str, Any]:
        st = self.state
        parties: list[tuple[str, int, str]] = []
        for pid in st.parties_by_contract.of(c.contract_id):
            if pid == c.person_id:
                continue  # the main party is named once, as MAIN
            person = st.person(pid)
            party = st.contract_party(c.contract_id, pid)
            if person is None or party is None or self.party_reason(c, person, party.role) is not None:
                continue  # unknown yet, or not named (R06, R07, R11)
            parties.append((person.person_no, pid, party.role))
        parties.sort()
        contacts = [ContractParty(contact_id=ids.contact_ref(main.person_no), role="MAIN")]
        contacts += [ContractParty(contact_id=ids.contact_ref(no), role=role) for no, _, role in parties]
        return Contract(
            id=ref,
            number=c.contract_no,
            type=c.contract_type,
            contacts=contacts,
            start_date=c.start_date,
            end_date=c.end_date,
            rent=dec_str(c.rent_amount),
            deposit=dec_str(c.deposit_amount),
        ).wire()

    def contact_document(self, p: PersonRow) -> dict[str, Any]:
        return Contact(
            id=ids.contact_ref(p.person_no),
            salutation=p.salutation,
            title=p.title,
            first_name=p.first_name,
            last_name=p.last_name,
            company=p.company,
            email=self.portal_email(p),
            telephone=p.phone,
            mobile=p.mobile,
            street=p.street,
            postal_code=p.postal_code,
            city=p.city,
            country=p.country,
            bank_accounts=[BankAccount(iban=p.iban, bic=p.bic, account_holder=p.account_holder)] if p.iban else [],
            portal_user=True,  # R06: only persons of an enabled type are synced at all
        ).wire()

    def staff_document(self, u: StaffUserRow) -> dict[str, Any]:
        assert u.user_no is not None and u.first_name is not None and u.last_name is not None  # staff_reason
        email = u.email.strip() if u.email else None
        return Staff(id=ids.staff_ref(u.user_no.strip()), first_name=u.first_name, last_name=u.last_name,
                     email=email or None, role=self.cfg.staff_role).wire()

    def responsibilities(self, p: PropertyRow, pref: str,
                         excluded: dict[str, str] | None = None) -> list[tuple[str, dict[str, Any]]]:
        """R12/R14: ``(reference id, document)`` for every synced staff user with rights on the
        property (``property_user``; ``is_responsible`` marks the responsible ones) or in its
        team, by user number."""
        st = self.state
        team = st.team(p.team_id) if p.team_id is not None else None
        members = set(st.members_by_team.of(team.team_id)) if team is not None else set()
        out: list[tuple[str, dict[str, Any]]] = []
        for uid in set(st.users_by_property.of(p.property_id)) | members:
            u = st.staff_user(uid)
            if u is None or not u.user_no or not u.user_no.strip():
                continue  # no number, no id: never sent
            rid = ids.responsibility_ref(pref, u.user_no.strip(), self.sep)
            reason = self.staff_reason(u)
            if reason is not None:
                if excluded is not None:
                    excluded[f"responsibility:{rid}"] = reason
                continue
            rights = st.property_user(p.property_id, uid)
            out.append((rid, Responsibility(
                id=rid, property_id=pref, staff_id=ids.staff_ref(u.user_no.strip()),
                responsible=bool(rights and rights.is_responsible),
                team=team.name if team is not None and uid in members else None).wire()))
        return sorted(out, key=lambda item: item[0])
