"""The sync rules as predicates and document builders over ``ErpState``.

Every predicate returns ``None`` when the entity is synced, otherwise a short reason
naming the rule (``"R09 contract ended"``). Reasons never contain personal data; they
end up on delete commands and in logs.

Decisions (see ``docs/projection.md``):

* A property is synced when its Mandant row exists and is selected (R02), its number
  is selected (R01; unset selection = all) and ``management_end`` is not before
  ``today`` (the end day itself still counts). ``management_start`` does not matter.
* A unit is synced when its property is synced, it is not phantom (R04) and
  ``valid_to`` is not before ``today`` (a unit end is a delete, R13/R14).
* A contract is synced when its unit is synced, it is valid under R09
  (``start_date - portal_days_before_start <= today <= end_date + delete_after_days``,
  open ends open), its main party row exists and is not anonymized (R11), and — for a
  TENANT contract — the main party has an e-mail address (R07). The contract's own
  ``property_id`` is informational: the unit decides the property.
* A person is synced when they exist, are not anonymized (R11) and are the main
  party or a contract party of at least one synced contract (R05). The person type
  does not matter yet (R06 is a later slice: every type is enabled).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from streams.casavi.models import Address, BankAccount, Contact, Contract, ContractParty, Property, Unit
from streams.erp.rows import BuildingRow, ContractRow, PersonRow, PropertyRow, UnitRow
from streams.projection import ids
from streams.projection.state import ErpState
from streams.settings import SyncSettings

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
MAIN_PARTY_UNKNOWN = "R05 main party missing"
MAIN_PARTY_ANONYMIZED = "R11 main party anonymized"
TENANT_WITHOUT_EMAIL = "R07 tenant without e-mail"
PERSON_ANONYMIZED = "R11 person anonymized"
NO_VALID_CONTRACT = "R05 no synced valid contract"
GONE = "R13 no longer in projection"


@dataclass(frozen=True, slots=True)
class ProjectionConfig:
    """``SyncSettings`` prepared for fast lookups (sets instead of lists)."""

    mandanten: frozenset[int] | None
    properties: frozenset[str] | None
    sep: str
    portal_days_before_start: int
    delete_after_days: int

    @classmethod
    def of(cls, config: SyncSettings | ProjectionConfig) -> ProjectionConfig:
        if isinstance(config, ProjectionConfig):
            return config
        fingerprint = (config.id_separator, config.portal_days_before_start, config.delete_after_days,
                       None if config.mandanten is None else len(config.mandanten),
                       None if config.properties is None else len(config.properties))
        cached = _CACHE.get(id(config))
        if cached is not None and cached[0] is config and cached[1] == fingerprint:
            return cached[2]
        pc = cls(
            mandanten=None if config.mandanten is None else frozenset(config.mandanten),
            properties=None if config.properties is None else frozenset(str(p) for p in config.properties),
            sep=config.id_separator,
            portal_days_before_start=config.portal_days_before_start,
            delete_after_days=config.delete_after_days,
        )
        _CACHE.clear()
        _CACHE[id(config)] = (config, fingerprint, pc)
        return pc


_CACHE: dict[int, tuple[SyncSettings, tuple[Any, ...], ProjectionConfig]] = {}


def dec_str(v: Decimal | None) -> str | None:
    """A decimal as casavi's string: plain notation, never an exponent."""
    return None if v is None else format(v, "f")


class Rules:
    """The rules evaluated against one state, configuration and day."""

    __slots__ = ("state", "cfg", "today", "sep", "_start_limit", "_end_limit")

    def __init__(self, state: ErpState, config: SyncSettings | ProjectionConfig, today: date) -> None:
        self.state = state
        self.cfg = ProjectionConfig.of(config)
        self.today = today
        self.sep = self.cfg.sep
        # R09: valid iff start - before <= today <= end + after
        self._start_limit = today + timedelta(days=self.cfg.portal_days_before_start)
        self._end_limit = today - timedelta(days=self.cfg.delete_after_days)

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
        if cfg.properties is not None and p.property_no not in cfg.properties:
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

    def contract_own_reason(self, c: ContractRow) -> str | None:
        """Everything about a contract except its unit: R09, R05 main party, R11, R07."""
        r = self.contract_validity_reason(c)
        if r is not None:
            return r
        main = self.state.person(c.person_id)
        if main is None:
            return MAIN_PARTY_UNKNOWN
        if main.anonymized_at is not None:
            return MAIN_PARTY_ANONYMIZED
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

    def person_reason(self, p: PersonRow) -> str | None:
        """R05/R07/R09/R11: synced through at least one synced contract."""
        if p.anonymized_at is not None:
            return PERSON_ANONYMIZED
        st = self.state
        pid = p.person_id
        for cid in st.contracts_by_person.of(pid):
            c = st.contract(cid)
            if c is not None and self.contract_reason(c) is None:
                return None
        for cid in st.parties_by_person.of(pid):
            c = st.contract(cid)
            if c is not None and self.contract_reason(c) is None:
                return None
        return NO_VALID_CONTRACT

    # --- documents (R14, R05) ---------------------------------------------------------------

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
            if person is None or party is None or person.anonymized_at is not None:
                continue  # unknown yet, or anonymized (R11): not named
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

    @staticmethod
    def contact_document(p: PersonRow) -> dict[str, Any]:
        email = p.email.strip() if p.email else None
        return Contact(
            id=ids.contact_ref(p.person_no),
            salutation=p.salutation,
            title=p.title,
            first_name=p.first_name,
            last_name=p.last_name,
            company=p.company,
            email=email or None,
            telephone=p.phone,
            mobile=p.mobile,
            street=p.street,
            postal_code=p.postal_code,
            city=p.city,
            country=p.country,
            bank_accounts=[BankAccount(iban=p.iban, bic=p.bic, account_holder=p.account_holder)] if p.iban else [],
            portal_user=True,  # R06 hook: False for persons of a disabled type
        ).wire()
