"""What ``bridge hooks`` does with a ticket or comment casavi tells it about, from a REST hook or
a poll: the portal's go to the inbound topic once, the bridge's own never (no echo loop),
internal comments never (R19).

``Intake`` decides; a ``Publisher`` writes. ``KafkaPublisher`` keeps the keys already on the
inbound topic in an index on disk, read back from the topic at start, so a ticket seen by a
hook and by a poll, twice by a hook, or again after a restart is published once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from streams.inbound.model import InboundEvent, InboundSource, Provenance, comment_event, encode, ticket_event
from streams.sink.content import TopicIndex

log = logging.getLogger(__name__)


class Publisher(Protocol):
    async def publish(self, event: InboundEvent) -> bool:
        """Write the event unless its key is on the topic already; whether it was written."""


class MemoryPublisher:
    """Events by key, in a list (tests)."""

    def __init__(self) -> None:
        self.events: list[InboundEvent] = []

    async def publish(self, event: InboundEvent) -> bool:
        if any(e.event_id == event.event_id for e in self.events):
            return False
        self.events.append(event)
        return True


class KafkaPublisher(TopicIndex):
    """The inbound topic, written once per key."""

    def __init__(self, bootstrap_servers: str, topic: str, index_path: Path | str) -> None:
        super().__init__(bootstrap_servers, topic, index_path)
        self._producer: Any = None
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        from aiokafka import AIOKafkaProducer

        await super().start()
        if self._producer is None:
            self._producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap_servers, acks="all",
                                              enable_idempotence=True)
            await self._producer.start()
            await self.catch_up()  # what earlier runs wrote (also after a crash between write and mark)

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None
        await super().stop()

    async def publish(self, event: InboundEvent) -> bool:
        async with self._lock:
            if self.index.where(event.event_id) is not None:
                return False
            meta = await self._producer.send_and_wait(self.topic, encode(event), key=event.event_id.encode())
            self.index.mark(event.event_id, meta.partition, meta.offset)
            return True


@dataclass
class IntakeStats:
    hooks_received: int = 0
    hooks_refused: int = 0
    polls: int = 0
    published: int = 0
    duplicates: int = 0
    skipped_bridge: int = 0  # the bridge's own tickets and comments
    skipped_internal: int = 0
    last_poll_at: float | None = None
    subscriptions: list[str] = field(default_factory=list)

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"pid": _pid(), "updated_at": time.time(), **self.__dict__}))
        tmp.replace(path)


def _pid() -> int:
    import os

    return os.getpid()


class Intake:
    def __init__(self, publisher: Publisher, separator: str, erp_user: str | None,
                 stats: IntakeStats | None = None) -> None:
        self.publisher = publisher
        self.provenance = Provenance(separator)
        self.erp_user = erp_user
        self.stats = stats or IntakeStats()

    async def _publish(self, event: InboundEvent) -> bool:
        if await self.publisher.publish(event):
            self.stats.published += 1
            log.info("inbound: %s published (%s)", event.event_id, event.source)
            return True
        self.stats.duplicates += 1
        return False

    async def ticket(self, ticket: dict[str, Any], source: InboundSource) -> bool:
        """A ticket casavi holds: published when it was made in the portal."""
        if self.provenance.erp_ticket_no(ticket["id"]) is not None:
            self.stats.skipped_bridge += 1
            return False
        return await self._publish(ticket_event(ticket, source, self.erp_user, int(time.time() * 1000)))

    async def comment(self, ticket: dict[str, Any], comment: dict[str, Any], source: InboundSource) -> bool:
        """A comment of a ticket: published unless internal or written by the bridge."""
        if comment.get("isInternal") is not False:
            self.stats.skipped_internal += 1
            return False
        if self.provenance.bridge_comment(ticket["id"], comment["id"]):
            self.stats.skipped_bridge += 1
            return False
        return await self._publish(comment_event(ticket, comment, self.provenance.erp_ticket_no(ticket["id"]), source,
                                                 self.erp_user, int(time.time() * 1000)))

    async def comments(self, ticket: dict[str, Any], comments: Sequence[dict[str, Any]], source: InboundSource) -> int:
        return sum([await self.comment(ticket, c, source) for c in comments])
