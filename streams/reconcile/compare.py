"""Drift between what the bridge expects casavi to hold and what casavi holds (pure)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from streams.projection.model import EmittedEntry
from streams.reconcile.observe import CasaviView, Observed

ENTITIES = ("property", "unit", "contract", "contact")


@dataclass
class Drift:
    missing: list[str] = field(default_factory=list)  # expected, casavi lacks it
    different: list[str] = field(default_factory=list)  # casavi holds other field values
    extra: list[Observed] = field(default_factory=list)  # casavi holds it, the projection does not
    revoke: list[Observed] = field(default_factory=list)  # extra contacts: their delete revokes portal access first
    persisting: list[Observed] = field(default_factory=list)  # extra in the last reconcile too: delete not honoured
    unchanged: int = 0

    @property
    def repairs(self) -> int:
        return len(self.missing) + len(self.different) + len(self.extra)

    def counts(self, expected: Iterable[str], view: CasaviView) -> dict[str, dict[str, int]]:
        def by_entity(slots: Iterable[str]) -> Counter[str]:
            return Counter(s.split(":", 1)[0] for s in slots)

        tallies = {
            "expected": by_entity(expected), "observed": by_entity(view.entities),
            "missing": by_entity(self.missing), "different": by_entity(self.different),
            "extra": by_entity(o.slot for o in self.extra), "revoked": by_entity(o.slot for o in self.revoke),
            "persisting": by_entity(o.slot for o in self.persisting),
        }
        return {e: {name: tally[e] for name, tally in tallies.items()} for e in ENTITIES}


def ownership(mandanten: list[int] | None, separator: str, contact_pattern: str) -> Callable[[Observed], bool]:
    """Which casavi entities this bridge owns: properties (and their units and contracts) of the
    selected Mandanten by their reference id (R03: ``<mandant><sep><property no>``), contacts whose
    id matches ``contact_pattern``."""
    contact_re = re.compile(contact_pattern)
    prefixes = None if mandanten is None else tuple(f"{m}{separator}" for m in mandanten)

    def owned(o: Observed) -> bool:
        if o.entity == "contact":
            return contact_re.fullmatch(o.reference_id) is not None
        property_id = o.reference_id if o.entity == "property" else (o.parent_ids[0] if o.parent_ids else "")
        return prefixes is None or property_id.startswith(prefixes)

    return owned


def compare(expected: Mapping[str, EmittedEntry], view: CasaviView, owned: Callable[[Observed], bool],
            entities: frozenset[str] | None = None, previously_extra: frozenset[str] = frozenset()) -> Drift:
    want = entities or frozenset(ENTITIES)
    drift = Drift()
    for slot, entry in sorted(expected.items()):
        if entry.entity not in want:
            continue
        held = view.entities.get(slot)
        if held is None:
            drift.missing.append(slot)
        elif held.content_hash != entry.content_hash or held.archived:
            drift.different.append(slot)
        else:
            drift.unchanged += 1
    for slot, held in sorted(view.entities.items()):
        if slot in expected or not owned(held):
            continue
        drift.extra.append(held)
        if held.entity == "contact":
            drift.revoke.append(held)  # whether or not casavi honours the delete, access ends
        if slot in previously_extra:
            drift.persisting.append(held)  # deleted by the last reconcile and still there
    return drift
