"""How the casavi simulator keeps tickets, comments, files, posts and REST hook subscriptions:
exactly ``import_contract`` rules 12–16, against a ``Store``, without HTTP.

Every function answers ``(HTTP status, JSON body)``. Error bodies name fields, entities and
reference ids, never the values sent. The portal side (``portal_ticket``, ``portal_comment``)
is what a tenant does in casavi's app: it returns the REST hook events to deliver.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, cast

from pydantic import BaseModel, ConfigDict, ValidationError

from streams.casavi.import_contract import MAX_CONTENT_BYTES
from streams.casavi.models import Comment, EntityType, Post, Ticket
from streams.simulator.importer import _describe
from streams.simulator.store import Store, StoreEntity

Answer = tuple[int, Any]
Clock = Callable[[], datetime]

# the events a subscription may name: the five of the API text and the two assumed (rule 16)
HOOK_EVENTS = frozenset({"contact_created", "contact_updated", "contact_archived", "document_downloaded",
                         "contract_enddate_updated", "ticket_created", "ticket_comment_created"})
TICKET_META = ("internalId", "createdAt", "lastModified", "closedAt")  # kept by casavi, not sent by clients
COMMENT_META = ("createdAt", "contactId")


def _err(status: int, code: str, message: str) -> Answer:
    return status, {"error": code, "message": message}


def _iso(clock: Clock) -> str:
    return clock().isoformat().replace("+00:00", "Z")


def _missing(store: Store, refs: list[tuple[StoreEntity, str]]) -> Answer | None:
    missing = sorted({f"{entity} {ref}" for entity, ref in refs if not store.exists(entity, ref)})
    return _err(422, "MISSING_REFERENCE", f"{', '.join(missing)} does not exist") if missing else None


def _next_internal_id(store: Store, entity: StoreEntity) -> int:
    return 1 + store.max_number(entity, *(("internalId", "id") if entity == "file" else ("internalId",)))


# --- tickets (rule 12) ---------------------------------------------------------------------------

def _ticket_refs(doc: Mapping[str, Any]) -> list[tuple[StoreEntity, str]]:
    refs: list[tuple[StoreEntity, str]] = [("property", doc["propertyId"])]
    if doc.get("unitId"):
        refs.append(("unit", doc["unitId"]))
    for contact in {doc.get("contactId"), *doc.get("sharedWithContacts", [])} - {None}:
        refs.append(("contact", cast(str, contact)))
    if doc.get("assignedToId"):
        refs.append(("staff", doc["assignedToId"]))
    return refs


def _valid_ticket(fields: Mapping[str, Any]) -> dict[str, Any] | Answer:
    try:
        doc = Ticket.model_validate_json(json.dumps(fields), strict=True).wire()
    except ValidationError as exc:
        return _err(400, "INVALID_FIELD", _describe(exc))
    if not doc["title"].strip():
        return _err(400, "INVALID_FIELD", "title: must not be empty")
    return doc


def _fill(fields: Mapping[str, Any]) -> dict[str, Any]:
    """A new ticket starts with the optional fields empty (absent = null on create)."""
    empty: dict[str, Any] = {"number": None, "description": None, "type": None, "unitId": None, "status": "OPEN", "statusText": None,
             "contactId": None, "sharedWithContacts": [], "sharedWithProperty": False, "assignedToId": None,
             "reportedAt": None, "customFields": {}}
    return {**empty, **fields}


def create_ticket(store: Store, body: object, clock: Clock) -> Answer:
    if not isinstance(body, dict) or not isinstance(body.get("id"), str) or not body["id"]:
        return _err(400, "INVALID_FIELD", "id: must be a non-empty string")
    with store.transaction():
        if store.exists("ticket", body["id"]):
            return _err(409, "TICKET_EXISTS", f"ticket {body['id']} exists")
        doc = _valid_ticket(_fill(body))
        if isinstance(doc, tuple):
            return doc
        missing = _missing(store, _ticket_refs(doc))
        if missing:
            return missing
        now = _iso(clock)
        stored = {**doc, "internalId": _next_internal_id(store, "ticket"), "createdAt": now, "lastModified": now,
                  "closedAt": now if doc["status"] == "CLOSED" else None}
        store.put("ticket", doc["id"], None, stored, _ticket_refs(doc))
    return 200, stored


def update_ticket(store: Store, ticket_id: str, body: object, clock: Clock) -> Answer:
    if not isinstance(body, dict):
        return _err(400, "INVALID_FIELD", "the body must be a JSON object")
    with store.transaction():
        current = store.get("ticket", ticket_id)
        if current is None:
            return _err(404, "not_found", "no such ticket")
        held = {k: v for k, v in current.doc.items() if k not in TICKET_META}
        doc = _valid_ticket({**held, **{k: v for k, v in body.items() if k not in ("comment", "suppressRatingRequest")},
                             "id": ticket_id})
        if isinstance(doc, tuple):
            return doc
        missing = _missing(store, _ticket_refs(doc))
        if missing:
            return missing
        now = _iso(clock)
        closed = current.doc.get("closedAt") if doc["status"] == "CLOSED" else None
        if doc["status"] == "CLOSED" and held.get("status") != "CLOSED":
            closed = now
        meta = {**{k: current.doc.get(k) for k in TICKET_META}, "closedAt": closed}
        if doc != held:
            meta["lastModified"] = now
        stored = {**doc, **meta}
        store.put("ticket", ticket_id, None, stored, _ticket_refs(doc))
    return 200, stored


def list_tickets(store: Store, page: int, since: str | None, statuses: list[str], property_id: str | None,
                 unit_id: str | None, page_size: int) -> Answer:
    rows = [s.doc for s in store.all("ticket")]
    rows = [t for t in rows if (since is None or (t.get("lastModified") or "") >= since)
            and (not statuses or t["status"] in statuses)
            and (property_id is None or t["propertyId"] == property_id)
            and (unit_id is None or t.get("unitId") == unit_id)]
    rows.sort(key=lambda t: (t.get("lastModified") or "", t["id"]))
    return 200, rows[(page - 1) * page_size:page * page_size]


# --- comments and files (rules 13, 14) -------------------------------------------------------------

def create_comment(store: Store, ticket_id: str, body: object, clock: Clock, contact_id: str | None = None
                   ) -> Answer:
    if not isinstance(body, dict):
        return _err(400, "INVALID_FIELD", "the body must be a JSON object")
    with store.transaction():
        if not store.exists("ticket", ticket_id):
            return _err(404, "not_found", "no such ticket")
        fields = {"id": str(uuid.uuid4()), **body}
        try:
            doc = Comment.model_validate_json(json.dumps(fields), strict=True).wire()
        except ValidationError as exc:
            return _err(400, "INVALID_FIELD", _describe(exc))
        if not doc["text"].strip():
            return _err(400, "INVALID_FIELD", "text: must not be empty")
        if store.exists("comment", doc["id"]):
            return _err(409, "COMMENT_EXISTS", f"comment {doc['id']} exists")
        refs: list[tuple[StoreEntity, str]] = [("file", str(f)) for f in doc["attachments"]]
        if doc["authorId"]:
            refs.append(("staff", doc["authorId"]))
        missing = _missing(store, refs)
        if missing:
            return missing
        stored = {**doc, "createdAt": _iso(clock), "contactId": contact_id}
        store.put("comment", doc["id"], ticket_id, stored, refs)
        _touch(store, ticket_id, clock)
    return 200, stored


def update_comment(store: Store, ticket_id: str, comment_id: str, body: object, clock: Clock) -> Answer:
    if not isinstance(body, dict):
        return _err(400, "INVALID_FIELD", "the body must be a JSON object")
    with store.transaction():
        current = store.get("comment", comment_id)
        if current is None or current.parent != ticket_id:
            return _err(404, "not_found", "no such comment")
        text, internal = body.get("text", current.doc["text"]), body.get("isInternal", current.doc["isInternal"])
        if not isinstance(text, str) or not text.strip() or not isinstance(internal, bool):
            return _err(400, "INVALID_FIELD", "text: a non-empty string; isInternal: a boolean")
        stored = {**current.doc, "text": text, "isInternal": internal}
        if stored != current.doc:
            store.put("comment", comment_id, ticket_id, stored, [("file", str(f)) for f in stored["attachments"]])
            _touch(store, ticket_id, clock)
    return 200, stored


def list_comments(store: Store, ticket_id: str, page: int, page_size: int) -> Answer:
    if not store.exists("ticket", ticket_id):
        return _err(404, "not_found", "no such ticket")
    rows = sorted((s.doc for s in store.children("comment", ticket_id)), key=lambda c: (c["createdAt"], c["id"]))
    return 200, rows[(page - 1) * page_size:page * page_size]


def _touch(store: Store, ticket_id: str, clock: Clock) -> None:
    ticket = store.get("ticket", ticket_id)
    if ticket is not None:
        store.put("ticket", ticket_id, None, {**ticket.doc, "lastModified": _iso(clock)}, _ticket_refs(ticket.doc))


def create_file(store: Store, name: str | None, content_type: str | None, data: bytes,
                max_bytes: int = MAX_CONTENT_BYTES) -> Answer:
    """``POST /files``: only the digest and size of the content are kept."""
    if not name:
        return _err(400, "INVALID_FIELD", "X-Filename: required")
    if len(data) > max_bytes:
        return _err(413, "CONTENT_TOO_LARGE", f"file of {len(data)} bytes, more than {max_bytes}")
    with store.transaction():
        file_id = _next_internal_id(store, "file")
        doc = {"id": file_id, "name": name, "contentType": content_type or "application/octet-stream",
               "contentSha256": hashlib.sha256(data).hexdigest(), "contentSize": len(data)}
        store.put("file", str(file_id), None, doc)
    return 200, {"id": file_id}


# --- posts (rule 15) ----------------------------------------------------------------------------------

def _valid_post(fields: Mapping[str, Any], store: Store) -> dict[str, Any] | Answer:
    try:
        doc = Post.model_validate_json(json.dumps(fields), strict=True).wire()
    except ValidationError as exc:
        return _err(400, "INVALID_FIELD", _describe(exc))
    if not (doc["title"].strip() and doc["text"].strip()):
        return _err(400, "INVALID_FIELD", "title, text: must not be empty")
    missing = _missing(store, [("property", doc["propertyId"]), ("staff", doc["authorId"])])
    return missing or doc


def create_post(store: Store, body: object, clock: Clock) -> Answer:
    if not isinstance(body, dict):
        return _err(400, "INVALID_FIELD", "the body must be a JSON object")
    with store.transaction():
        fields = {"id": str(uuid.uuid4()), **body}
        if store.exists("post", fields["id"]):
            return _err(409, "POST_EXISTS", f"post {fields['id']} exists")
        doc = _valid_post(fields, store)
        if isinstance(doc, tuple):
            return doc
        stored = {**doc, "internalId": _next_internal_id(store, "post"), "createdAt": _iso(clock)}
        store.put("post", doc["id"], None, stored, [("property", doc["propertyId"]), ("staff", doc["authorId"])])
    return 200, stored


def update_post(store: Store, post_id: str, body: object) -> Answer:
    if not isinstance(body, dict):
        return _err(400, "INVALID_FIELD", "the body must be a JSON object")
    with store.transaction():
        current = store.get("post", post_id)
        if current is None:
            return _err(404, "not_found", "no such post")
        held = {k: v for k, v in current.doc.items() if k not in ("internalId", "createdAt")}
        doc = _valid_post({**held, **body, "id": post_id}, store)
        if isinstance(doc, tuple):
            return doc
        stored = {**current.doc, **doc}
        store.put("post", post_id, None, stored, [("property", doc["propertyId"]), ("staff", doc["authorId"])])
    return 200, stored


def delete_post(store: Store, post_id: str) -> Answer:
    with store.transaction():
        if not store.exists("post", post_id):
            return _err(404, "not_found", "no such post")
        store.delete("post", post_id)
    return 200, {"id": post_id, "status": "deleted"}


# --- REST hooks (rule 16) -------------------------------------------------------------------------

class HookRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    eventName: str  # noqa: N815 - casavi's field name
    hookUrl: str  # noqa: N815


def subscribe(store: Store, body: object, https_only: bool) -> Answer:
    try:
        hook = HookRequest.model_validate(body)
    except ValidationError as exc:
        return _err(400, "INVALID_FIELD", _describe(exc))
    if hook.eventName not in HOOK_EVENTS:
        return _err(400, "INVALID_FIELD", f"eventName: one of {', '.join(sorted(HOOK_EVENTS))}")
    if not hook.hookUrl.startswith(("https://",) if https_only else ("https://", "http://")):
        return _err(400, "INVALID_FIELD", "hookUrl: an https:// URL")
    with store.transaction():
        hook_id = 1 + max((int(s.id) for s in store.all("hook")), default=0)
        store.put("hook", str(hook_id), None, {"id": hook_id, "eventName": hook.eventName, "hookUrl": hook.hookUrl})
    return 201, {"id": hook_id}


def unsubscribe(store: Store, hook_id: str) -> Answer:
    with store.transaction():
        if not store.exists("hook", hook_id):
            return _err(404, "not_found", "no such hook")
        store.delete("hook", hook_id)
    return 200, {"id": int(hook_id)}


def event(name: str, payload: dict[str, Any], clock: Clock, tenant_id: int = 1) -> dict[str, Any]:
    """The API text's REST hook event model."""
    return {"eventId": str(uuid.uuid4()), "eventName": name, "eventTimestamp": _iso(clock), "tenantId": tenant_id,
            "payload": payload}


def subscribers(store: Store, name: str) -> list[str]:
    return [s.doc["hookUrl"] for s in store.all("hook") if s.doc["eventName"] == name]


# --- the portal side: what tenants do in casavi's app ----------------------------------------------

class PortalTicket(BaseModel):
    model_config = ConfigDict(extra="forbid")

    propertyId: str  # noqa: N815
    unitId: str | None = None  # noqa: N815
    contactId: str  # noqa: N815
    title: str
    description: str | None = None
    type: str | None = None


def portal_ticket(store: Store, body: object, clock: Clock) -> tuple[Answer, list[dict[str, Any]]]:
    """A tenant reports something in the portal: a ticket with a generated id (a UUID), shared
    with them; and the ``ticket_created`` events to deliver."""
    try:
        req = PortalTicket.model_validate(body)
    except ValidationError as exc:
        return _err(400, "INVALID_FIELD", _describe(exc)), []
    number = 1 + max((int(s.doc.get("number") or 0) for s in store.all("ticket")), default=10000)
    answer = create_ticket(store, {"id": str(uuid.uuid4()), "number": number, "title": req.title,
                                   "description": req.description, "type": req.type, "propertyId": req.propertyId,
                                   "unitId": req.unitId, "status": "OPEN", "contactId": req.contactId,
                                   "sharedWithContacts": [req.contactId], "reportedAt": _iso(clock)}, clock)
    if answer[0] != 200:
        return answer, []
    ticket = answer[1]
    return answer, [event("ticket_created", {"id": ticket["id"], "internalId": ticket["internalId"]}, clock)]


class PortalComment(BaseModel):
    model_config = ConfigDict(extra="forbid")

    contactId: str | None = None  # noqa: N815 - a tenant; none: a manager in casavi
    text: str
    isInternal: bool = False  # noqa: N815


def portal_comment(store: Store, ticket_id: str, body: object, clock: Clock
                   ) -> tuple[Answer, list[dict[str, Any]]]:
    """A comment written in casavi (by a tenant, or internal by a manager) and its events."""
    try:
        req = PortalComment.model_validate(body)
    except ValidationError as exc:
        return _err(400, "INVALID_FIELD", _describe(exc)), []
    if req.contactId is not None and not store.exists("contact", req.contactId):
        return _err(422, "MISSING_REFERENCE", f"contact {req.contactId} does not exist"), []
    answer = create_comment(store, ticket_id, {"text": req.text, "isInternal": req.isInternal,
                                               "fallbackToAccount": True}, clock, contact_id=req.contactId)
    if answer[0] != 200:
        return answer, []
    return answer, [event("ticket_comment_created", {"ticketId": ticket_id, "commentId": answer[1]["id"]}, clock)]


def ticket_entities() -> dict[EntityType, str]:
    """The ticket side of ``GET /_sim/state``: entity -> key."""
    return {"ticket": "tickets", "post": "posts", "comment": "comments"}
