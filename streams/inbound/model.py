"""The inbound event and its Avro codec (``schemas/casavi_inbound.avsc``), and which tickets and
comments casavi holds are the portal's: the bridge never takes back what it sent itself (no echo
loop), nor an internal comment (R19)."""

from __future__ import annotations

import io
import json
import re
from functools import lru_cache
from typing import Any, Literal

import fastavro
from pydantic import BaseModel, ConfigDict

from streams.resources import SCHEMAS_DIR

SCHEMA_PATH = SCHEMAS_DIR / "casavi_inbound.avsc"
InboundKind = Literal["TICKET_CREATED", "COMMENT_CREATED"]
InboundSource = Literal["HOOK", "POLL"]


class InboundEvent(BaseModel):
    model_config = ConfigDict(frozen=True)

    event_id: str
    kind: InboundKind
    ticket_id: str
    erp_ticket_no: int | None = None
    ticket_number: int | None = None
    comment_id: str | None = None
    property_id: str | None = None
    unit_id: str | None = None
    contact_id: str | None = None
    title: str | None = None
    text: str | None = None
    type: str | None = None
    created_at: str | None = None
    erp_user: str | None = None
    source: InboundSource
    received_at_ms: int


@lru_cache(maxsize=1)
def _schema() -> Any:
    return fastavro.parse_schema(json.loads(SCHEMA_PATH.read_text()))


def encode(event: InboundEvent) -> bytes:
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, _schema(), event.model_dump())
    return buf.getvalue()


def decode(payload: bytes) -> InboundEvent:
    record = fastavro.schemaless_reader(io.BytesIO(payload), _schema(), _schema())
    assert isinstance(record, dict)
    stamp = record["received_at_ms"]
    record["received_at_ms"] = int(stamp.timestamp() * 1000) if hasattr(stamp, "timestamp") else stamp
    return InboundEvent(**record)


class Provenance:
    """Tells the bridge's own tickets and comments (R03 reference ids) from the portal's."""

    def __init__(self, separator: str) -> None:
        sep = re.escape(separator)
        self._ticket = re.compile(rf"^\d+{sep}.+{sep}T(\d+)$")
        self.sep = separator

    def erp_ticket_no(self, ticket_id: str) -> int | None:
        """The ERP ticket number of a ticket the bridge sent; None for one made in the portal."""
        m = self._ticket.match(ticket_id)
        return int(m.group(1)) if m else None

    def bridge_comment(self, ticket_id: str, comment_id: str) -> bool:
        """Comments (notes, attachments) the bridge sent are named ``<ticket id><sep>N…``/``D…``."""
        return comment_id.startswith(f"{ticket_id}{self.sep}N") or comment_id.startswith(f"{ticket_id}{self.sep}D")


def ticket_event(ticket: dict[str, Any], source: InboundSource, erp_user: str | None, at_ms: int
                 ) -> InboundEvent:
    number = ticket.get("number")
    return InboundEvent(
        event_id=f"ticket:{ticket['id']}", kind="TICKET_CREATED", ticket_id=ticket["id"],
        ticket_number=int(number) if isinstance(number, (int, str)) and str(number).isdigit() else None,
        property_id=ticket.get("propertyId"), unit_id=ticket.get("unitId"), contact_id=ticket.get("contactId"),
        title=ticket.get("title"), text=ticket.get("description"), type=ticket.get("type"),
        created_at=ticket.get("createdAt"), erp_user=erp_user, source=source, received_at_ms=at_ms)


def comment_event(ticket: dict[str, Any], comment: dict[str, Any], erp_ticket_no: int | None, source: InboundSource,
                  erp_user: str | None, at_ms: int) -> InboundEvent:
    return InboundEvent(
        event_id=f"comment:{ticket['id']}:{comment['id']}", kind="COMMENT_CREATED", ticket_id=ticket["id"],
        erp_ticket_no=erp_ticket_no, comment_id=comment["id"], property_id=ticket.get("propertyId"),
        unit_id=ticket.get("unitId"), contact_id=comment.get("contactId"), text=comment.get("text"),
        created_at=comment.get("createdAt"), erp_user=erp_user, source=source, received_at_ms=at_ms)
