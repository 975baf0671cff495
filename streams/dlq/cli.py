"""``bridge dlq list | show | redrive``: what the DLQ holds, and a redrive of what it names.

A redrive does not re-send the old command: it asks the worker (``redrive`` control records,
``docs/control.md``) to re-project the named casavi slots from the current ERP state, so it
is run after the cause is fixed. Letters of the decode and fold stages name a CDC record, not
a slot: their row is read again with its next change.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone

from streams.commands.model import DeadLetter
from streams.dlq.read import read_dlq
from streams.dlq.report import Filter, group, parse_since, redrive_plan, slot_of
from streams.settings import BridgeSettings
from streams.worker.control import redrive_records, send_control


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%Y-%m-%d %H:%M:%S") if ms else "-"


def _selected(args: argparse.Namespace, settings: BridgeSettings) -> tuple[list[DeadLetter], int] | None:
    try:
        since = parse_since(args.since) if args.since else None
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None
    letters, unreadable = read_dlq(settings.kafka)
    wanted = Filter(since, args.reason, args.stage)
    return [letter for letter in letters if wanted(letter)], len(unreadable)


def list_(args: argparse.Namespace, settings: BridgeSettings) -> int:
    selected = _selected(args, settings)
    if selected is None:
        return 2
    letters, unreadable = selected
    groups = group(letters)
    if args.json:
        print(json.dumps({"total": len(letters), "unreadable": unreadable,
                          "groups": [vars(g) for g in groups]}, indent=1))
        return 0
    print(f"{'count':>7}  {'stage':<8} {'first':<19}  {'last':<19}  reason")
    for g in groups:
        print(f"{g.count:>7}  {g.stage:<8} {_when(g.first_ms):<19}  {_when(g.last_ms):<19}  {g.reason}")
    print(f"{len(letters)} dead letters in {settings.kafka.dlq_topic}"
          + (f", {unreadable} unreadable records" if unreadable else ""))
    return 0


def _where(letter: DeadLetter) -> str:
    return slot_of(letter) or f"{letter.table or '?'} key {letter.key or '?'}"


def show(args: argparse.Namespace, settings: BridgeSettings) -> int:
    selected = _selected(args, settings)
    if selected is None:
        return 2
    letters = sorted(selected[0], key=lambda letter: letter.at_ms)[-args.limit:]
    if args.json:
        print(json.dumps([letter.model_dump() for letter in letters], indent=1))
        return 0
    for letter in letters:
        print(f"{_when(letter.at_ms)}  {letter.stage:<7} {letter.error_code or '-':<20} {_where(letter):<40} "
              f"{letter.topic}[{letter.partition}]@{letter.offset}  {letter.reason}")
    return 0


def redrive(args: argparse.Namespace, settings: BridgeSettings) -> int:
    selected = _selected(args, settings)
    if selected is None:
        return 2
    plan = redrive_plan(selected[0])
    if plan.slots and not args.dry_run:
        send_control(settings.kafka, redrive_records(plan.slots, "dlq redrive"), "casavi-bridge-dlq")
    verb = "would redrive" if args.dry_run else "redriven"
    print(f"{verb}: {len(plan.slots)} casavi slots (re-projected from the current ERP state by the worker)")
    for slot in plan.slots[:20]:
        print(f"  {slot}")
    if len(plan.slots) > 20:
        print(f"  … and {len(plan.slots) - 20} more")
    if plan.without_slot:
        print(f"not redrivable: {len(plan.without_slot)} letters name a CDC record, not a casavi slot; "
              "the next change of that row is read again:")
        for letter in plan.without_slot[:20]:
            print(f"  {letter.stage:<7} {_where(letter)}  {letter.topic}[{letter.partition}]@{letter.offset}")
    return 0
