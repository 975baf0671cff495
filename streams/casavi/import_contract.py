"""How an item of ``POST /import`` is applied: the one place this is decided.

The casavi API text documents upsert-by-reference-id for the import and ``"delete": true``
for documents, but is silent on deleting master data. The bridge (and the casavi
simulator, which enforces exactly these rules) assume:

1. **Upsert by reference id.** An item creates or updates the entity with its ``id``.
   Fields absent from an item are left unchanged; a field sent as ``null`` is cleared.
   The bridge always sends every field, so an upsert sets the full state. An item whose
   resulting entity does not satisfy its wire model (``models``: a required field missing,
   a wrong type, an invalid e-mail) fails with ``INVALID_FIELD``.
2. **Nesting.** ``properties[].units[].contracts[]``. A parent item that carries only
   ``id`` and a nested list is a *container*: it names an existing parent (or one
   created earlier in the same import) and changes none of its fields. Its result is
   ``unchanged``, or ``absent`` when that parent does not exist: then its nested upserts
   fail on their own (rule 6) and its nested deletes still apply (rule 3).
3. **Delete.** ``{"id": …, "delete": true}`` (as documented for documents) deletes an
   entity. Deleting an entity that does not exist succeeds (status ``absent``), so
   deletes are idempotent.
4. **Cascade.** Deleting a property deletes its units; deleting a unit deletes its
   contracts (and documents).
5. **Contacts.** A contact must be archived (``"archived": true``) before it is deleted
   (an earlier item of the same import counts), and a contact still named by a
   contract cannot be deleted (``CONTACT_NOT_ARCHIVED``, ``CONTACT_IN_USE``).
   ``archived`` is a field like any other (rule 1): absent leaves it as it is, ``false``
   makes the contact active again. Archiving reports ``archived``; archiving a contact
   that does not exist reports ``absent``. The archive item before a delete also sets
   ``portalUser`` to false (seed 000's way of removing a person: ``PortalUser=False``) and
   overwrites every personal field with null (``ERASED_CONTACT``), so a casavi that keeps
   the contact (a delete it does not honour or refuses, e.g. while something else still
   names it) still ends the person's portal access and holds none of their data (R11);
   an archive item of only these fields creates nothing.
6. **Referential integrity.** A unit needs its property, a contract its unit and every
   contact it names, a responsibility its property and its staff member; otherwise the
   item fails with ``MISSING_REFERENCE``.
7. **Order inside one import.** Items are applied in this order: ``contacts`` (in list
   order), then ``properties``, then ``responsibilities``, then the properties' ``units``,
   then those units' ``contracts``. Each item is applied on its own: one failed item does
   not stop the others, and the job's results list every item with its status.

8. **Reading back.** ``GET /properties``, ``/properties/{id}/units`` and ``/contacts`` return
   the fields of an entity as they were imported (same names and formats), so a document
   read back hashes like the document sent; archived contacts are not listed. The per-item
   ``results`` of a job are a hint: the API text shows ``"results": {}``, so an item without
   a result counts as applied (unconfirmed) and only reading back (``bridge reconcile``)
   confirms it.

9. **Staff** (``/staff``). The API text documents ``POST /staff`` (id, firstName,
   lastName, email, role MANAGER/ADMIN/EDITOR; "further imports can update the staff
   member"), ``GET /staff`` and ``GET /staff/{id}``. Assumed: ``POST /staff`` upserts by
   id and answers the staff member; a body that breaks the model (``models.Staff``: a
   name missing, an unknown field, a role outside the three) is refused with 400 and
   ``INVALID_FIELD``. Deleting is not in the text: ``DELETE /staff/{id}`` is assumed; it
   answers 404 for an unknown id (the bridge counts that as deleted) and 409
   ``STAFF_IN_USE`` while a responsibility names the staff member.
10. **Responsibilities.** The import's ``responsibilities`` list is named in the text, its
   model is not. Assumed: an item is ``models.Responsibility`` (``id``, ``propertyId``,
   ``staffId``, ``responsible``, ``team``), upserted by ``id`` like every item (absent
   fields unchanged, ``"delete": true`` deletes), ``MISSING_REFERENCE`` when the property
   or the staff member does not exist; deleting a property deletes its responsibilities
   (rule 4), and ``GET /properties/{id}`` lists them under ``responsibilities`` (the API
   text's sample shows that key).

11. **Documents** (the documents import; the API text gives its fields but no path:
   ``POST /documents`` is assumed, answered like ``/import`` with a ``jobId`` whose job lists
   the document under ``results.items`` with entity ``document``). One document per request,
   as the text's request body shows; upserted by ``id`` (the text: "existing documents are
   updated"), ``{"id": …, "delete": true}`` deletes (absent: ``absent``). ``title`` is
   required, and ``content`` (base64); ``location``/``resource`` are not used. ``sharedWith``
   is a list of objects whose fields the text does not give: each names exactly one
   ``propertyId``, ``unitId``, ``contractId`` or ``contactId``, which must exist
   (``MISSING_REFERENCE``); the bridge sends one, what the ERP row names most narrowly.
   Deleting what a document is shared with deletes the document (rule 4). ``type`` is a list
   of strings (the type or document class), ``publishedAt`` an ISO date-time.
   **Size limit:** the text states 10 MB for files (``/files``) and nothing for documents;
   the same limit is assumed for a document's content: ``MAX_CONTENT_BYTES`` (10 MiB) of
   decoded content; a larger one fails with ``CONTENT_TOO_LARGE``. A documents request may be
   as large as such a document in base64 with its fields (``MAX_DOCUMENT_REQUEST_BYTES``).
   ``GET /documents/{id}`` answers the document without its content.

12. **Tickets** (``/tickets``). ``POST /tickets`` creates a ticket; its ``id`` "should be unique":
   a second create with the same id is refused (409 ``TICKET_EXISTS``). ``PUT /tickets/{id}``
   sets the fields sent (404 for an unknown id), ``GET /tickets/{id}`` and ``GET /tickets``
   (``page`` from 1, 25 a page; ``date``: tickets created or changed at or after it; ``status``,
   ``propertyId``, ``unitId``) read them. Besides the fields of the text's create body, the
   fields of its ticket model ``sharedWithProperty``, ``reportedAt`` and ``customFields`` (an
   object of strings) are taken; ``customFields`` carries what the model has no field for
   (hints, trade, technical object, responsible team, due dates, priority). A body that breaks
   ``models.Ticket`` is refused with 400 ``INVALID_FIELD``; a ``propertyId``, ``unitId``,
   ``contactId``, ``sharedWithContacts`` entry or ``assignedToId`` (a staff member) that does not
   exist with 422 ``MISSING_REFERENCE``. A ticket created in the portal gets a generated id (a
   UUID, as the text's examples show); the bridge's own tickets carry its reference ids. The
   bridge never deletes a ticket: one that leaves the projection is closed (``PUT`` with
   ``status`` ``CLOSED``), so the tenant keeps its history.
13. **Comments** (``/tickets/{id}/comments``). ``POST`` creates one (409 ``COMMENT_EXISTS`` for an id
   the ticket has), ``PUT /tickets/{id}/comments/{commentId}`` sets ``text`` and ``isInternal``
   (404 for an unknown comment), ``GET`` lists a ticket's comments (25 a page, pages from 1; the
   text's sample answer is ``{}``: each comment is assumed to carry its fields, ``createdAt`` and,
   written by a tenant in the portal, ``contactId``). The text has no delete:
   the bridge removes a comment from the tenants' view by making it internal with the neutral
   text ``REMOVED_TEXT``. A comment names its author by ``authorId`` (a staff member) or
   ``authorEmail``; the bridge sends neither and ``fallbackToAccount``, with the ERP author and
   time at the top of the text. Internal comments (``isInternal``) are not shown to tenants.
14. **Files** (``POST /files``): the raw content with ``X-Filename`` and ``Content-Type``, at most
   ``MAX_CONTENT_BYTES`` (413 beyond), answered ``{"id": <int>}``. A file is attached to a ticket
   through a comment naming it in ``attachments`` (changelog 1.11.5); the bridge's attachment
   is such a comment, with the document's name as its text.
15. **Posts** (``/posts``, changelog 1.8.0): ``POST`` creates (409 ``POST_EXISTS`` for a known
   id), ``GET``/``PUT``/``DELETE /posts/{id}`` (404 for an unknown id). ``authorId`` is assumed
   to name a staff member and ``propertyId`` a property (422 ``MISSING_REFERENCE``).
16. **REST hooks.** The text gives the subscription's body (``eventName``, ``hookUrl``), its
   answer (``{"id"}`` and a ``Location`` header to delete it) but no path: ``POST /hooks`` and
   ``DELETE /hooks/{id}`` are assumed. Besides the five events it names, casavi is assumed to
   send ``ticket_created`` (payload: the ticket's ``id`` and ``internalId``) and
   ``ticket_comment_created`` (payload: ``ticketId``, ``commentId``) for tickets and comments
   made in the portal, as the text's event model (``eventId``, ``eventName``,
   ``eventTimestamp``, ``tenantId``, ``payload``), POSTed to ``hookUrl`` with the credentials
   of its ``user:password@`` part as Basic auth, and sent again while the receiver does not
   answer 2xx (up to ``HOOK_ATTEMPTS`` times).

So a sink that must delete a contract and then its contact sends two imports: the
contact delete in a later one (the sink's phases: ``streams/sink/plan.py``); staff go
through ``/staff`` before the import that names them and are deleted after it; documents go
through ``/documents`` after the import that creates what they are shared with and are
deleted before the import that deletes it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from streams.casavi.models import Contact, EntityType

DELETE_FLAG = "delete"
ARCHIVE_FLAG = "archived"
NESTED_LISTS: dict[EntityType, tuple[str, EntityType] | None] = {
    "contact": None,
    "property": ("units", "unit"),
    "unit": ("contracts", "contract"),
    "contract": None,
    "staff": None,
    "responsibility": None,
    "document": None,
    "ticket": None,
    "post": None,
    "comment": None,
    "attachment": None,
}
# Depth in the referential order: what must exist before an entity may be created.
LEVEL: dict[EntityType, int] = {"contact": 0, "property": 0, "staff": 0, "unit": 1, "responsibility": 1,
                                "contract": 2, "document": 3, "ticket": 3, "post": 1, "comment": 4, "attachment": 4}
# Rule 11: the largest document content casavi takes (decoded), and the largest documents request.
MAX_CONTENT_BYTES = 10 * 1024 * 1024
MAX_DOCUMENT_REQUEST_BYTES = (MAX_CONTENT_BYTES + 2) // 3 * 4 + 1024 * 1024
CONTENT_TOO_LARGE = "CONTENT_TOO_LARGE"
REMOVED_TEXT = "(entfernt)"  # rule 13: the text of a comment the bridge took back
HOOK_ATTEMPTS = 5  # rule 16


def delete_item(reference_id: str) -> dict[str, Any]:
    return {"id": reference_id, DELETE_FLAG: True}


PORTAL_USER = "portalUser"
STAFF_IN_USE = "STAFF_IN_USE"
# Every field of a contact but its id and portalUser, emptied: what an archived contact keeps (rule 5).
ERASED_CONTACT: dict[str, Any] = {
    field.alias or name: [] if name == "bank_accounts" else None
    for name, field in Contact.model_fields.items() if name not in ("id", "portal_user")
}


def archive_item(reference_id: str) -> dict[str, Any]:
    """Archives a contact, ends its portal access and erases its personal data (rule 5)."""
    return {"id": reference_id, ARCHIVE_FLAG: True, PORTAL_USER: False, **ERASED_CONTACT}


def is_archive_only(fields: Mapping[str, Any]) -> bool:
    """An archive item's fields (besides ``archived``): nothing that would create a contact."""
    return all(k == PORTAL_USER and v is False or ERASED_CONTACT.get(k, 0) == v for k, v in fields.items())


def container(reference_id: str) -> dict[str, Any]:
    return {"id": reference_id}


def is_container(item: Mapping[str, Any], entity: EntityType) -> bool:
    """A parent item with only an id and its nested list (rule 2)."""
    nested = NESTED_LISTS[entity]
    keys = set(item) - {"id"}
    return nested is not None and keys <= {nested[0]}


def nest(
    entity: EntityType, reference_id: str, parent_ids: Iterable[str], item: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    """Wrap an item in its parent containers; returns (top-level list name, wrapped item)."""
    parents = list(parent_ids)
    if entity == "contact":
        return "contacts", item
    if entity == "property":
        return "properties", item
    if entity == "unit":
        (property_id,) = parents
        return "properties", {**container(property_id), "units": [item]}
    if entity == "contract":
        property_id, unit_id = parents
        return "properties", {**container(property_id), "units": [{**container(unit_id), "contracts": [item]}]}
    if entity == "responsibility":
        return "responsibilities", item
    raise ValueError(f"casavi entity {entity!r} is not imported (staff go through /staff, rule 9, "
                     "documents through /documents, rule 11)")
