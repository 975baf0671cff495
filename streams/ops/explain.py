"""``bridge explain <entity> <ERP number or reference id>``: why an entity is (not) in casavi.

The rule decisions come from ``streams.projection.explain`` over the worker's state as the
worker holds it: its ``erp-rows`` table, read from the table's changelog topic, and the sync
settings of the worker's finished projection (its meta table; the settings of this shell when
the worker has not recorded any). What the bridge did with the entity comes from the topics:
the last command for its slot (commands topic), casavi's receipt (receipts topic) and the
dead letters naming it (DLQ). Reading a topic goes through it once from its beginning
(compacted topics hold one record per key), decoding only the records of the slots asked for.

Output names rules, ERP numbers, dates, codes and settings; never personal data. ``--json``
prints the ``Explanation`` model.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from streams.commands.model import CommandCodecError, DeadLetter, decode
from streams.commands.receipts import ReceiptCodecError, decode_receipt
from streams.ops.offsets import read_topic
from streams.projection.explain import (
    CommandSeen,
    ExplainedEntity,
    Explanation,
    LetterSeen,
    ReceiptSeen,
    SlotHistory,
    explain,
    with_history,
)
from streams.projection.project import effective_today
from streams.projection.state import ErpState
from streams.settings import BridgeSettings, KafkaSettings, SyncSettings
from streams.worker.rowcodec import loads_entry, parse_row_key

log = logging.getLogger(__name__)

ROWS_TABLE = "erp-rows"
SETTINGS_KEY = "settings"


def table_key(key: bytes) -> str:
    """A key of a worker table as Faust writes it to the changelog (a ``str`` key as a JSON string)."""
    text = key.decode()
    if text.startswith('"'):
        try:
            decoded = json.loads(text)
        except ValueError:
            return text
        return decoded if isinstance(decoded, str) else text
    return text


def changelog(kafka: KafkaSettings, table: str) -> str:
    """The changelog topic of one of the worker's tables (Faust: ``<app id>-<table>-changelog``)."""
    return f"{kafka.worker_app_id}-{table}-changelog"


def worker_state(kafka: KafkaSettings) -> ErpState:
    """The worker's ERP state: the latest entry per key of its ``erp-rows`` changelog."""
    latest: dict[bytes, bytes | None] = {}
    for r in read_topic(kafka, changelog(kafka, ROWS_TABLE), lambda key: key is not None):
        latest[r.key] = r.value
    state = ErpState()
    for key, value in latest.items():
        if value is None:
            continue
        row, _ = loads_entry(value)
        if row is not None:
            table, _ = parse_row_key(table_key(key))
            state.set_row(table, row)
    return state


def worker_settings(settings: BridgeSettings) -> tuple[SyncSettings, bool]:
    """The sync settings of the worker's finished projection, or this shell's (False)."""
    kafka = settings.kafka
    stored: bytes | None = None
    for r in read_topic(kafka, changelog(kafka, f"worker-meta-{settings.casavi.system}"),
                        lambda key: key is not None and table_key(key) == SETTINGS_KEY):
        stored = r.value
    if stored:
        try:
            sync = SyncSettings.model_validate_json(stored)
            return sync.model_copy(update={"today": settings.sync.today}), True
        except ValueError:
            pass
    return settings.sync, False


def histories(kafka: KafkaSettings, slots: set[str], entities: Mapping[str, str]) -> dict[str, SlotHistory]:
    """What the bridge did with each slot: last command, casavi's receipt, dead letters."""
    out = {slot: SlotHistory(slot=slot) for slot in slots}
    wanted = {slot.encode() for slot in slots}
    for r in read_topic(kafka, kafka.commands_topic, lambda key: key in wanted):
        if r.value is None:
            continue
        try:
            c = decode(r.value)
        except CommandCodecError:
            continue
        out[c.slot].last_command = CommandSeen(op=c.op, content_hash=c.content_hash, emitted_at_ms=c.emitted_at_ms,
                                               source_ts_ms=c.source_ts_ms, topic=r.topic, partition=r.partition,
                                               offset=r.offset)
    for r in read_topic(kafka, kafka.receipts_topic, lambda key: key in wanted):
        if r.value is None:
            continue
        try:
            rc = decode_receipt(r.value)
        except ReceiptCodecError:
            continue
        out[rc.slot].receipt = ReceiptSeen(status=rc.status, op=rc.op, error_code=rc.error_code, at_ms=rc.at_ms,
                                           content_hash=rc.content_hash)
    refs = {slot.split(":", 1)[1].encode(): slot for slot in slots}
    for r in read_topic(kafka, kafka.dlq_topic, lambda key: key in refs):
        try:
            letter = DeadLetter.model_validate_json(r.value or b"")
        except ValueError:
            continue
        slot = refs[r.key]
        if letter.reference_id is None or (letter.entity not in (None, entities[slot])):
            continue
        out[slot].dead_letters.append(LetterSeen(stage=letter.stage, error_code=letter.error_code,
                                                 reason=letter.reason, at_ms=letter.at_ms, topic=letter.topic,
                                                 partition=letter.partition, offset=letter.offset))
    for h in out.values():
        command, receipt = h.last_command, h.receipt
        if command is not None and receipt is not None:
            same = receipt.op == command.op and receipt.content_hash == command.content_hash
            h.receipt = receipt.model_copy(update={"matches_last_command": same})
    return out


def build(settings: BridgeSettings, entity: ExplainedEntity, key: str) -> tuple[Explanation, bool]:
    """The explanation with history, and whether the worker's own settings were used."""
    sync, from_worker = worker_settings(settings)
    state = worker_state(settings.kafka)
    result = explain(state, sync, effective_today(sync), entity, key)
    slots = {m.slot: m.entity for m in result.matches if m.slot is not None}
    if slots:
        result = with_history(result, histories(settings.kafka, set(slots), slots))
    return result, from_worker


def _at(ms: int | None) -> str:
    if not ms:
        return "-"
    return datetime.fromtimestamp(ms / 1000, timezone.utc).isoformat(timespec="seconds")


def render(result: Explanation, from_worker: bool) -> str:
    lines = [f"{result.entity} {result.query} on {result.today} "
             f"({'the worker' if from_worker else 'this shell'}'s sync settings): {len(result.matches)} found"
             + (" (more not shown)" if result.truncated else "")]
    for m in result.matches:
        erp = ", ".join(f"{k} {v}" for k, v in m.erp.items() if k != "table")
        verdict = "in the projection" if m.included else f"not in the projection: {m.reason}"
        lines.append("")
        lines.append(f"{m.entity} {m.reference_id or '(no reference id)'} (erp.{m.erp['table']}: {erp}): {verdict}")
        for d in m.decisions:
            lines.append(f"  {'+' if d.passed else '-'} {d.line()}")
        h = m.history
        if h is None:
            continue
        c = h.last_command
        if c is None:
            lines.append("  last command: none on the commands topic")
        else:
            commit = f", ERP commit {_at(c.source_ts_ms)}" if c.source_ts_ms else ""
            lines.append(f"  last command: {c.op} at {_at(c.emitted_at_ms)}{commit} ({c.topic}[{c.partition}]@{c.offset})")
        r = h.receipt
        if r is None:
            lines.append("  casavi: no receipt yet")
        else:
            code = f" {r.error_code}" if r.error_code else ""
            stale = " (an earlier command)" if r.matches_last_command is False else ""
            lines.append(f"  casavi: {r.op} {r.status}{code} at {_at(r.at_ms)}{stale}")
        for letter in h.dead_letters:
            lines.append(f"  dead letter: {_at(letter.at_ms)} {letter.stage} {letter.error_code or '-'}: {letter.reason}")
    return "\n".join(lines)


def run(args: argparse.Namespace, settings: BridgeSettings) -> int:
    try:
        result, from_worker = build(settings, args.entity, args.key)
    except TimeoutError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps({**result.model_dump(mode="json"), "worker_settings": from_worker}, indent=2))
    else:
        print(render(result, from_worker))
    if not result.matches:
        print(f"no {args.entity} {args.key!r} in the worker's state (ERP number or reference id)", file=sys.stderr)
        return 3
    return 0
