"""``bridge topics tail [TOPIC]``: the newest records of a bridge topic, decoded.

``casavi.commands`` (Avro, ``schemas/casavi_command.avsc``) is decoded into its fields and
document; the personal fields of contacts and staff members are masked unless
``--show-personal-data`` is given (the operator then sees what casavi receives). The
receipts, the DLQ and the control topic are JSON without personal data and are shown as
they are. Any other topic (the CDC topics carry whole ERP rows) is shown by key, size and
time only.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from streams.casavi.import_contract import ERASED_CONTACT
from streams.casavi.models import Staff
from streams.commands.model import CommandCodecError, decode
from streams.settings import BridgeSettings, KafkaSettings

MASK = "***"
# The personal fields of a document, per entity: what a contact's archive item erases (R11), and a
# staff member's names and e-mail address.
PERSONAL_FIELDS: dict[str, frozenset[str]] = {
    "contact": frozenset(ERASED_CONTACT),
    "staff": frozenset(f.alias or n for n, f in Staff.model_fields.items() if n not in ("id", "role")),
}


def mask(value: Any) -> Any:
    """A personal value with its shape kept: a list or an object masked item by item, null stays null."""
    if value is None or value == [] or value == {}:
        return value
    if isinstance(value, list):
        return [mask(v) for v in value]
    if isinstance(value, dict):
        return {k: mask(v) for k, v in value.items()}
    return MASK


def masked_document(entity: str, document: dict[str, Any] | None) -> dict[str, Any] | None:
    fields = PERSONAL_FIELDS.get(entity, frozenset())
    if document is None or not fields:
        return document
    return {k: mask(v) if k in fields else v for k, v in document.items()}


def describe(kafka: KafkaSettings, topic: str, key: bytes | None, value: bytes | None,
             show_personal_data: bool = False) -> dict[str, Any]:
    """One record as a JSON-ready object (never personal data unless ``show_personal_data``)."""
    key_text = key.decode(errors="replace") if key is not None else None
    if topic == kafka.commands_topic:
        if value is None:
            return {"key": key_text, "tombstone": True}
        try:
            c = decode(value)
        except CommandCodecError as exc:
            return {"key": key_text, "undecodable": str(exc), "bytes": len(value)}
        document = c.document if show_personal_data else masked_document(c.entity, c.document)
        return {"key": key_text, "op": c.op, "entity": c.entity, "reference_id": c.reference_id,
                "parent_ids": list(c.parent_ids), "root": c.root, "system": c.system, "reason": c.reason,
                "emitted_at_ms": c.emitted_at_ms, "source_ts_ms": c.source_ts_ms, "content_hash": c.content_hash,
                "document": document}
    if topic in (kafka.receipts_topic, kafka.dlq_topic, kafka.ticks_topic):
        try:
            return {"key": key_text, "value": json.loads(value) if value is not None else None}
        except ValueError:
            return {"key": key_text, "undecodable": "not JSON", "bytes": len(value or b"")}
    return {"key": key_text, "bytes": None if value is None else len(value),
            "note": "content not shown: only the bridge's own topics are decoded"}


def records(kafka: KafkaSettings, topic: str, last: int, follow: bool) -> Iterator[Any]:
    """The last ``last`` records of every partition, then (``follow``) every new one until interrupted."""
    consumer = KafkaConsumer(bootstrap_servers=kafka.bootstrap_servers.split(","), client_id="casavi-bridge-tail",
                             enable_auto_commit=False, group_id=None, max_partition_fetch_bytes=16 * 2**20)
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        if not tps:
            raise LookupError(f"topic {topic} does not exist")
        consumer.assign(tps)
        begin, ends = consumer.beginning_offsets(tps), consumer.end_offsets(tps)
        for tp in tps:
            consumer.seek(tp, max(begin[tp], ends[tp] - last))
        while True:
            if not follow and all(consumer.position(tp) >= ends[tp] for tp in tps):
                return
            batch = consumer.poll(timeout_ms=500)
            for tp_records in batch.values():
                for r in tp_records:
                    if follow or r.offset < ends[TopicPartition(r.topic, r.partition)]:
                        yield r
    finally:
        consumer.close()


def _line(r: Any, item: dict[str, Any]) -> str:
    at = datetime.fromtimestamp(r.timestamp / 1000, timezone.utc).isoformat(timespec="seconds")
    head = f"{at} {r.topic}[{r.partition}]@{r.offset}"
    if "op" in item:
        doc = json.dumps(item["document"], ensure_ascii=False, separators=(",", ":")) if item["document"] else "-"
        return f"{head} {item['op']} {item['entity']} {item['reference_id']} {doc}"
    rest = {k: v for k, v in item.items() if k != "key"}
    return f"{head} key={item['key']} {json.dumps(rest, ensure_ascii=False, separators=(',', ':'))}"


def tail(args: argparse.Namespace, settings: BridgeSettings) -> int:
    kafka = settings.kafka
    topic = args.topic or kafka.commands_topic
    try:
        for r in records(kafka, topic, args.lines, args.follow):
            item = describe(kafka, topic, r.key, r.value, args.show_personal_data)
            if args.json:
                print(json.dumps({"topic": r.topic, "partition": r.partition, "offset": r.offset,
                                  "timestamp_ms": r.timestamp, **item}, ensure_ascii=False), flush=True)
            else:
                print(_line(r, item), flush=True)
    except LookupError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0
