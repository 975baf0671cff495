"""``bridge dlq list | show | redrive``: what the DLQ holds, and a redrive of what it names.

A redrive does not re-send the old command: it asks the worker (``redrive`` control records,
``docs/control.md``) to re-project the named casavi slots from the current ERP state, so it
is run after the cause is fixed. Letters of the decode and fold stages name a CDC record, not
a slot: their row is read again with its next change.

Only the fields of a dead letter are printed (they never hold personal data); of a record
that is not a dead letter, only where it sits.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass
from datetime import datetime, timezone

from kafka.errors import KafkaError

from streams.commands.model import DeadLetter
from streams.dlq.read import read_dlq
from streams.dlq.report import (Filter, Unreadable, group, newest, parse_since, place_of, redrive_plan,
                                source_of)
from streams.settings import BridgeSettings
from streams.worker.control import redrive_records, send_control

REDRIVE_REASON = "dlq redrive"
CLIENT_ID = "casavi-bridge-dlq"


def when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%Y-%m-%d %H:%M:%S") if ms else "-"


@dataclass
class Selection:
    letters: list[DeadLetter]
    unreadable: list[Unreadable]


def select(letters: list[DeadLetter], unreadable: list[Unreadable], wanted: Filter) -> Selection:
    return Selection([x for x in letters if wanted(x)], [u for u in unreadable if wanted.admits(u)])


def _read(args: argparse.Namespace, settings: BridgeSettings) -> Selection | int:
    """The selected letters, or the exit code of a refusal (2) or of a failed read (1)."""
    try:
        since = parse_since(args.since) if args.since else None
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        letters, unreadable = read_dlq(settings.kafka)
    except (KafkaError, TimeoutError, OSError) as exc:
        print(f"error: reading {settings.kafka.dlq_topic} from {settings.kafka.bootstrap_servers} failed: {exc}",
              file=sys.stderr)
        return 1
    return select(letters, unreadable, Filter(since, args.reason, args.stage))


def list_lines(selection: Selection, topic: str) -> list[str]:
    lines = [f"{'count':>7}  {'stage':<8} {'first':<19}  {'last':<19}  reason"]
    lines += [f"{g.count:>7}  {g.stage:<8} {when(g.first_ms):<19}  {when(g.last_ms):<19}  {g.reason}"
              for g in group(selection.letters)]
    total = f"{len(selection.letters)} dead letters in {topic}"
    if selection.unreadable:
        total += f", {len(selection.unreadable)} unreadable records (bridge dlq show lists their offsets)"
    return [*lines, total]


def list_(args: argparse.Namespace, settings: BridgeSettings) -> int:
    selection = _read(args, settings)
    if isinstance(selection, int):
        return selection
    if args.json:
        print(json.dumps({"topic": settings.kafka.dlq_topic, "total": len(selection.letters),
                          "unreadable": len(selection.unreadable),
                          "groups": [asdict(g) for g in group(selection.letters)]}, indent=1))
    else:
        print("\n".join(list_lines(selection, settings.kafka.dlq_topic)))
    return 0


def show_line(entry: DeadLetter | Unreadable, topic: str) -> str:
    if isinstance(entry, Unreadable):
        return (f"{when(entry.at_ms):<19}  {'-':<7} {'unreadable':<20} {'-':<40} "
                f"{topic}[{entry.partition}]@{entry.offset}  not a dead letter")
    return (f"{when(entry.at_ms):<19}  {entry.stage:<7} {entry.error_code or '-':<20} {place_of(entry):<40} "
            f"{source_of(entry)}  {entry.reason}")


def show(args: argparse.Namespace, settings: BridgeSettings) -> int:
    if args.limit < 1:
        print("error: --limit must be at least 1", file=sys.stderr)
        return 2
    selection = _read(args, settings)
    if isinstance(selection, int):
        return selection
    merged: list[DeadLetter | Unreadable] = [*selection.letters, *selection.unreadable]
    entries = newest(merged, args.limit)
    topic = settings.kafka.dlq_topic
    if args.json:
        print(json.dumps({"letters": [e.model_dump() for e in entries if isinstance(e, DeadLetter)],
                          "unreadable": [asdict(e) for e in entries if isinstance(e, Unreadable)]}, indent=1))
        return 0
    for entry in entries:
        print(show_line(entry, topic))
    total = len(selection.letters) + len(selection.unreadable)
    if not total:
        print(f"no dead letters in {topic}")
    elif len(entries) < total:
        print(f"the newest {len(entries)} of {total} records in {topic} (--limit)")
    return 0


def redrive_lines(selection: Selection, records: int, ticks_topic: str, dry_run: bool) -> list[str]:
    plan = redrive_plan(selection.letters)
    lines: list[str] = []
    if plan.slots:
        verb = "would redrive" if dry_run else "redriven"
        lines.append(f"{verb}: {len(plan.slots)} casavi slots in {records} redrive records to {ticks_topic}"
                     f"{' (dry run, nothing sent)' if dry_run else ''}; the worker re-projects them from the "
                     "current ERP state")
        lines += [f"  {slot}" for slot in plan.slots]
    else:
        lines.append("nothing to redrive: no selected letter names a casavi slot")
    if plan.without_slot:
        lines.append(f"not redrivable: {len(plan.without_slot)} letters name a CDC record, not a casavi slot; "
                     "the next change of that row is read again:")
        lines += [f"  {place}" + (f"  ({count} letters)" if count > 1 else "")
                  for place, count in plan.places_without_slot().items()]
    if selection.unreadable:
        lines.append(f"skipped: {len(selection.unreadable)} unreadable records (bridge dlq show lists their offsets)")
    return lines


def redrive(args: argparse.Namespace, settings: BridgeSettings) -> int:
    selection = _read(args, settings)
    if isinstance(selection, int):
        return selection
    records = redrive_records(redrive_plan(selection.letters).slots, REDRIVE_REASON)
    if records and not args.dry_run:
        try:
            send_control(settings.kafka, records, CLIENT_ID)
        except (KafkaError, OSError) as exc:
            print(f"error: sending to {settings.kafka.ticks_topic} failed (some redrive records may have arrived; run it again): {exc}",
                  file=sys.stderr)
            return 1
    print("\n".join(redrive_lines(selection, len(records), settings.kafka.ticks_topic, args.dry_run)))
    return 0
