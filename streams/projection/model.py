"""Values the projection hands to the worker: desired documents and emitted entries.

Both are keyed by a *slot key* ``"<entity>:<reference id>"`` (``slot_key``): casavi keeps
contacts, properties, units and contracts in separate id spaces, so the entity is part
of the key and a person number can never collide with a property id.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from streams.casavi.models import EntityType
from streams.commands.model import CasaviCommand, content_hash


def slot_key(entity: EntityType, reference_id: str) -> str:
    return f"{entity}:{reference_id}"


@dataclass(frozen=True, slots=True)
class Desired:
    """One casavi entity as the projection wants it: the full document (wire JSON)."""

    entity: EntityType
    reference_id: str
    parent_ids: tuple[str, ...]
    document: dict[str, Any]
    content_hash: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if not self.content_hash:
            object.__setattr__(self, "content_hash", content_hash(self.document))

    @property
    def key(self) -> str:
        return slot_key(self.entity, self.reference_id)


@dataclass(frozen=True, slots=True)
class EmittedEntry:
    """What was last emitted for one slot: enough to skip an unchanged upsert and to
    send a delete (entity, id, parents) once the slot leaves the projection."""

    entity: EntityType
    reference_id: str
    content_hash: str
    parent_ids: tuple[str, ...]
    root: str

    @property
    def key(self) -> str:
        return slot_key(self.entity, self.reference_id)

    @classmethod
    def of(cls, command: CasaviCommand, root: str) -> EmittedEntry:
        return cls(command.entity, command.reference_id, command.content_hash, command.parent_ids, root)

    def to_dict(self) -> dict[str, Any]:
        return {"entity": self.entity, "reference_id": self.reference_id, "content_hash": self.content_hash,
                "parent_ids": list(self.parent_ids), "root": self.root}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EmittedEntry:
        return cls(d["entity"], d["reference_id"], d["content_hash"], tuple(d["parent_ids"]), d["root"])
