"""What the bridge expects casavi to hold: the worker's emitted table, read from its changelog.

The worker keeps, per casavi system, one entry per slot it has sent and casavi has not
refused (``streams/worker/processor.py``); the table's changelog topic
``<worker app id>-emitted-<system>-changelog`` is compacted, so reading it from the
beginning to its end gives the table as the worker last wrote it, without stopping the
worker. Entries of commands casavi refused carry a ``failed:`` hash and count as expected.
"""

from __future__ import annotations

import json

from streams.ops.offsets import read_topic
from streams.projection.model import EmittedEntry
from streams.settings import KafkaSettings


def emitted_changelog(kafka: KafkaSettings, system: str) -> str:
    return f"{kafka.worker_app_id}-emitted-{system}-changelog"


def slot_of_key(raw: bytes | str) -> str:
    """The slot a changelog key names. Faust writes ``str`` table keys JSON-encoded
    (``"contact:E1"`` with the quotes), whatever the app's raw serializers say."""
    text = raw.decode() if isinstance(raw, bytes) else raw
    if text.startswith('"'):
        decoded = json.loads(text)
        if isinstance(decoded, str):
            return decoded
    return text


def read_expected(kafka: KafkaSettings, system: str, timeout_s: float = 600.0) -> dict[str, EmittedEntry]:
    """``{slot: entry}`` as the worker's emitted table holds it now."""
    entries: dict[str, EmittedEntry] = {}
    for r in read_topic(kafka, emitted_changelog(kafka, system), timeout_s=timeout_s,
                        client_id="casavi-bridge-reconcile"):
        slot = slot_of_key(r.key)
        if r.value is None:
            entries.pop(slot, None)
        else:
            entries[slot] = EmittedEntry.from_dict(json.loads(r.value))
    return entries
