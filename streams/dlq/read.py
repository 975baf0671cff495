"""Reading the DLQ topic from its beginning to its end (nothing is consumed or committed)."""

from __future__ import annotations

from streams.commands.model import DeadLetter
from streams.dlq.report import Unreadable, parse_record
from streams.ops.offsets import read_topic
from streams.settings import KafkaSettings


def read_dlq(kafka: KafkaSettings, timeout_s: float = 300.0) -> tuple[list[DeadLetter], list[Unreadable]]:
    """Every record of ``kafka.dlq_topic`` as it holds them now."""
    letters: list[DeadLetter] = []
    unreadable: list[Unreadable] = []
    for r in read_topic(kafka, kafka.dlq_topic, timeout_s=timeout_s, client_id="casavi-bridge-dlq"):
        parsed = parse_record(r.partition, r.offset, r.value, r.timestamp)
        if isinstance(parsed, DeadLetter):
            letters.append(parsed)
        else:
            unreadable.append(parsed)
    return letters, unreadable
