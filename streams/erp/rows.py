"""Typed ERP rows: one pydantic model per table of the reference schema.

Field names are exactly the column names of ``erp-reference-schema.md`` (and of
``streams.erp.schema.TABLES``). Primary-key columns are required; every other column
may be NULL (the schema registry marks them nullable) and defaults to ``None`` when a
source omits it. Columns the schema does not know are ignored, so a customer view with
extra columns does not stop the bridge.

Numeric columns are quantized to the schema's scale (``area`` 2, ``rooms`` 1, amounts
2): the same value decoded as ``75.5`` or ``75.50`` is the same row, so it yields the
same casavi document and the same content hash.

``parse_row`` turns a decoded column dict into its model. A row that breaks the schema
raises :class:`RowSchemaError`, whose message names the table, the key columns and
the failing column names with pydantic's error type — never a column value, so no
personal data reaches a log or a DLQ record.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import date, datetime
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any, ClassVar, Literal

from pydantic import ConfigDict, TypeAdapter, ValidationError, field_validator, model_validator
from pydantic.dataclasses import dataclass
from pydantic.fields import FieldInfo

from streams.erp.schema import TABLES

Key = tuple[Any, ...]
UnitUsage = Literal["RESIDENTIAL", "COMMERCIAL", "PARKING", "OTHER"]
ContractTypeCode = Literal["TENANT", "OWNER"]
PartyRoleCode = Literal["CO_TENANT", "RESIDENT", "PARTNER"]


# Rows are pydantic dataclasses with slots, not ``BaseModel``s: validated the same way, but an
# instance holds its values only (about 0.2 KB instead of 1.3 KB of per-instance dicts and
# sets), which is what a worker holding a million rows needs.
ROW_CONFIG = ConfigDict(extra="ignore")


@dataclass(frozen=True, slots=True, kw_only=True, config=ROW_CONFIG)
class ErpRow:
    """Base of every ERP row model: immutable, extra columns ignored."""

    table: ClassVar[str]
    primary_key: ClassVar[tuple[str, ...]]

    updated_at: datetime | None = None

    @property
    def key(self) -> Key:
        return tuple(getattr(self, c) for c in self.primary_key)


def _quantizer(places: int) -> Any:
    exp = Decimal(1).scaleb(-places)

    def q(v: Decimal | None) -> Decimal | None:
        if v is None:
            return None
        try:
            return v.quantize(exp, rounding=ROUND_HALF_EVEN)
        except InvalidOperation:  # too many digits for the context: leave as is
            return v

    return q


_q1 = _quantizer(1)
_q2 = _quantizer(2)


@dataclass(frozen=True, slots=True, kw_only=True, config=ROW_CONFIG)
class MandantRow(ErpRow):
    table: ClassVar[str] = "mandant"
    primary_key: ClassVar[tuple[str, ...]] = ("mandant_no",)

    mandant_no: int
    name: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True, config=ROW_CONFIG)
class PropertyRow(ErpRow):
    table: ClassVar[str] = "property"
    primary_key: ClassVar[tuple[str, ...]] = ("property_id",)

    property_id: int
    mandant_no: int
    property_no: str
    name: str | None = None
    property_group: str | None = None
    street: str | None = None
    postal_code: str | None = None
    city: str | None = None
    country: str | None = None
    management_start: date | None = None
    management_end: date | None = None
    team_id: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True, config=ROW_CONFIG)
class BuildingRow(ErpRow):
    table: ClassVar[str] = "building"
    primary_key: ClassVar[tuple[str, ...]] = ("building_id",)

    building_id: int
    property_id: int
    street: str | None = None
    house_no: str | None = None
    postal_code: str | None = None
    city: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True, config=ROW_CONFIG)
class UnitRow(ErpRow):
    table: ClassVar[str] = "unit"
    primary_key: ClassVar[tuple[str, ...]] = ("unit_id",)

    unit_id: int
    property_id: int
    building_id: int | None = None
    unit_no: str
    name: str | None = None
    usage: UnitUsage | None = None
    area: Decimal | None = None
    floor: str | None = None
    rooms: Decimal | None = None
    valid_from: date | None = None
    valid_to: date | None = None
    is_phantom: bool | None = False

    @field_validator("area")
    @classmethod
    def _area(cls, v: Decimal | None) -> Decimal | None:
        return _q2(v)  # type: ignore[no-any-return]

    @field_validator("rooms")
    @classmethod
    def _rooms(cls, v: Decimal | None) -> Decimal | None:
        return _q1(v)  # type: ignore[no-any-return]


@dataclass(frozen=True, slots=True, kw_only=True, config=ROW_CONFIG)
class PersonTypeRow(ErpRow):
    table: ClassVar[str] = "person_type"
    primary_key: ClassVar[tuple[str, ...]] = ("person_type_code",)

    person_type_code: str
    name: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True, config=ROW_CONFIG)
class PersonRow(ErpRow):
    table: ClassVar[str] = "person"
    primary_key: ClassVar[tuple[str, ...]] = ("person_id",)

    person_id: int
    person_no: str
    person_type_code: str | None = None
    salutation: str | None = None
    title: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    company: str | None = None
    email: str | None = None
    phone: str | None = None
    mobile: str | None = None
    street: str | None = None
    postal_code: str | None = None
    city: str | None = None
    country: str | None = None
    iban: str | None = None
    bic: str | None = None
    account_holder: str | None = None
    anonymized_at: datetime | None = None

    @property
    def has_email(self) -> bool:
        return bool(self.email and self.email.strip())

    @property
    def email_address(self) -> str | None:
        """The e-mail address as casavi gets it: without surrounding blanks; blank = none."""
        return self.email.strip() if self.has_email else None  # type: ignore[union-attr]

    @property
    def email_key(self) -> str | None:
        """What makes two addresses the same portal login (R08): case and blanks do not count."""
        address = self.email_address
        return address.lower() if address else None

    @property
    def type_key(self) -> str:
        """The person type code; ``""`` for a person without a type (so it can be indexed)."""
        return self.person_type_code or ""

    @property
    def is_anonymized(self) -> bool:
        return self.anonymized_at is not None


@dataclass(frozen=True, slots=True, kw_only=True, config=ROW_CONFIG)
class ContractRow(ErpRow):
    table: ClassVar[str] = "contract"
    primary_key: ClassVar[tuple[str, ...]] = ("contract_id",)

    contract_id: int
    contract_no: str
    contract_type: ContractTypeCode
    property_id: int | None = None
    unit_id: int
    person_id: int
    start_date: date | None = None
    end_date: date | None = None
    rent_amount: Decimal | None = None
    deposit_amount: Decimal | None = None

    @field_validator("rent_amount", "deposit_amount")
    @classmethod
    def _amount(cls, v: Decimal | None) -> Decimal | None:
        return _q2(v)  # type: ignore[no-any-return]


@dataclass(frozen=True, slots=True, kw_only=True, config=ROW_CONFIG)
class ContractPartyRow(ErpRow):
    table: ClassVar[str] = "contract_party"
    primary_key: ClassVar[tuple[str, ...]] = ("contract_id", "person_id")

    contract_id: int
    person_id: int
    role: PartyRoleCode


# --- owners, caretakers, staff (R10, R12) ------------------------------------------------

@dataclass(frozen=True, slots=True, kw_only=True, config=ROW_CONFIG)
class PropertyOwnerRow(ErpRow):
    table: ClassVar[str] = "property_owner"
    primary_key: ClassVar[tuple[str, ...]] = ("property_id", "person_id")

    property_id: int
    person_id: int


@dataclass(frozen=True, slots=True, kw_only=True, config=ROW_CONFIG)
class CaretakerRow(ErpRow):
    table: ClassVar[str] = "caretaker"
    primary_key: ClassVar[tuple[str, ...]] = ("property_id", "person_id")

    property_id: int
    person_id: int


@dataclass(frozen=True, slots=True, kw_only=True, config=ROW_CONFIG)
class StaffUserRow(ErpRow):
    table: ClassVar[str] = "staff_user"
    primary_key: ClassVar[tuple[str, ...]] = ("user_id",)

    user_id: int
    user_no: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    phone: str | None = None
    active: bool | None = None

    @property
    def has_name(self) -> bool:
        """First and last name, both not blank (casavi requires them for staff)."""
        return bool(self.first_name and self.first_name.strip() and self.last_name and self.last_name.strip())


@dataclass(frozen=True, slots=True, kw_only=True, config=ROW_CONFIG)
class TeamRow(ErpRow):
    table: ClassVar[str] = "team"
    primary_key: ClassVar[tuple[str, ...]] = ("team_id",)

    team_id: int
    name: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True, config=ROW_CONFIG)
class TeamMemberRow(ErpRow):
    table: ClassVar[str] = "team_member"
    primary_key: ClassVar[tuple[str, ...]] = ("team_id", "user_id")

    team_id: int
    user_id: int


@dataclass(frozen=True, slots=True, kw_only=True, config=ROW_CONFIG)
class PropertyUserRow(ErpRow):
    table: ClassVar[str] = "property_user"
    primary_key: ClassVar[tuple[str, ...]] = ("property_id", "user_id")

    property_id: int
    user_id: int
    is_responsible: bool | None = None


# --- tables outside the projection so far: typed and stored ---------------------------------

@dataclass(frozen=True, slots=True, kw_only=True, config=ROW_CONFIG)
class DocumentTypeRow(ErpRow):
    table: ClassVar[str] = "document_type"
    primary_key: ClassVar[tuple[str, ...]] = ("document_type_code",)

    document_type_code: str
    name: str | None = None
    document_class: str | None = None


def content_digest(content: bytes) -> str:
    """The sha256 of a document's content (hex): how the bridge names content it does not hold."""
    return hashlib.sha256(content).hexdigest()


@dataclass(frozen=True, slots=True, kw_only=True, config=ROW_CONFIG)
class DocumentRow(ErpRow):
    """A document without its content: the row keeps the content's sha256 and size, never the
    bytes (R16). A decoded row's ``content`` column is digested when the row is parsed; a row
    without the column (a persisted row, an update that did not send it) keeps the digest it
    names. The content itself travels through the content topic (``docs/design.md``)."""

    table: ClassVar[str] = "document"
    primary_key: ClassVar[tuple[str, ...]] = ("document_id",)

    document_id: int
    property_id: int | None = None
    unit_id: int | None = None
    contract_id: int | None = None
    person_id: int | None = None
    document_type_code: str | None = None
    name: str | None = None
    mime_type: str | None = None
    created_at: datetime | None = None
    released: bool | None = None
    content_sha256: str | None = None  # derived from the content column
    content_size: int | None = None  # bytes

    @model_validator(mode="before")
    @classmethod
    def _digest_content(cls, data: Any) -> Any:
        if not isinstance(data, Mapping) or "content" not in data:
            return data
        content = data["content"]
        out = {k: v for k, v in data.items() if k != "content"}
        if content is None:
            out.update(content_sha256=None, content_size=None)
        elif isinstance(content, (bytes, bytearray, memoryview)):
            raw = bytes(content)
            out.update(content_sha256=content_digest(raw), content_size=len(raw))
        else:
            out["content_sha256"] = content  # not bytes: let validation name the column's error
            out["content_size"] = None
        return out


@dataclass(frozen=True, slots=True, kw_only=True, config=ROW_CONFIG)
class TicketTypeRow(ErpRow):
    table: ClassVar[str] = "ticket_type"
    primary_key: ClassVar[tuple[str, ...]] = ("ticket_type_code",)

    ticket_type_code: str
    name: str | None = None
    portal_mode: Literal["STANDARD", "BLOCKED", "PINBOARD", "PROPERTY"] | None = None


@dataclass(frozen=True, slots=True, kw_only=True, config=ROW_CONFIG)
class TicketStatusRow(ErpRow):
    table: ClassVar[str] = "ticket_status"
    primary_key: ClassVar[tuple[str, ...]] = ("status_code",)

    status_code: str
    name: str | None = None
    status_kind: Literal["OPEN", "IN_PROGRESS", "POSTPONED", "DONE", "CANCELLED"] | None = None


@dataclass(frozen=True, slots=True, kw_only=True, config=ROW_CONFIG)
class TicketPriorityRow(ErpRow):
    table: ClassVar[str] = "ticket_priority"
    primary_key: ClassVar[tuple[str, ...]] = ("priority_code",)

    priority_code: str
    name: str | None = None
    rank: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True, config=ROW_CONFIG)
class TicketRow(ErpRow):
    table: ClassVar[str] = "ticket"
    primary_key: ClassVar[tuple[str, ...]] = ("ticket_id",)

    ticket_id: int
    ticket_no: int | None = None
    ticket_type_code: str | None = None
    subject: str | None = None
    description: str | None = None
    hint1: str | None = None
    hint2: str | None = None
    reporter_person_id: int | None = None
    trade: str | None = None
    reported_at: datetime | None = None
    property_id: int | None = None
    unit_id: int | None = None
    technical_object: str | None = None
    responsible_user_id: int | None = None
    responsible_team_id: int | None = None
    due_from: date | None = None
    due_to: date | None = None
    status_code: str | None = None
    priority_code: str | None = None
    origin: Literal["ERP", "PORTAL"] | None = None


@dataclass(frozen=True, slots=True, kw_only=True, config=ROW_CONFIG)
class TicketNoteRow(ErpRow):
    table: ClassVar[str] = "ticket_note"
    primary_key: ClassVar[tuple[str, ...]] = ("note_id",)

    note_id: int
    ticket_id: int | None = None
    author: str | None = None
    created_at: datetime | None = None
    content: str | None = None
    is_internal: bool | None = None


@dataclass(frozen=True, slots=True, kw_only=True, config=ROW_CONFIG)
class TicketDocumentRow(ErpRow):
    table: ClassVar[str] = "ticket_document"
    primary_key: ClassVar[tuple[str, ...]] = ("ticket_id", "document_id")

    ticket_id: int
    document_id: int


# Columns the row models keep only as a digest, with the fields derived from them: a column left
# out of an update (Debezium's unavailable value) keeps the derived fields of the row held.
DERIVED_COLUMNS: dict[str, dict[str, tuple[str, ...]]] = {"document": {"content": ("content_sha256", "content_size")}}

def row_fields(table: str) -> dict[str, FieldInfo]:
    """The columns of ``table``'s row model with their pydantic field info."""
    fields: dict[str, FieldInfo] = getattr(ROW_MODELS[table], "__pydantic_fields__")  # a pydantic dataclass's
    return fields


ROW_MODELS: dict[str, type[ErpRow]] = {
    m.table: m
    for m in (
        MandantRow, PropertyRow, BuildingRow, UnitRow, PersonTypeRow, PersonRow, ContractRow,
        ContractPartyRow, PropertyOwnerRow, CaretakerRow, StaffUserRow, TeamRow, TeamMemberRow,
        PropertyUserRow, DocumentTypeRow, DocumentRow, TicketTypeRow, TicketStatusRow,
        TicketPriorityRow, TicketRow, TicketNoteRow, TicketDocumentRow,
    )
}
# the validator of each table's rows, and the column names a row holds (in the model's order)
_ADAPTERS: dict[str, TypeAdapter[ErpRow]] = {t: TypeAdapter(m) for t, m in ROW_MODELS.items()}
_COLUMNS: dict[str, tuple[str, ...]] = {t: tuple(row_fields(t)) for t in ROW_MODELS}


class UnknownTable(ValueError):
    def __init__(self, table: str) -> None:
        self.table = table
        super().__init__(f"table {table!r} is not part of the ERP reference schema")


class RowSchemaError(ValueError):
    """A row that breaks the reference schema. The message names the table, its key and
    the failing columns with the kind of error; it never contains a column value."""

    def __init__(self, table: str, key: Key | None, problems: list[tuple[str, str]]) -> None:
        self.table = table
        self.key = key
        self.problems = problems
        pk = TABLES[table].primary_key if table in TABLES else ()
        if key is None:
            where = f"key ({', '.join(pk)}) unreadable"
        else:
            where = ", ".join(f"{c}={v!r}" for c, v in zip(pk, key, strict=False))
        detail = "; ".join(f"{col}: {kind}" for col, kind in problems)
        super().__init__(f"row of erp.{table} ({where}) breaks the schema: {detail}")


def _safe_key(table: str, data: Mapping[str, Any]) -> Key | None:
    """The row's key, only if every key column is a plain int or short code."""
    pk = TABLES[table].primary_key
    out: list[Any] = []
    for c in pk:
        v = data.get(c)
        if isinstance(v, bool) or not isinstance(v, (int, str)) or (isinstance(v, str) and len(v) > 20):
            return None
        out.append(v)
    return tuple(out)


def parse_row(table: str, data: Mapping[str, Any]) -> ErpRow:
    """Validate one decoded row of ``erp.<table>`` into its model."""
    model = ROW_MODELS.get(table)
    if model is None:
        raise UnknownTable(table)
    try:
        return _ADAPTERS[table].validate_python(data)
    except ValidationError as exc:
        problems = [(".".join(str(p) for p in e["loc"]) or "<row>", e["type"]) for e in exc.errors()]
        raise RowSchemaError(table, _safe_key(table, data), problems) from None


def row_columns(table: str) -> tuple[str, ...]:
    """The column names a row of ``table`` holds, in the model's order."""
    return _COLUMNS[table]


def row_dict(row: ErpRow) -> dict[str, Any]:
    """The row as a plain column dict (Python values), e.g. for a persisted state table."""
    return {c: getattr(row, c) for c in _COLUMNS[row.table]}


# table -> its primary-key columns, each with whether it is an int column
_KEY_KINDS: dict[str, tuple[tuple[str, bool], ...]] = {
    name: tuple((c, {col.name: col.kind for col in t.columns}[c] == "int") for c in t.primary_key)
    for name, t in TABLES.items()}


def normalize_key(table: str, key: Key) -> Key:
    """A key as the row models store it: int key columns as ``int``."""
    kinds = _KEY_KINDS.get(table)
    if kinds is None:
        raise UnknownTable(table)
    if len(key) != len(kinds):
        raise RowSchemaError(table, None, [(",".join(c for c, _ in kinds), "key_length")])
    if all(type(v) is int or not is_int for v, (_, is_int) in zip(key, kinds)):
        return key if type(key) is tuple else tuple(key)
    out: list[Any] = []
    for (col, is_int), v in zip(kinds, key, strict=True):
        if is_int and not isinstance(v, int):
            try:
                v = int(v)
            except (TypeError, ValueError):
                raise RowSchemaError(table, None, [(col, "key_not_an_int")]) from None
        out.append(v)
    return tuple(out)
