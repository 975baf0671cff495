"""Receipts: what casavi did with each command, fed back from the sink to the worker.

The worker believes casavi holds what casavi applied, not what Kafka received: the sink
writes one receipt per command it finished (applied, applied without per-item results
from casavi, or failed for good) to the compacted receipts topic, keyed by slot. The
worker folds them: a failed command is forgotten as emitted, so it is sent again when its
root is next projected — by the next ERP change, the next tick, a redrive, or as soon as
casavi applies what it was waiting for (``needs``). Receipts carry no personal data:
slots, hashes, casavi error codes.
"""

from __future__ import annotations

import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from streams.casavi.import_contract import STAFF_IN_USE
from streams.casavi.models import SHARE_KEYS
from streams.commands.model import CasaviCommand, CommandOp

ReceiptStatus = Literal["applied", "unconfirmed", "failed"]
# casavi error codes that mean "another entity has to be there (or gone) first"
DEPENDENCY_CODES = frozenset({"MISSING_REFERENCE", "CONTACT_IN_USE", "CONTACT_REFERENCED", "CONTACT_NOT_ARCHIVED",
                              STAFF_IN_USE})


class Receipt(BaseModel):
    model_config = ConfigDict(frozen=True)

    system: str
    entity: str
    reference_id: str
    op: CommandOp
    content_hash: str = ""
    root: str | None = None
    parent_ids: tuple[str, ...] = ()
    status: ReceiptStatus
    error_code: str = ""
    needs: tuple[str, ...] = ()  # slots the command refers to (parents, named contacts)
    at_ms: int = 0
    source_ts_ms: int | None = None  # the command's COMMIT time in the ERP: latency = receipt time - this

    @property
    def slot(self) -> str:
        return f"{self.entity}:{self.reference_id}"

    @classmethod
    def of(cls, command: CasaviCommand, system: str, status: ReceiptStatus, at_ms: int,
           error_code: str = "") -> Receipt:
        return cls(system=system, entity=command.entity, reference_id=command.reference_id, op=command.op,
                   content_hash=command.content_hash, root=command.root, parent_ids=command.parent_ids,
                   status=status, error_code=error_code, needs=references(command), at_ms=at_ms,
                   source_ts_ms=command.source_ts_ms)

    def encode(self) -> bytes:
        return self.model_dump_json().encode()


class ReceiptCodecError(ValueError):
    pass


def decode_receipt(value: bytes) -> Receipt:
    try:
        return Receipt.model_validate(json.loads(value))
    except (ValueError, ValidationError):
        raise ReceiptCodecError("not a receipt") from None


_PARENT_ENTITIES = {1: ("property",), 2: ("property", "unit")}


def references(command: CasaviCommand) -> tuple[str, ...]:
    """The slots a command refers to: its containers and, for a contract, the contacts it
    names, for a responsibility its staff member, for a document what it is shared with, for a
    ticket or post its property, unit, contacts and staff member, for a comment its ticket."""
    parents = ("ticket",) if command.entity in ("comment", "attachment") else \
        _PARENT_ENTITIES.get(len(command.parent_ids), ())
    out = [f"{entity}:{ref}" for entity, ref in zip(parents, command.parent_ids, strict=False)]
    doc = command.document or {}
    if command.entity in ("ticket", "post"):
        out += [f"property:{doc['propertyId']}"] if doc.get("propertyId") else []
        out += [f"unit:{doc['unitId']}"] if doc.get("unitId") else []
        contacts = {doc.get("contactId"), *doc.get("sharedWithContacts", [])} - {None}
        out += [f"contact:{c}" for c in sorted(contacts)]
        staff = doc.get("assignedToId") or doc.get("authorId")
        out += [f"staff:{staff}"] if staff else []
    if command.document and command.entity == "contract":
        out += [f"contact:{c['contactId']}" for c in command.document.get("contacts", []) if c.get("contactId")]
    if command.document and command.entity == "responsibility" and command.document.get("staffId"):
        out.append(f"staff:{command.document['staffId']}")
    if command.document and command.entity == "document":
        out += [f"{SHARE_KEYS[k]}:{v}" for share in command.document.get("sharedWith", []) for k, v in share.items()
                if k in SHARE_KEYS]
    return tuple(out)
