"""What casavi holds, read back through the documented GET endpoints (API text, seed 002).

* ``GET /properties?page=N`` (1-based, ``{"count", "page", "pageCount", "rows"}``),
* ``GET /properties/{id}/units?page=N&includeInactiveContracts=true`` (0-based,
  ``{"rows", "pageCount", "page"}``; each unit with its ``contracts``),
* ``GET /contacts?page=N`` (1-based, a plain list; an empty page ends it).

Each entity is reduced to the fields the bridge sends (its wire model) and hashed the way
the bridge hashes what it sends, so "different" means a field casavi holds differs from
the projection. Only reference ids, hashes and parents are kept: no document leaves this
module.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from streams.casavi.models import Contact, Contract, Property, Unit
from streams.commands.model import content_hash

Read = Callable[[str, dict[str, Any] | None], Awaitable[Any]]

_FIELDS: dict[str, frozenset[str]] = {
    entity: frozenset(f.alias or name for name, f in model.model_fields.items())
    for entity, model in (("contact", Contact), ("property", Property), ("unit", Unit), ("contract", Contract))
}


@dataclass(frozen=True)
class Observed:
    entity: str
    reference_id: str
    content_hash: str
    parent_ids: tuple[str, ...] = ()
    archived: bool = False

    @property
    def slot(self) -> str:
        return f"{self.entity}:{self.reference_id}"


@dataclass
class CasaviView:
    entities: dict[str, Observed] = field(default_factory=dict)
    requests: int = 0


def observed(entity: str, doc: dict[str, Any], parents: tuple[str, ...] = ()) -> Observed:
    """One entity as casavi returned it, reduced to the bridge's fields and hashed."""
    fields = _FIELDS[entity]
    kept = {k: v for k, v in doc.items() if k in fields}
    return Observed(entity, str(doc["id"]), content_hash(kept), parents, bool(doc.get("archived")))


async def read_casavi(read: Read, entities: frozenset[str] | None = None,
                      progress: Callable[[CasaviView], None] | None = None) -> CasaviView:
    """Every property (with its units and their contracts) and every contact casavi lists."""
    view = CasaviView()
    want = entities or frozenset(_FIELDS)

    def add(o: Observed) -> None:
        if o.entity in want:
            view.entities[o.slot] = o

    if want & {"property", "unit", "contract"}:
        page = 1
        while True:
            body = await read("/properties", {"page": page})
            view.requests += 1
            for prop in body.get("rows", []):
                add(observed("property", prop))
                if want & {"unit", "contract"}:
                    await _units(read, view, str(prop["id"]), add)
            if progress:
                progress(view)
            if page >= int(body.get("pageCount") or 0):
                break
            page += 1
    if "contact" in want:
        page = 1
        while True:
            rows = await read("/contacts", {"page": page})
            view.requests += 1
            if not rows:
                break
            for contact in rows:
                add(observed("contact", contact))
            if progress:
                progress(view)
            page += 1
    return view


async def _units(read: Read, view: CasaviView, property_id: str, add: Callable[[Observed], None]) -> None:
    page = 0
    while True:
        body = await read(f"/properties/{property_id}/units", {"page": page, "includeInactiveContracts": "true"})
        view.requests += 1
        for unit in body.get("rows", []):
            unit_id = str(unit["id"])
            add(observed("unit", unit, (property_id,)))
            for contract in unit.get("contracts") or []:
                add(observed("contract", contract, (property_id, unit_id)))
        if page + 1 >= int(body.get("pageCount") or 0):
            break
        page += 1
