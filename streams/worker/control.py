"""Control records (the control topic, ``docs/control.md``): what one worker batch's records
ask for, and the records other commands write (redrive, resync)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from streams.settings import KafkaSettings

# Written by the worker itself while a pass over many roots is queued: the next batch comes
# (and projects the next chunk) even when no change arrives.
PASS_RECORD = json.dumps({"kind": "pass"}).encode()
REDRIVE_CHUNK = 10_000  # slots per redrive record (keeps a record well under Kafka's 1 MB)

log = logging.getLogger(__name__)


@dataclass
class Control:
    """What the control records of one batch ask for: a tick, a redrive of slots, a full sync."""

    tick: bool = False
    resync: bool = False
    reproject: bool = False
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
        elif kind == "reproject":
            self.reproject = True
        elif kind == "pass":
            pass
        elif kind == "redrive" and isinstance(doc.get("slots"), list):
            self.slots.extend(s for s in doc["slots"] if isinstance(s, str) and ":" in s)
        else:
            self.unreadable += 1
            log.warning("a control record of unknown kind was skipped")


def redrive_records(slots: Sequence[str], reason: str) -> list[tuple[bytes, bytes]]:
    """``redrive`` records (key, value) for ``slots``, at most ``REDRIVE_CHUNK`` slots each."""
    at = time.time()
    return [(b"redrive", json.dumps({"kind": "redrive", "at": at, "slots": list(slots[i:i + REDRIVE_CHUNK]),
                                     "reason": reason}).encode()) for i in range(0, len(slots), REDRIVE_CHUNK)]


def resync_record(reason: str) -> tuple[bytes, bytes]:
    return b"resync", json.dumps({"kind": "resync", "at": time.time(), "reason": reason}).encode()


def send_control(kafka: KafkaSettings, records: Sequence[tuple[bytes, bytes]], client_id: str) -> None:
    """Write control records to the control topic and wait until Kafka has them."""
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=kafka.bootstrap_servers.split(","), acks="all", client_id=client_id)
    try:
        for key, value in records:
            producer.send(kafka.ticks_topic, key=key, value=value)
        producer.flush(timeout=60)
    finally:
        producer.close()
