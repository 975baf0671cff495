"""Control records of one worker batch (the control topic, ``docs/control.md``)."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field

log = logging.getLogger(__name__)


@dataclass
class Control:
    """What the control records of one batch ask for: a tick, a redrive of slots, a full sync."""

    tick: bool = False
    resync: bool = False
    slots: list[str] = field(default_factory=list)
    unreadable: int = 0

    def read(self, value: bytes | None) -> None:
        try:
            doc = json.loads(value) if value else {}
        except ValueError:
            doc = None
        if not isinstance(doc, dict):
            self.unreadable += 1
            log.warning("an unreadable control record was skipped")
            return
        kind = doc.get("kind", "tick")
        if kind == "tick":
            self.tick = True
        elif kind == "resync":
            self.resync = True
        elif kind == "redrive" and isinstance(doc.get("slots"), list):
            self.slots.extend(s for s in doc["slots"] if isinstance(s, str) and ":" in s)
        else:
            self.unreadable += 1
            log.warning("a control record of unknown kind was skipped")
