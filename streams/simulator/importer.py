"""How the casavi simulator applies ``POST /import``: exactly the rules of
``streams.casavi.import_contract``, against a ``Store``, without HTTP.

Two stages:

* ``check_structure`` — the request's shape (a JSON object of lists of objects, every
  item with a non-empty string ``id``, ``delete`` a boolean, nested lists as lists).
  Problems here reject the whole request (HTTP 400), naming the field path.
* ``apply_import`` — every item on its own, in the contract's order; an item that
  breaks a rule fails with an error code, the others go on.

Error messages name fields, entities and reference ids, never the values sent.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from streams.casavi.import_contract import (
    ARCHIVE_FLAG,
    CONTENT_TOO_LARGE,
    DELETE_FLAG,
    MAX_CONTENT_BYTES,
    NESTED_LISTS,
    STAFF_IN_USE,
    is_archive_only,
    is_container,
)
from streams.casavi.models import DOCUMENT_TYPES, SHARE_KEYS, EntityType, ImportItemResult, ItemStatus
from streams.simulator.store import Store

MISSING_REFERENCE = "MISSING_REFERENCE"
INVALID_FIELD = "INVALID_FIELD"
CONTACT_NOT_ARCHIVED = "CONTACT_NOT_ARCHIVED"
CONTACT_IN_USE = "CONTACT_IN_USE"

# The import body's lists and the entity their items are; applied in this order (rule 7).
TOP_LEVEL: dict[str, EntityType] = {"contacts": "contact", "properties": "property",
                                    "responsibilities": "responsibility"}

# The parent an entity is nested under (rule 2), derived from the contract's nesting.
PARENT: dict[EntityType, EntityType] = {
    nested[1]: parent for parent, nested in NESTED_LISTS.items() if nested is not None
}

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_MAX_PROBLEMS = 20

Item = dict[str, Any]


@dataclass(frozen=True)
class Problem:
    """A structural problem of an import request: where, and what is wrong (no values)."""

    path: str
    message: str


def check_structure(body: object) -> list[Problem]:
    """The request-level checks; an empty list means the request is well-formed."""
    problems: list[Problem] = []
    if not isinstance(body, dict):
        return [Problem("", "the import body must be a JSON object")]
    for key in body:
        if key not in TOP_LEVEL:
            problems.append(Problem(str(key), f"unknown list; expected one of {', '.join(TOP_LEVEL)}"))
    for key, entity in TOP_LEVEL.items():
        value = body.get(key)
        if value is None:
            continue
        if not isinstance(value, list):
            problems.append(Problem(key, "must be an array"))
            continue
        for index, item in enumerate(value):
            _check_item(entity, item, f"{key}[{index}]", problems)
    return problems[:_MAX_PROBLEMS]


def _check_item(entity: EntityType, item: object, path: str, problems: list[Problem]) -> None:
    if not isinstance(item, dict):
        problems.append(Problem(path, "must be an object"))
        return
    reference_id = item.get("id")
    if not isinstance(reference_id, str) or not reference_id:
        problems.append(Problem(f"{path}.id", "must be a non-empty string"))
    if DELETE_FLAG in item and not isinstance(item[DELETE_FLAG], bool):
        problems.append(Problem(f"{path}.{DELETE_FLAG}", "must be a boolean"))
    nested = NESTED_LISTS[entity]
    if nested is None:
        return
    name, child = nested
    children = item.get(name)
    if children is None:
        return
    if not isinstance(children, list):
        problems.append(Problem(f"{path}.{name}", "must be an array"))
        return
    for index, child_item in enumerate(children):
        _check_item(child, child_item, f"{path}.{name}[{index}]", problems)


def plan(body: Mapping[str, Any]) -> list[tuple[EntityType, str | None, Item]]:
    """The items in the order they are applied (rule 7): contacts, properties, then
    every unit, then every contract — each with the id of the item it is nested in."""
    level: list[tuple[EntityType, str | None, Item]] = []
    for key, entity in TOP_LEVEL.items():
        level.extend((entity, None, item) for item in body.get(key) or [])
    ordered: list[tuple[EntityType, str | None, Item]] = []
    while level:
        ordered.extend(level)
        next_level: list[tuple[EntityType, str | None, Item]] = []
        for entity, _, item in level:
            nested = NESTED_LISTS[entity]
            if nested is not None:
                name, child = nested
                next_level.extend((child, item["id"], child_item) for child_item in item.get(name) or [])
        level = next_level
    return ordered


def apply_import(store: Store, body: Mapping[str, Any], honour_deletes: bool = True) -> list[ImportItemResult]:
    """Apply a well-formed import (see ``check_structure``); one result per item.
    ``honour_deletes=False``: a casavi that documents ``"delete": true`` only for documents and
    ignores it on master data — the item is answered ``unchanged`` and nothing is deleted."""
    with store.transaction():
        return [_apply_item(store, entity, parent, item, honour_deletes) for entity, parent, item in plan(body)]


def _result(entity: EntityType, reference_id: str, status: ItemStatus, code: str | None = None,
            error: str | None = None) -> ImportItemResult:
    return ImportItemResult(entity=entity, id=reference_id, status=status, error_code=code, error=error)


def _apply_item(store: Store, entity: EntityType, parent: str | None, item: Item,
                honour_deletes: bool = True) -> ImportItemResult:
    reference_id: str = item["id"]
    if item.get(DELETE_FLAG) is True:
        if not honour_deletes:
            return _result(entity, reference_id, "unchanged" if store.exists(entity, reference_id) else "absent")
        return _delete(store, entity, reference_id)
    if is_container(item, entity):
        return _result(entity, reference_id, "unchanged" if store.exists(entity, reference_id) else "absent")

    current = store.get(entity, reference_id)
    fields = {key: value for key, value in item.items() if key not in _control_keys(entity)}
    archived: object = None
    if entity == "contact":
        archived = fields.pop(ARCHIVE_FLAG, None)
        if archived is not None and not isinstance(archived, bool):
            return _result(entity, reference_id, "failed", INVALID_FIELD, f"{ARCHIVE_FLAG}: must be a boolean")
        if current is None and archived is True and is_archive_only(fields):
            return _result(entity, reference_id, "absent")  # archiving what is not there: nothing to do

    if parent is not None and not store.exists(PARENT[entity], parent):
        return _result(entity, reference_id, "failed", MISSING_REFERENCE, f"{PARENT[entity]} {parent} does not exist")

    stored_doc = {k: v for k, v in current.doc.items() if k != ARCHIVE_FLAG} if current else _NULLS[entity]
    candidate = {**stored_doc, **fields, "id": reference_id}
    try:
        doc = DOCUMENT_TYPES[entity].model_validate_json(json.dumps(candidate), strict=True).wire()
    except ValidationError as exc:
        return _result(entity, reference_id, "failed", INVALID_FIELD, _describe(exc))
    problem = _check_fields(entity, doc)
    if problem:
        return _result(entity, reference_id, "failed", INVALID_FIELD, problem)

    refs: list[tuple[EntityType, str]] = []
    if entity == "contract":
        refs = [("contact", party["contactId"]) for party in doc["contacts"]]
    elif entity == "responsibility":  # rule 10: kept under its property, naming its staff member
        parent = doc["propertyId"]
        refs = [("property", parent), ("staff", doc["staffId"])]
    missing = sorted({f"{target} {target_id}" for target, target_id in refs if not store.exists(target, target_id)})
    if missing:
        return _result(entity, reference_id, "failed", MISSING_REFERENCE, f"{', '.join(missing)} does not exist")

    was_archived = bool(current and current.doc.get(ARCHIVE_FLAG))
    if entity == "contact":
        doc[ARCHIVE_FLAG] = was_archived if archived is None else archived
    status: ItemStatus
    if current is None:
        status = "created"
    elif current.doc == doc and current.parent == parent:
        status = "unchanged"
    elif entity == "contact" and doc[ARCHIVE_FLAG] and not was_archived:
        status = "archived"
    else:
        status = "updated"
    if status != "unchanged":
        store.put(entity, reference_id, parent, doc, refs)
    return _result(entity, reference_id, status)


def _delete(store: Store, entity: EntityType, reference_id: str) -> ImportItemResult:
    current = store.get(entity, reference_id)
    if current is None:
        return _result(entity, reference_id, "absent")
    if entity == "contact":
        if not current.doc.get(ARCHIVE_FLAG):
            return _result(entity, reference_id, "failed", CONTACT_NOT_ARCHIVED,
                           f"contact {reference_id} must be archived before it is deleted")
        users = [ref_id for ref_entity, ref_id in store.referrers("contact", reference_id) if ref_entity == "contract"]
        if users:
            return _result(entity, reference_id, "failed", CONTACT_IN_USE,
                           f"contact {reference_id} is named by contract {', '.join(users)}")
    _delete_tree(store, entity, reference_id)
    return _result(entity, reference_id, "deleted")


def _delete_tree(store: Store, entity: EntityType, reference_id: str) -> None:
    """Delete an entity and what is nested under it (rule 4), a property's responsibilities too,
    and the documents shared with it (rule 11)."""
    nested = NESTED_LISTS[entity]
    children = [nested[1]] if nested is not None else []
    if entity == "property":
        children.append("responsibility")
    for child in children:
        for stored in store.children(child, reference_id):
            _delete_tree(store, child, stored.id)
    for referrer, referrer_id in store.referrers(entity, reference_id):
        if referrer == "document":
            store.delete("document", referrer_id)
    store.delete(entity, reference_id)


# --- documents (rule 11: POST /documents, one document per request) --------------------------

CONTENT_SHA256 = "contentSha256"  # what the simulator keeps of a document's content: digest and size
CONTENT_SIZE = "contentSize"


def check_document(body: object) -> list[Problem]:
    """The request-level checks of ``POST /documents``: a JSON object with a non-empty ``id``."""
    if not isinstance(body, dict):
        return [Problem("", "the document must be a JSON object")]
    problems: list[Problem] = []
    if not isinstance(body.get("id"), str) or not body["id"]:
        problems.append(Problem("id", "must be a non-empty string"))
    if DELETE_FLAG in body and not isinstance(body[DELETE_FLAG], bool):
        problems.append(Problem(DELETE_FLAG, "must be a boolean"))
    return problems


def apply_document(store: Store, body: Mapping[str, Any], max_content_bytes: int = MAX_CONTENT_BYTES,
                   honour_deletes: bool = True) -> ImportItemResult:
    """Upsert or delete one document (rule 11). The content is checked (base64, size) and kept as
    its digest and size only."""
    reference_id: str = body["id"]
    with store.transaction():
        if body.get(DELETE_FLAG) is True:
            if not store.exists("document", reference_id):
                return _result("document", reference_id, "absent")
            if not honour_deletes:
                return _result("document", reference_id, "unchanged")
            store.delete("document", reference_id)
            return _result("document", reference_id, "deleted")
        fields = {k: v for k, v in body.items() if k != DELETE_FLAG}
        try:
            doc = DOCUMENT_TYPES["document"].model_validate_json(json.dumps(fields), strict=True).wire()
        except ValidationError as exc:
            return _result("document", reference_id, "failed", INVALID_FIELD, _describe(exc))
        if not doc["title"].strip():
            return _result("document", reference_id, "failed", INVALID_FIELD, "title: must not be empty")
        content = doc.pop("content")
        if content is None and not (doc["location"] and doc["resource"]):
            return _result("document", reference_id, "failed", INVALID_FIELD,
                           "content, or location and resource, are required")
        if content is not None:
            try:
                raw = base64.b64decode(content, validate=True)
            except (binascii.Error, ValueError):
                return _result("document", reference_id, "failed", INVALID_FIELD, "content: not base64")
            if len(raw) > max_content_bytes:
                return _result("document", reference_id, "failed", CONTENT_TOO_LARGE,
                               f"content: {len(raw)} bytes, more than the {max_content_bytes} bytes allowed")
            doc[CONTENT_SHA256], doc[CONTENT_SIZE] = hashlib.sha256(raw).hexdigest(), len(raw)
        refs = [(SHARE_KEYS[k], v) for share in doc["sharedWith"] for k, v in share.items()]
        missing = sorted({f"{target} {target_id}" for target, target_id in refs if not store.exists(target, target_id)})
        if missing:
            return _result("document", reference_id, "failed", MISSING_REFERENCE, f"{', '.join(missing)} does not exist")
        current = store.get("document", reference_id)
        status: ItemStatus = "created" if current is None else "unchanged" if current.doc == doc else "updated"
        if status != "unchanged":
            store.put("document", reference_id, None, doc, refs)
    return _result("document", reference_id, status)


# --- staff (rule 9: POST /staff, DELETE /staff/{id}) -----------------------------------------

def put_staff(store: Store, body: object) -> tuple[ImportItemResult, dict[str, Any] | None]:
    """Create or update a staff member from a ``POST /staff`` body; the stored member, or a
    ``failed`` result (``INVALID_FIELD``) and None."""
    reference_id = body.get("id") if isinstance(body, dict) else None
    rid = reference_id if isinstance(reference_id, str) and reference_id else "?"
    if not isinstance(body, dict):
        return _result("staff", rid, "failed", INVALID_FIELD, "the body must be a JSON object"), None
    try:
        doc = DOCUMENT_TYPES["staff"].model_validate_json(json.dumps(body), strict=True).wire()
    except ValidationError as exc:
        return _result("staff", rid, "failed", INVALID_FIELD, _describe(exc)), None
    problem = _check_fields("staff", doc)
    if problem:
        return _result("staff", rid, "failed", INVALID_FIELD, problem), None
    with store.transaction():
        current = store.get("staff", rid)
        status: ItemStatus = "created" if current is None else "unchanged" if current.doc == doc else "updated"
        if status != "unchanged":
            store.put("staff", rid, None, doc)
    return _result("staff", rid, status), doc


def delete_staff(store: Store, reference_id: str, honour_deletes: bool = True) -> ImportItemResult:
    """``DELETE /staff/{id}``: ``absent`` (404) for an unknown id, ``failed``/``STAFF_IN_USE``
    while a responsibility names the staff member."""
    with store.transaction():
        if not store.exists("staff", reference_id):
            return _result("staff", reference_id, "absent")
        if not honour_deletes:
            return _result("staff", reference_id, "unchanged")
        users = [ref_id for entity, ref_id in store.referrers("staff", reference_id) if entity == "responsibility"]
        if users:
            return _result("staff", reference_id, "failed", STAFF_IN_USE,
                           f"staff {reference_id} is named by responsibility {', '.join(users)}")
        store.delete("staff", reference_id)
    return _result("staff", reference_id, "deleted")


def _control_keys(entity: EntityType) -> set[str]:
    """Item keys that steer the import rather than set a field."""
    nested = NESTED_LISTS[entity]
    return {"id", DELETE_FLAG} | ({nested[0]} if nested else set())


def _check_fields(entity: EntityType, doc: Mapping[str, Any]) -> str | None:
    """Checks beyond the wire model's types."""
    if entity in ("contact", "staff") and doc.get("email") is not None and not _EMAIL.match(doc["email"]):
        return "email: not an e-mail address"
    if entity == "staff" and not (doc["firstName"].strip() and doc["lastName"].strip()):
        return "firstName, lastName: must not be empty"
    if entity == "property":
        address_ids = [address["id"] for address in doc["addresses"]]
        if any(not address_id for address_id in address_ids):
            return "addresses[].id: must be a non-empty string"
        if len(set(address_ids)) != len(address_ids):
            return "addresses[].id: must be unique within the property"
    if entity == "contract" and any(not party["contactId"] for party in doc["contacts"]):
        return "contacts[].contactId: must be a non-empty string"
    return None


def _describe(exc: ValidationError) -> str:
    """The fields that failed and why — pydantic's messages without the input values."""
    parts = []
    for error in exc.errors(include_input=False, include_url=False)[:5]:
        path = ""
        for loc in error["loc"]:
            path += f"[{loc}]" if isinstance(loc, int) else (f".{loc}" if path else str(loc))
        parts.append(f"{path or 'item'}: {error['msg']}")
    return "; ".join(parts)


def _nullable_required(entity: EntityType) -> dict[str, Any]:
    """A new entity starts with every nullable field null (rule 1: absent = null on create);
    fields that may not be null must be sent."""
    nulls: dict[str, Any] = {}
    for name, field in DOCUMENT_TYPES[entity].model_fields.items():
        if field.is_required() and _allows_none(field.annotation):
            nulls[field.alias or name] = None
    return nulls


def _allows_none(annotation: object) -> bool:
    origin = typing.get_origin(annotation)
    return (origin is typing.Union or origin is types.UnionType) and type(None) in typing.get_args(annotation)


_NULLS: dict[EntityType, dict[str, Any]] = {entity: _nullable_required(entity) for entity in DOCUMENT_TYPES}
