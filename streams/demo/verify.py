"""Does casavi hold what the projection says? Reads the ERP (PostgreSQL) and casavi's state.

``expected_from_db`` projects the ERP tables as they are now; ``compare`` lists what casavi
lacks, has too much, or holds differently — by reference id only, never by content.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from psycopg import sql

from streams.casavi.models import CONTENT_REF
from streams.erp.rows import ROW_MODELS
from streams.erp.schema import ERP_SCHEMA
from streams.projection.model import Desired
from streams.projection.project import project_all
from streams.projection.state import ErpState
from streams.settings import SyncSettings

SIM_KINDS = {"contact": "contacts", "property": "properties", "unit": "units", "contract": "contracts",
             "staff": "staff", "responsibility": "responsibilities", "document": "documents", "ticket": "tickets",
             "post": "posts", "comment": "comments"}


def load_state(conn: Any) -> ErpState:
    state = ErpState()
    with conn.cursor() as cur:
        for table in ROW_MODELS:
            cur.execute(sql.SQL("SELECT * FROM {}").format(sql.Identifier(ERP_SCHEMA, table)))
            names = [d.name for d in cur.description]
            for values in cur.fetchall():
                state.set_row(table, dict(zip(names, values, strict=True)))
    return state


def expected_from_db(conn: Any, sync: SyncSettings, today: date) -> dict[str, Desired]:
    return project_all(load_state(conn), sync, today)


@dataclass
class Comparison:
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    different: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def equal(self) -> bool:
        return not (self.missing or self.extra or self.different)

    def summary(self) -> str:
        return (f"missing {len(self.missing)}, extra {len(self.extra)}, different {len(self.different)}"
                f" (first: {(self.missing + self.extra + self.different)[:3]})")


def _is_uuid(ref: str) -> bool:
    try:
        uuid.UUID(ref)
    except ValueError:
        return False
    return True


def holds(desired: Desired, found: dict[str, Any], files: dict[str, dict[str, Any]] | None = None) -> bool:
    """Whether casavi's entity is the desired one. A document's content is compared by its
    digest and size (the simulator keeps no more of it); an attachment is a comment naming
    a file of that content."""
    if desired.entity == "attachment":
        ref = desired.document[CONTENT_REF]
        held = [(files or {}).get(str(f)) for f in found.get("attachments", [])]
        return found.get("text") == desired.document["name"] and not found.get("isInternal") and any(
            f is not None and (f["contentSha256"], f["contentSize"]) == (ref["sha256"], ref["size"]) for f in held)
    for f, v in desired.document.items():
        if f == CONTENT_REF:
            if (found.get("contentSha256"), found.get("contentSize")) != (v["sha256"], v["size"]):
                return False
        elif found.get(f) != v:
            return False
    return True


def compare(expected: dict[str, Desired], casavi_state: dict[str, dict[str, dict[str, Any]]]) -> Comparison:
    """``casavi_state`` as the simulator's ``GET /_sim/state`` returns it."""
    result = Comparison()
    held: dict[str, dict[str, Any]] = {}
    tickets = casavi_state.get("tickets", {})
    # tickets written in the portal (casavi's ids, UUIDs) are not the bridge's; nor are the comments
    # of those, or of tickets the bridge closed (they stay with the closed ticket)
    foreign = {ref for ref, t in tickets.items() if _is_uuid(ref) or t.get("status") == "CLOSED"}
    for entity, kind in SIM_KINDS.items():
        docs = casavi_state.get(kind, {})
        for ref, stored in docs.items():
            if entity == "contact" and stored.get("archived"):
                continue
            if entity == "ticket" and ref in foreign:
                continue  # closed: out of the projection (R17); or the portal's
            if entity == "comment":
                if stored.get("isInternal") or stored.get("contactId") or stored.get("ticketId") in foreign:
                    continue  # taken back, or written in the portal
                if stored.get("attachments"):
                    held[f"attachment:{ref}"] = stored
                    continue
            held[f"{entity}:{ref}"] = stored
        result.counts[entity] = sum(1 for k in held if k.startswith(entity + ":"))
    result.counts["attachment"] = sum(1 for k in held if k.startswith("attachment:"))
    files = casavi_state.get("files", {})
    for key, desired in expected.items():
        found = held.get(key)
        if found is None:
            result.missing.append(key)
        elif not holds(desired, found, files):
            result.different.append(key)
    result.extra = sorted(set(held) - set(expected))
    return result
