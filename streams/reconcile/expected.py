"""What the bridge expects casavi to hold: the worker's emitted table, read from its changelog.

The worker keeps, per casavi system, one entry per slot it has sent and casavi has not
refused (``streams/worker/processor.py``); the table's changelog topic
``<worker app id>-emitted-<system>-changelog`` is compacted, so reading it from the
beginning to its end gives the table as the worker last wrote it, without stopping the
worker. Entries of commands casavi refused carry a ``failed:`` hash and count as expected.
"""

from __future__ import annotations

import json
import time

from kafka import KafkaConsumer, TopicPartition

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
    topic = emitted_changelog(kafka, system)
    consumer = KafkaConsumer(bootstrap_servers=kafka.bootstrap_servers.split(","), client_id="casavi-bridge-reconcile",
                             enable_auto_commit=False, group_id=None)
    entries: dict[str, EmittedEntry] = {}
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        if not tps:
            return entries
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        ends = consumer.end_offsets(tps)
        deadline = time.monotonic() + timeout_s
        while any(consumer.position(tp) < ends[tp] for tp in tps):
            if time.monotonic() > deadline:
                raise TimeoutError(f"reading {topic} took longer than {timeout_s:.0f} s")
            for records in consumer.poll(timeout_ms=500, max_records=10_000).values():
                for r in records:
                    slot = slot_of_key(r.key)
                    if r.value is None:
                        entries.pop(slot, None)
                    else:
                        entries[slot] = EmittedEntry.from_dict(json.loads(r.value))
    finally:
        consumer.close()
    return entries
