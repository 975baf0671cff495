"""casavi manager API wire models (API 1.12.10, ``seeds/002``) for the parts the bridge uses.

Field names are casavi's (camelCase on the wire); Python attributes are snake_case.
Every document the bridge sends carries *all* of its fields (``None`` clears a value in
casavi): an upsert is the full desired state, never a delta. See ``import_contract`` for
how an import item is applied.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

EntityType = Literal["contact", "property", "unit", "contract", "staff", "responsibility", "document", "ticket", "post",
                     "comment", "attachment"]
TicketStatus = Literal["PENDING", "OPEN", "CLOSED", "INPROGRESS", "POSTPONED"]
UnitPurpose = Literal["RESIDENTIAL", "COMMERCIAL", "PARKING", "OTHER"]
ContractType = Literal["TENANT", "OWNER"]
PartyRole = Literal["MAIN", "CO_TENANT", "RESIDENT", "PARTNER"]
StaffRole = Literal["MANAGER", "ADMIN", "EDITOR"]


class CasaviModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True)

    def wire(self) -> dict[str, Any]:
        """The JSON object casavi receives."""
        return self.model_dump(mode="json", by_alias=True)


class BankAccount(CasaviModel):
    iban: str
    bic: str | None
    account_holder: str | None


class Contact(CasaviModel):
    """A person (tenant, owner, co-tenant, …) as a casavi contact."""

    id: str
    salutation: str | None
    title: str | None
    first_name: str | None
    last_name: str | None
    company: str | None
    email: str | None
    telephone: str | None
    mobile: str | None
    street: str | None
    postal_code: str | None
    city: str | None
    country: str | None
    bank_accounts: list[BankAccount] = Field(default_factory=list)
    portal_user: bool = True


class Address(CasaviModel):
    """A building of a property (casavi: property address)."""

    id: str
    street: str | None
    house_number: str | None
    postal_code: str | None
    city: str | None


class Property(CasaviModel):
    id: str
    number: str
    name: str | None
    group: str | None
    management_start: date | None
    street: str | None
    postal_code: str | None
    city: str | None
    country: str | None
    addresses: list[Address] = Field(default_factory=list)


class Unit(CasaviModel):
    id: str
    number: str
    name: str | None
    address: str | None
    purpose: UnitPurpose | None
    area: str | None
    floor: str | None
    rooms: str | None
    start_date: date | None
    end_date: date | None
    current_contract_start: date | None
    current_contract_end: date | None


class ContractParty(CasaviModel):
    contact_id: str
    role: PartyRole


class Contract(CasaviModel):
    id: str
    number: str
    type: ContractType
    contacts: list[ContractParty]
    start_date: date | None
    end_date: date | None
    rent: str | None
    deposit: str | None


class Staff(CasaviModel):
    """A staff member (``POST /staff``; API text: id, firstName, lastName, email, role)."""

    id: str
    first_name: str
    last_name: str
    email: str | None
    role: StaffRole


class Responsibility(CasaviModel):
    """A staff member's part in a property: an item of the import's ``responsibilities``. The
    API text names the list but not its fields; these are the bridge's assumption
    (``import_contract``, rule 10): user rights on the property, responsible or not, and the
    property's team the staff member belongs to."""

    id: str
    property_id: str
    staff_id: str
    responsible: bool
    team: str | None


SHARE_KEYS: dict[str, EntityType] = {"propertyId": "property", "unitId": "unit", "contractId": "contract",
                                     "contactId": "contact"}


class ContentRef(CasaviModel):
    """Where the sink finds a document's content: the key on the content topic and the
    content's sha256 and size. A bridge field, replaced by ``content`` before casavi sees it."""

    key: str
    sha256: str
    size: int


class Document(CasaviModel):
    """A document of the documents import (API text: id, title, name, type, publishedAt,
    contentType, content or location/resource, sharedWith, delete). ``sharedWith`` holds one
    object naming what the document is shared with (``import_contract`` rule 11):
    ``{"propertyId": …}``, ``{"unitId": …}``, ``{"contractId": …}`` or ``{"contactId": …}``.
    The bridge's commands carry ``contentRef`` instead of ``content`` (``CONTENT_REF``)."""

    id: str
    title: str
    name: str | None
    type: list[str]
    published_at: datetime | None
    content_type: str | None
    shared_with: list[dict[str, str]]
    content: str | None = None  # base64, as casavi receives it
    location: str | None = None  # or where the document is kept (not used by the bridge)
    resource: str | None = None

    @field_validator("shared_with")
    @classmethod
    def _one_target(cls, v: list[dict[str, str]]) -> list[dict[str, str]]:
        for share in v:
            if len(share) != 1 or not set(share) <= set(SHARE_KEYS) or not all(share.values()):
                raise ValueError(f"each share names one of {', '.join(SHARE_KEYS)}")
        return v


CONTENT_REF = "contentRef"  # the field of a document command that names its content


class Ticket(CasaviModel):
    """A ticket (``/tickets``; API text: id, number, title, description, type, propertyId, unitId,
    status, statusText, contactId, sharedWithContacts, assignedToId). ``sharedWithProperty``,
    ``reportedAt`` and ``customFields`` are in the text's ticket model, not in its create and
    update bodies: ``import_contract`` rule 12 assumes they are taken too."""

    id: str
    number: int | None
    title: str
    description: str | None
    type: str | None
    property_id: str
    unit_id: str | None
    status: TicketStatus
    status_text: str | None
    contact_id: str | None
    shared_with_contacts: list[str]
    shared_with_property: bool
    assigned_to_id: str | None
    reported_at: datetime | None
    custom_fields: dict[str, str | None]


class Post(CasaviModel):
    """A post on a property's pinboard (``/posts``; API text: id, title, text, authorId, propertyId,
    allowComments, isImportant, showOnInfoboard)."""

    id: str
    title: str
    text: str
    author_id: str
    property_id: str
    allow_comments: bool = True
    is_important: bool = False
    show_on_infoboard: bool = False


class Comment(CasaviModel):
    """A ticket comment (``/tickets/{ticketId}/comments``; API text: id, text, isInternal, authorId,
    authorEmail, fallbackToAccount, attachments)."""

    id: str
    text: str
    is_internal: bool = False
    author_id: str | None = None
    author_email: str | None = None
    fallback_to_account: bool = False
    attachments: list[int] = Field(default_factory=list)


class Attachment(CasaviModel):
    """A document attached to a ticket: the bridge's entity. The sink uploads the content
    (``POST /files``) and attaches the file through a comment with this id (the API text's way
    since 1.11.5); ``contentRef`` names the content as for documents."""

    id: str
    name: str
    content_type: str | None
    content_ref: ContentRef


class FileCreated(BaseModel):
    id: int


CasaviDocument = Contact | Property | Unit | Contract | Staff | Responsibility | Document | Ticket | Post | Comment

DOCUMENT_TYPES: dict[EntityType, type[CasaviModel]] = {
    "contact": Contact,
    "property": Property,
    "unit": Unit,
    "contract": Contract,
    "staff": Staff,
    "responsibility": Responsibility,
    "document": Document,
    "ticket": Ticket,
    "post": Post,
    "comment": Comment,
    "attachment": Attachment,
}


# --- authentication and jobs ------------------------------------------------------------

class AuthRequest(BaseModel):
    key: str
    secret: str


class AuthResponse(BaseModel):
    token: str
    expires_at: datetime = Field(alias="expiresAt")


class JobCreated(BaseModel):
    job_id: str = Field(alias="jobId")


ItemStatus = Literal["created", "updated", "unchanged", "archived", "deleted", "absent", "failed"]


class ImportItemResult(BaseModel):
    """What the import did with one item: the bridge reads ``failed`` items into its DLQ."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    entity: EntityType
    id: str
    status: ItemStatus
    error_code: str | None = None
    error: str | None = None


class JobResults(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    items: list[ImportItemResult] = Field(default_factory=list)


class Job(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    id: str
    progress: float
    completed: bool
    completed_at: datetime | None = None
    results: JobResults = Field(default_factory=JobResults)
