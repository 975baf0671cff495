"""Projection roots: the unit of re-projection.

A root names a small group of casavi entities that are always projected together:

* ``PropertyRoot(property_id)`` — the casavi property with its addresses (buildings);
* ``UnitRoot(unit_id)`` — the casavi unit and its contracts;
* ``PersonRoot(person_id)`` — the casavi contact;
* ``StaffRoot(user_id)`` — the casavi staff member;
* ``DocumentRoot(document_id)`` — the casavi document (R16);
* ``TicketRoot(ticket_id)`` — the casavi ticket (or pinboard post) with its comments and
  attachments (R17–R19).

Every casavi entity belongs to exactly one root, so "what this root emitted last time"
is well defined and the diff can delete what a root no longer produces (R13).
``root.key`` is the root's stable string form (``P:12``, ``U:34``, ``C:56``, ``S:7``, ``D:8``, ``T:9``), kept in
the last-emitted table; ``parse_root_key`` reverses it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PropertyRoot:
    property_id: int

    @property
    def key(self) -> str:
        return f"P:{self.property_id}"


@dataclass(frozen=True, slots=True)
class UnitRoot:
    unit_id: int

    @property
    def key(self) -> str:
        return f"U:{self.unit_id}"


@dataclass(frozen=True, slots=True)
class PersonRoot:
    person_id: int

    @property
    def key(self) -> str:
        return f"C:{self.person_id}"


@dataclass(frozen=True, slots=True)
class StaffRoot:
    user_id: int

    @property
    def key(self) -> str:
        return f"S:{self.user_id}"


@dataclass(frozen=True, slots=True)
class DocumentRoot:
    document_id: int

    @property
    def key(self) -> str:
        return f"D:{self.document_id}"


@dataclass(frozen=True, slots=True)
class TicketRoot:
    ticket_id: int

    @property
    def key(self) -> str:
        return f"T:{self.ticket_id}"


Root = PropertyRoot | UnitRoot | PersonRoot | StaffRoot | DocumentRoot | TicketRoot

# each kind of root with the ERP table whose one-column key names it, in ``root_sort_key`` order
ROOT_TABLES: tuple[tuple[type[Root], str], ...] = (
    (PropertyRoot, "property"), (StaffRoot, "staff_user"), (PersonRoot, "person"),
    (UnitRoot, "unit"), (DocumentRoot, "document"), (TicketRoot, "ticket"))


def parse_root_key(key: str) -> Root:
    kind, _, num = key.partition(":")
    try:
        n = int(num)
    except ValueError:
        raise ValueError(f"not a root key: {key!r}") from None
    if kind == "P":
        return PropertyRoot(n)
    if kind == "U":
        return UnitRoot(n)
    if kind == "C":
        return PersonRoot(n)
    if kind == "S":
        return StaffRoot(n)
    if kind == "D":
        return DocumentRoot(n)
    if kind == "T":
        return TicketRoot(n)
    raise ValueError(f"not a root key: {key!r}")


def root_sort_key(root: Root) -> tuple[int, int]:
    """A deterministic order over roots (properties, staff, persons, units, documents, tickets)."""
    if isinstance(root, PropertyRoot):
        return (0, root.property_id)
    if isinstance(root, StaffRoot):
        return (1, root.user_id)
    if isinstance(root, PersonRoot):
        return (2, root.person_id)
    if isinstance(root, DocumentRoot):
        return (4, root.document_id)
    if isinstance(root, TicketRoot):
        return (5, root.ticket_id)
    return (3, root.unit_id)
