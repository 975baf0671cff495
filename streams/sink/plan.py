"""Turn a batch of casavi commands into the imports that apply it, in an order casavi accepts (R20).

Pure: no I/O, no clock. ``plan_batch`` returns up to five phases: three imports (``POST
/import``) between the staff calls (``/staff``, ``import_contract`` rule 9):

0. ``staff``: every staff upsert, one ``POST /staff`` each — before the import whose
   responsibilities name them.
A. ``upsert``: every other upsert of the batch in one body. Contacts, properties and
   responsibilities at the top;
   units and contracts nested in containers (``import_contract.nest``). Items for the same
   property (or unit) are merged into one: a property that is itself upserted carries its
   units in the same item. casavi applies contacts, properties, units, contracts in that
   order inside one import, so parents always precede their children.
B. ``delete``: deletes of contracts, units and properties. A delete whose parent is deleted
   in the same phase is *implied* (casavi cascades property → units → contracts) and is not
   sent: its outcome is the parent's. This keeps bodies small and avoids sending a child
   delete inside the container of a parent that the same import has just deleted.
C. ``contact_delete``: each contact is archived (portal access ended, personal data erased)
   and then deleted (two items in the ``contacts`` list). It runs after B because a contact
   cannot be deleted while a contract names it.
D. ``staff_delete``: one ``DELETE /staff/{id}`` each, after B removed the responsibilities
   naming them.

Documents (``import_contract`` rule 11) go through ``/documents``, one request each:
``documents`` (upserts) right after A, when what they are shared with exists, and
``document_delete`` right before B, before what they are shared with is deleted. A
document's ``contentRef`` is replaced by its content when it is sent (``apply``).

Tickets and posts (rules 12, 15), then comments and attachments (rules 13, 14) go through
their own endpoints, one call each, after the documents: ``tickets``, ``comments``. Their
deletes come before the document deletes: ``comment_delete`` (a comment is made internal),
``ticket_delete`` (a ticket is closed, a post deleted). A comment delete of a ticket closed in
the same batch is implied: the comment stays with the closed ticket, as the tenant saw it.

Empty phases are left out. Inside a batch only the last command per casavi entity counts
(commands carry the full desired state), keyed by (entity, reference id).

Each phase keeps, per command, the result keys that decide its outcome (``Target``), so
the job's per-item results map back to commands; ``build_phase`` rebuilds a phase from a
subset of its commands, which is how a rejected import is bisected.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from streams.casavi import import_contract as contract
from streams.casavi.models import EntityType
from streams.commands.model import CasaviCommand

PhaseKind = Literal["staff", "upsert", "documents", "tickets", "comments", "comment_delete", "ticket_delete",
                    "document_delete", "delete", "contact_delete", "staff_delete"]
PHASE_ORDER: tuple[PhaseKind, ...] = ("staff", "upsert", "documents", "tickets", "comments", "comment_delete",
                                      "ticket_delete", "document_delete", "delete", "contact_delete", "staff_delete")
STAFF_PHASES: frozenset[PhaseKind] = frozenset({"staff", "staff_delete"})  # calls of /staff, not imports
DOCUMENT_PHASES: frozenset[PhaseKind] = frozenset({"documents", "document_delete"})  # calls of /documents
# calls of /tickets, /posts, /tickets/{id}/comments, /files
TICKET_PHASES: frozenset[PhaseKind] = frozenset({"tickets", "comments", "comment_delete", "ticket_delete"})
ItemKey = tuple[EntityType, str]

# Cascades (import_contract rule 4): which parent entity a delete is implied by.
_PARENT_CHAIN: dict[EntityType, tuple[EntityType, ...]] = {
    "unit": ("property",),
    "contract": ("property", "unit"),
    "responsibility": ("property",),
    "comment": ("ticket",),
    "attachment": ("ticket",),
}


@dataclass(frozen=True)
class PlannedCommand:
    """The command that counts for one casavi entity in the batch.

    ``index`` is its position in the batch (the last command for the entity);
    ``first_index`` the earliest position of any command it replaced (``superseded``).
    """

    index: int
    first_index: int
    command: CasaviCommand
    superseded: tuple[int, ...] = ()

    @property
    def key(self) -> ItemKey:
        return (self.command.entity, self.command.reference_id)


@dataclass(frozen=True)
class Target:
    """Which result items decide a command's outcome.

    ``own``: the item that shows it was applied (for an implied delete, the parent's delete).
    ``ancestors``: containers (or the deleted parent) it depends on; a failure there fails it.
    """

    own: ItemKey
    ancestors: tuple[ItemKey, ...] = ()


@dataclass(frozen=True)
class ImportPhase:
    kind: PhaseKind
    commands: tuple[PlannedCommand, ...]  # in referential order (parents first)
    body: dict[str, list[dict[str, Any]]]
    targets: dict[int, Target] = field(default_factory=dict)  # PlannedCommand.index -> Target

    def __len__(self) -> int:
        return len(self.commands)


def collapse(commands: Sequence[CasaviCommand]) -> list[PlannedCommand]:
    """The last command per (entity, reference id), in order of their first appearance."""
    first: dict[ItemKey, int] = {}
    all_positions: dict[ItemKey, list[int]] = {}
    for i, cmd in enumerate(commands):
        key = (cmd.entity, cmd.reference_id)
        first.setdefault(key, i)
        all_positions.setdefault(key, []).append(i)
    planned = [
        PlannedCommand(index=positions[-1], first_index=first[key], command=commands[positions[-1]],
                       superseded=tuple(positions[:-1]))
        for key, positions in all_positions.items()
    ]
    return sorted(planned, key=lambda p: p.first_index)


def phase_of(command: CasaviCommand) -> PhaseKind:
    if command.entity == "staff":
        return "staff" if command.op == "UPSERT" else "staff_delete"
    if command.entity == "document":
        return "documents" if command.op == "UPSERT" else "document_delete"
    if command.entity in ("ticket", "post"):
        return "tickets" if command.op == "UPSERT" else "ticket_delete"
    if command.entity in ("comment", "attachment"):
        return "comments" if command.op == "UPSERT" else "comment_delete"
    if command.op == "UPSERT":
        return "upsert"
    return "contact_delete" if command.entity == "contact" else "delete"


def plan_batch(commands: Sequence[CasaviCommand]) -> list[ImportPhase]:
    """The imports that apply ``commands``, in the order they must run; empty phases omitted."""
    by_kind: dict[PhaseKind, list[PlannedCommand]] = {kind: [] for kind in PHASE_ORDER}
    for planned in collapse(commands):
        by_kind[phase_of(planned.command)].append(planned)
    closing = frozenset(p.command.reference_id for p in by_kind["ticket_delete"] if p.command.entity == "ticket")
    return [build_phase(kind, by_kind[kind], closing) for kind in PHASE_ORDER if by_kind[kind]]


def _ancestor_keys(cmd: CasaviCommand) -> tuple[ItemKey, ...]:
    chain = _PARENT_CHAIN.get(cmd.entity, ())
    return tuple(zip(chain, cmd.parent_ids, strict=False))


class _Tree:
    """Top-level import lists, merging items that name the same property or unit."""

    def __init__(self) -> None:
        self.contacts: list[dict[str, Any]] = []
        self.responsibilities: list[dict[str, Any]] = []
        self.staff: list[dict[str, Any]] = []  # the /staff calls of a staff phase (not an import)
        self.documents: list[dict[str, Any]] = []  # the /documents calls of a document phase
        self.properties: dict[str, dict[str, Any]] = {}
        self.units: dict[tuple[str, str], dict[str, Any]] = {}

    def property(self, property_id: str) -> dict[str, Any]:
        return self.properties.setdefault(property_id, contract.container(property_id))

    def unit(self, property_id: str, unit_id: str) -> dict[str, Any]:
        key = (property_id, unit_id)
        if key not in self.units:
            item = contract.container(unit_id)
            self.property(property_id).setdefault("units", []).append(item)
            self.units[key] = item
        return self.units[key]

    def place(self, cmd: CasaviCommand, item: dict[str, Any]) -> None:
        """Put ``item`` where ``import_contract.nest`` says it belongs, merged with containers."""
        top, nested = contract.nest(cmd.entity, cmd.reference_id, cmd.parent_ids, item)
        if top == "contacts":
            self.contacts.append(nested)
        elif top == "responsibilities":
            self.responsibilities.append(nested)
        elif cmd.entity == "property":
            self.property(cmd.reference_id).update(item)
        elif cmd.entity == "unit":
            (property_id,) = cmd.parent_ids
            self.unit(property_id, cmd.reference_id).update(item)
        else:
            property_id, unit_id = cmd.parent_ids
            self.unit(property_id, unit_id).setdefault("contracts", []).append(item)

    def body(self) -> dict[str, list[dict[str, Any]]]:
        body: dict[str, list[dict[str, Any]]] = {}
        if self.contacts:
            body["contacts"] = self.contacts
        if self.properties:
            body["properties"] = list(self.properties.values())
        if self.responsibilities:
            body["responsibilities"] = self.responsibilities
        if self.staff:
            body["staff"] = self.staff
        if self.documents:
            body["documents"] = self.documents
        return body


def build_phase(kind: PhaseKind, commands: Iterable[PlannedCommand], closing: frozenset[str] = frozenset()
                ) -> ImportPhase:
    """One import for ``commands`` (all of phase ``kind``); ``closing``: tickets the batch closes."""
    ordered = tuple(sorted(commands, key=lambda p: (p.command.level, p.first_index)))
    tree = _Tree()
    targets: dict[int, Target] = {}
    deleted = {p.key for p in ordered} if kind == "delete" else set()
    for planned in ordered:
        cmd = planned.command
        ancestors = _ancestor_keys(cmd)
        if kind in TICKET_PHASES:
            if kind == "comment_delete" and cmd.parent_ids and cmd.parent_ids[0] in closing:
                targets[planned.index] = Target(("ticket", cmd.parent_ids[0]))  # implied: kept with the ticket
            else:
                targets[planned.index] = Target(planned.key)
        elif kind in STAFF_PHASES or kind in DOCUMENT_PHASES:
            calls = tree.staff if kind in STAFF_PHASES else tree.documents
            calls.append({**cmd.document, "id": cmd.reference_id} if cmd.document is not None
                         else contract.delete_item(cmd.reference_id))
            targets[planned.index] = Target(planned.key)
        elif kind == "upsert":
            if cmd.document is None:
                raise ValueError(f"upsert of {cmd.entity} {cmd.reference_id} has no document")
            item = {**cmd.document, "id": cmd.reference_id}
            if cmd.entity == "contact":
                # Full state includes "not archived": a contact archived by an earlier delete
                # that did not go through becomes active again when it is upserted — unless the
                # document itself archives it (a reconcile revoking an ended tenant's access).
                item.setdefault(contract.ARCHIVE_FLAG, False)
            tree.place(cmd, item)
            targets[planned.index] = Target(planned.key, ancestors)
        elif kind == "delete":
            implied_by = [a for a in ancestors if a in deleted]
            if implied_by:
                # The outermost deleted ancestor is the one that is sent.
                targets[planned.index] = Target(implied_by[0])
            else:
                tree.place(cmd, contract.delete_item(cmd.reference_id))
                targets[planned.index] = Target(planned.key, ancestors)
        else:
            tree.contacts.append(contract.archive_item(cmd.reference_id))
            tree.contacts.append(contract.delete_item(cmd.reference_id))
            targets[planned.index] = Target(planned.key)
    return ImportPhase(kind=kind, commands=ordered, body=tree.body(), targets=targets)
