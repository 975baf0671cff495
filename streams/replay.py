"""``bridge replay``: move the committed offsets of the worker's and the sink's consumer
groups so they read their input again: from the beginning, from a point in time, or from
offsets given in a file.

The worker's group (``BRIDGE_KAFKA__WORKER_APP_ID``) is moved on the CDC topics it subscribes
(``streams.worker.topics.cdc_topics``) and on the receipts topic; the sink's group
(``BRIDGE_KAFKA__SINK_GROUP_ID``) on the commands topic. The control topic is not moved back:
its old ``resync`` and ``redrive`` records would run again and send casavi everything. Faust's
table changelog topics are not moved either: the worker rebuilds its state from them.

A group is only moved while nothing consumes with it: Kafka lists no active member, and the
status file of its process (``<state>/worker-status.json``, ``<state>/sink-status.json``) names
no living pid. The output names groups, topics, partitions and offsets only.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Literal

from kafka import KafkaConsumer, TopicPartition
from kafka.admin import KafkaAdminClient
from kafka.errors import KafkaError, NoError
from kafka.structs import OffsetAndMetadata

from streams.mapping import MappingError
from streams.settings import BridgeSettings
from streams.stack.status import BRIDGE_STATUS_FILES, bridge_processes
from streams.worker.topics import cdc_topics

Target = Literal["worker", "sink"]
TARGETS: dict[str, tuple[Target, ...]] = {"worker": ("worker",), "sink": ("sink",), "both": ("worker", "sink")}

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_REFUSED = 2

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


class ReplayError(ValueError):
    """A replay that cannot be carried out as requested (exit code 2)."""


@dataclass(frozen=True)
class Change:
    """One row of the output: a partition's committed offset and the one it moves to."""

    group: str
    topic: str
    partition: int
    current: int | None
    new: int


def groups(settings: BridgeSettings, targets: Iterable[Target]) -> dict[Target, tuple[str, list[str]]]:
    """``{target: (consumer group, topics it is moved on)}`` of the targets named."""
    kafka = settings.kafka
    inputs: dict[Target, tuple[str, list[str]]] = {
        "worker": (kafka.worker_app_id, [*cdc_topics(kafka, settings.source), kafka.receipts_topic]),
        "sink": (kafka.sink_group_id, [kafka.commands_topic]),
    }
    return {t: inputs[t] for t in targets}


def parse_time(text: str) -> int:
    """Epoch milliseconds of an ISO-8601 time; a time without a UTC offset is UTC."""
    try:
        at = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ReplayError(f"--to-datetime: {text!r} is not an ISO-8601 time "
                          "(for example 2026-11-20T06:00:00+01:00)") from None
    if at.tzinfo is None:
        at = at.replace(tzinfo=timezone.utc)
    ms = (at - EPOCH) // timedelta(milliseconds=1)
    if ms < 0:
        raise ReplayError(f"--to-datetime: {text!r} lies before 1970")
    return ms


def _partition_offsets(topic: str, value: object) -> dict[Any, int]:
    if not isinstance(value, dict) or not value:
        raise ReplayError(f"offsets file: {topic}: expected an object {{partition: offset}}")
    result: dict[Any, int] = {}
    for key, offset in value.items():
        if not (isinstance(key, str) and key.isascii() and key.isdigit()):
            raise ReplayError(f"offsets file: {topic}: {key!r} is not a partition number")
        if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
            raise ReplayError(f"offsets file: {topic}[{key}]: offset {offset!r} is not a non-negative integer")
        result[TopicPartition(topic, int(key))] = offset
    return result


def _topic_offsets(where: str, value: object) -> dict[Any, int]:
    if not isinstance(value, dict) or not value:
        raise ReplayError(f"offsets file: {where}: expected an object {{topic: {{partition: offset}}}}")
    result: dict[Any, int] = {}
    for topic, partitions in value.items():
        result.update(_partition_offsets(topic, partitions))
    return result


def read_offsets_file(text: str, ids: Mapping[Target, str]) -> tuple[dict[Target, dict[Any, int]], bool]:
    """The offsets of a ``--to-offsets`` file per target, and whether the file names groups.

    ``{group: {topic: {partition: offset}}}`` gives each group (``ids``: target -> group) its
    own offsets; ``{topic: {partition: offset}}`` gives every target the same ones."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ReplayError(f"offsets file: not JSON ({exc})") from None
    if not isinstance(data, dict) or not data:
        raise ReplayError("offsets file: expected a JSON object, {group: {topic: {partition: offset}}} "
                          "or {topic: {partition: offset}}")
    target_of = {group: target for target, group in ids.items()}
    named = [key for key in data if key in target_of]
    if not named:
        shared = _topic_offsets("file", data)
        return {t: dict(shared) for t in ids}, False
    if len(named) != len(data):
        others = ", ".join(sorted(key for key in data if key not in target_of))
        raise ReplayError(f"offsets file: names consumer groups ({', '.join(named)}) beside other keys ({others}); "
                          "either every key is a group or every key is a topic")
    by_target: dict[Target, dict[Any, int]] = {t: {} for t in ids}
    for group, value in data.items():
        by_target[target_of[group]] = _topic_offsets(group, value)
    return by_target, True


def parse_offsets_file(text: str, ids: Mapping[Target, str]) -> dict[Target, dict[Any, int]]:
    """``read_offsets_file`` without the form."""
    return read_offsets_file(text, ids)[0]


def target_offsets(partitions: Iterable[Any], begin: Mapping[Any, int], end: Mapping[Any, int],
                   times: Mapping[Any, int | None] | None = None,
                   explicit: Mapping[Any, int] | None = None) -> dict[Any, int]:
    """Where each partition goes.

    Without ``times`` and ``explicit``: to its first record still held (``begin``). ``times``
    (the first offset at or after a time, per partition): to that offset, or to the end where
    no record is that new. ``explicit``: only the partitions named, each to its offset kept
    within what the partition holds (``begin`` to ``end``)."""
    tps = list(partitions)
    if explicit is not None:
        known = set(tps)
        result: dict[Any, int] = {}
        for tp, offset in explicit.items():
            if tp not in known:
                raise ReplayError(f"offsets file: topic {tp[0]} has no partition {tp[1]}")
            result[tp] = min(max(offset, begin[tp]), end[tp])
        return result
    if times is not None:
        return {tp: hit if (hit := times.get(tp)) is not None else end[tp] for tp in tps}
    return {tp: begin[tp] for tp in tps}


def format_table(changes: Sequence[Change]) -> str:
    header = ("group", "topic", "partition", "committed", "", "new")
    rows = [(c.group, c.topic, str(c.partition), "-" if c.current is None else str(c.current), "->", str(c.new))
            for c in changes]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    right = {2, 3, 5}
    return "\n".join(
        "  ".join(cell.rjust(w) if i in right else cell.ljust(w) for i, (cell, w) in enumerate(zip(r, widths))).rstrip()
        for r in [header, *rows])


def _note(text: str) -> None:
    print(text, file=sys.stderr)


def running(chosen: Mapping[Target, tuple[str, list[str]]], state_dir: Path) -> list[str]:
    """Chosen processes running here: a living pid in their status file."""
    found = []
    status = bridge_processes(state_dir)
    for target in chosen:
        info = status.get(target)
        if info and info.get("running"):
            found.append(f"the {target} is running (pid {info.get('pid')}, "
                         f"{state_dir / BRIDGE_STATUS_FILES[target]})")
    return found


def members(chosen: Mapping[Target, tuple[str, list[str]]], admin: Any) -> list[str]:
    """Chosen consumer groups that still have members in Kafka (a process elsewhere, or the
    session of one that stopped and has not expired yet)."""
    found = []
    described: dict[str, dict[str, Any]] = admin.describe_groups([group for group, _ in chosen.values()])
    for target, (group, _) in chosen.items():
        held = (described.get(group) or {}).get("members") or []
        if held:
            found.append(f"the {target} is running (consumer group {group} has {len(held)} active "
                         f"member{'s' if len(held) != 1 else ''})")
    return found


def member_wait_s(settings: BridgeSettings) -> float:
    """How long a stopped process's membership can outlive it: its session timeout, and a margin."""
    return settings.worker.session_timeout_s + 5.0


def wait_for_members(chosen: Mapping[Target, tuple[str, list[str]]], admin: Any, wait_s: float) -> list[str]:
    """Members still there after up to ``wait_s``: a worker with static membership
    (``BRIDGE_WORKER__INSTANCE_ID``) stays a member until its session times out, also after a
    clean stop, and so does one that was killed."""
    deadline = time.monotonic() + wait_s
    found = members(chosen, admin)
    if found:
        _note(f"waiting up to {wait_s:.0f} s for the members of the stopped groups to expire ...")
    while found and time.monotonic() < deadline:
        time.sleep(1.0)
        found = members(chosen, admin)
    return found


def plan(consumer: Any, admin: Any, group: str, topics: Sequence[str], times_ms: int | None,
         explicit: Mapping[Any, int] | None) -> list[Change]:
    """The changes for one group as the cluster holds it now; topics that do not exist are
    skipped with a note."""
    tps: list[Any] = []
    for topic in topics:
        partitions = sorted(consumer.partitions_for_topic(topic) or ())
        if not partitions:
            _note(f"note: topic {topic} does not exist; skipped for group {group}")
            continue
        tps.extend(TopicPartition(topic, p) for p in partitions)
    if explicit is not None:
        existing = {tp.topic for tp in tps}
        explicit = {tp: o for tp, o in explicit.items() if tp.topic in existing}
    if not tps or explicit == {}:
        return []
    begin = consumer.beginning_offsets(tps)
    end = consumer.end_offsets(tps)
    times: dict[Any, int | None] | None = None
    if times_ms is not None:
        found = consumer.offsets_for_times({tp: times_ms for tp in tps})
        times = {tp: (hit.offset if hit is not None else None) for tp, hit in found.items()}
    new = target_offsets(tps, begin, end, times, explicit)
    for tp, asked in (explicit or {}).items():
        if new[tp] != asked:
            _note(f"note: {tp.topic}[{tp.partition}] holds offsets {begin[tp]} to {end[tp]}; "
                  f"{asked} becomes {new[tp]}")
    committed = admin.list_group_offsets({group: list(new)}).get(group, {})
    changes = []
    for tp, offset in sorted(new.items()):
        held = committed.get(tp)
        current = held.offset if held is not None and held.offset >= 0 else None
        changes.append(Change(group, tp.topic, tp.partition, current, offset))
    return changes


def commit(admin: Any, changes: Sequence[Change]) -> list[str]:
    """Commit the new offsets, one request per group; the partitions Kafka refused."""
    failed: list[str] = []
    for group in dict.fromkeys(c.group for c in changes):
        offsets = {TopicPartition(c.topic, c.partition): OffsetAndMetadata(c.new, "", -1)
                   for c in changes if c.group == group}
        results: dict[Any, Any] = admin.alter_group_offsets(group, offsets)
        failed.extend(f"{group} {tp.topic}[{tp.partition}]: {error.__name__}"
                      for tp, error in sorted(results.items()) if error is not NoError)
    return failed


def _explicit(path: Path, settings: BridgeSettings,
              chosen: Mapping[Target, tuple[str, list[str]]]) -> dict[Target, dict[Any, int]]:
    """The offsets file's offsets per chosen target, each on topics its group is moved on."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise ReplayError(f"offsets file {path}: {exc.strerror or exc}") from None
    ids: dict[Target, str] = {"worker": settings.kafka.worker_app_id, "sink": settings.kafka.sink_group_id}
    by_target, by_group = read_offsets_file(text, ids)
    for target, offsets in by_target.items():
        if by_group and offsets and target not in chosen:
            _note(f"note: the offsets file names group {ids[target]}, which --target leaves as it is")
    result = {t: {tp: o for tp, o in by_target[t].items() if tp.topic in topics} for t, (_, topics) in chosen.items()}
    for target, (group, topics) in chosen.items():
        unread = sorted({tp.topic for tp in by_target[target]} - set(topics))
        if by_group and unread:
            raise ReplayError(f"offsets file: group {group} is not moved on {', '.join(unread)} "
                              f"(it is moved on {', '.join(topics)})")
    if not by_group:
        moved = {topic for _, topics in chosen.values() for topic in topics}
        unread = sorted({tp.topic for offsets in by_target.values() for tp in offsets} - moved)
        if unread:
            raise ReplayError(f"offsets file: no group replayed is moved on {', '.join(unread)}")
    return result


def run(args: Any, settings: BridgeSettings) -> int:
    kafka = settings.kafka
    times_ms: int | None = None
    try:
        chosen = groups(settings, TARGETS[args.target])
        if args.to_datetime is not None:
            times_ms = parse_time(args.to_datetime)
        explicit = _explicit(Path(args.to_offsets), settings, chosen) if args.to_offsets else None
    except (ReplayError, MappingError) as exc:
        _note(f"replay refused: {exc}")
        return EXIT_REFUSED
    if times_ms is not None:
        at = datetime.fromtimestamp(times_ms / 1000, tz=timezone.utc).isoformat(timespec="milliseconds")
        described = f"from {at}"
    else:
        described = f"to the offsets in {args.to_offsets}" if explicit is not None else "from the beginning"

    servers = kafka.bootstrap_servers.split(",")
    try:
        admin = KafkaAdminClient(bootstrap_servers=servers, client_id="casavi-bridge-replay")
    except KafkaError as exc:
        _note(f"replay failed: Kafka at {kafka.bootstrap_servers} is not reachable ({type(exc).__name__})")
        return EXIT_FAILED
    consumer = None
    try:
        blockers = running(chosen, settings.stack.state_dir)
        if not blockers:
            blockers = members(chosen, admin) if args.dry_run else wait_for_members(chosen, admin, member_wait_s(settings))
        if blockers and not args.dry_run:
            _note("replay refused: " + "; ".join(blockers) + ". Stop it first; a status file whose pid "
                  "belongs to another process can be deleted.")
            return EXIT_REFUSED
        consumer = KafkaConsumer(bootstrap_servers=servers, client_id="casavi-bridge-replay",
                                 enable_auto_commit=False)
        changes: list[Change] = []
        for target, (group, topics) in chosen.items():
            changes.extend(plan(consumer, admin, group, topics, times_ms,
                                explicit[target] if explicit is not None else None))
        print(f"replay {described}{' (dry run)' if args.dry_run else ''}:")
        print(format_table(changes) if changes else "no partitions to move")
        if args.dry_run:
            if blockers:
                _note("note: a replay would be refused now: " + "; ".join(blockers))
            print("dry run: nothing changed")
            return EXIT_OK
        failed = commit(admin, changes)
    except ReplayError as exc:
        _note(f"replay refused: {exc}")
        return EXIT_REFUSED
    except KafkaError as exc:
        _note(f"replay failed: {type(exc).__name__}: {exc}")
        return EXIT_FAILED
    finally:
        if consumer is not None:
            consumer.close()
        admin.close()
    if failed:
        _note("replay incomplete: Kafka refused " + "; ".join(failed))
        return EXIT_FAILED
    print(f"moved {len(changes)} partition offsets; start the {' and the '.join(chosen)} to read again "
          "(`bridge progress` shows how far they are)")
    return EXIT_OK
