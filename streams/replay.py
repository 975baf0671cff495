"""``bridge replay``: reset the committed offsets of the worker's and the sink's consumer
groups so they read their input again from the beginning, from a point in time, or from
offsets given in a file.

The worker's group (``BRIDGE_KAFKA__WORKER_APP_ID``) reads the CDC topics, the control topic
and the receipts topic; the sink's group (``BRIDGE_KAFKA__SINK_GROUP_ID``) reads the commands
topic. Faust's table changelog topics are never touched: the worker rebuilds its state from
them. A group is only reset while nothing consumes with it: Kafka lists no active member and
the status file of the process (``<state>/worker-status.json``, ``<state>/sink-status.json``)
names no living pid.

The output names groups, topics, partitions and offsets only.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Collection, Iterable, Mapping, Sequence
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
from streams.stack.status import bridge_processes
from streams.worker.topics import cdc_topics

log = logging.getLogger(__name__)

TargetName = Literal["worker", "sink"]
TARGETS: dict[str, tuple[TargetName, ...]] = {"worker": ("worker",), "sink": ("sink",), "both": ("worker", "sink")}

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_REFUSED = 2


class ReplayError(ValueError):
    """A replay that cannot be carried out as requested (exit code 2)."""


@dataclass(frozen=True)
class Target:
    """One consumer group and the topics it reads."""

    name: TargetName
    group: str
    topics: tuple[str, ...]


@dataclass(frozen=True)
class FromBeginning:
    """Every partition from its first record still held."""


@dataclass(frozen=True)
class ToTimestamp:
    """Every partition from its first record at or after ``ms`` (epoch milliseconds)."""

    ms: int


@dataclass(frozen=True)
class ToOffsets:
    """The partitions named, to the offsets given; other partitions keep their offsets."""

    offsets: Mapping[Any, int]


Mode = FromBeginning | ToTimestamp | ToOffsets


@dataclass(frozen=True)
class Change:
    """One row of the output: a partition's committed offset and the one it is reset to."""

    group: str
    topic: str
    partition: int
    current: int | None
    new: int


def targets(settings: BridgeSettings, which: str) -> list[Target]:
    """The groups ``which`` (worker, sink or both) names, with the topics they read: the worker
    subscribes to the CDC topics (``cdc_topics``, as ``streams.worker.app`` does), the control
    topic and the receipts topic."""
    kafka = settings.kafka
    inputs: dict[TargetName, Target] = {
        "worker": Target("worker", kafka.worker_app_id,
                         (*cdc_topics(kafka, settings.source), kafka.ticks_topic, kafka.receipts_topic)),
        "sink": Target("sink", kafka.sink_group_id, (kafka.commands_topic,)),
    }
    return [inputs[name] for name in TARGETS[which]]


def parse_datetime(text: str) -> int:
    """Epoch milliseconds of an ISO 8601 time; without a UTC offset it is local time."""
    try:
        at = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ReplayError(f"--to-datetime: {text!r} is not an ISO 8601 time (e.g. 2025-03-01T06:00:00+01:00)") from None
    if at.tzinfo is None:
        at = at.astimezone()
    ms = (at - datetime(1970, 1, 1, tzinfo=timezone.utc)) // timedelta(milliseconds=1)
    if ms < 0:
        raise ReplayError(f"--to-datetime: {text!r} lies before 1970")
    return ms


def _partition_offsets(where: str, value: object) -> dict[int, int]:
    if not isinstance(value, dict) or not value:
        raise ReplayError(f"{where}: expected an object {{\"partition\": offset, ...}}")
    result: dict[int, int] = {}
    for key, offset in value.items():
        if not (isinstance(key, str) and key.isascii() and key.isdigit()):
            raise ReplayError(f"{where}: partition {key!r} is not a partition number")
        if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
            raise ReplayError(f"{where}[{key}]: offset {offset!r} is not a non-negative integer")
        result[int(key)] = offset
    return result


def _topic_offsets(where: str, value: object) -> dict[Any, int]:
    if not isinstance(value, dict) or not value:
        raise ReplayError(f"{where}: expected an object {{\"topic\": {{\"partition\": offset}}, ...}}")
    return {TopicPartition(topic, partition): offset
            for topic, partitions in value.items()
            for partition, offset in _partition_offsets(f"{where}{topic}" if not where else f"{where}.{topic}",
                                                        partitions).items()}


def parse_offsets_file(text: str, groups: Collection[str]) -> dict[str | None, dict[Any, int]]:
    """The offsets of a ``--to-offsets`` file: ``{group: {topic: {partition: offset}}}`` keyed by
    group, or ``{topic: {partition: offset}}`` under the key None (for every group replayed that
    reads the topic). Top-level keys that are all names of ``groups`` make the first form."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ReplayError(f"offsets file: not JSON ({exc})") from None
    if not isinstance(data, dict) or not data:
        raise ReplayError("offsets file: expected a non-empty JSON object")
    named = [key for key in data if key in groups]
    if not named:
        return {None: _topic_offsets("", data)}
    if len(named) != len(data):
        others = sorted(key for key in data if key not in groups)
        raise ReplayError(f"offsets file: mixes consumer groups ({', '.join(sorted(named))}) with other keys "
                          f"({', '.join(others)}); use either {{group: {{topic: ...}}}} or {{topic: ...}}")
    return {group: _topic_offsets(group, value) for group, value in data.items()}


def requested_offsets(parsed: Mapping[str | None, Mapping[Any, int]],
                      replayed: Sequence[Target]) -> dict[str, dict[Any, int]]:
    """The offsets of the file per replayed group. Every topic named must be read by its group
    (or, without groups in the file, by one of the groups replayed); groups in the file that
    are not replayed are left out."""
    result: dict[str, dict[Any, int]] = {t.group: {} for t in replayed}
    for group, offsets in parsed.items():
        chosen = [t for t in replayed if group is None or t.group == group]
        if not chosen:
            continue
        for tp, offset in offsets.items():
            readers = [t for t in chosen if tp.topic in t.topics]
            if not readers:
                who = f"group {group}" if group is not None else "the groups replayed (" + ", ".join(
                    t.group for t in replayed) + ")"
                raise ReplayError(f"offsets file: topic {tp.topic} is not read by {who}")
            for t in readers:
                result[t.group][tp] = offset
    return result


def target_offsets(partitions: Iterable[Any], beginning: Mapping[Any, int], end: Mapping[Any, int], mode: Mode,
                   found: Mapping[Any, int | None] | None = None) -> dict[Any, int]:
    """The offset each partition is reset to.

    ``partitions`` are the existing partitions of the group's topics, ``beginning`` and ``end``
    their first and next offsets, ``found`` the first offset at or after the time of a
    ``ToTimestamp`` (None where no record is that new: the partition goes to its end).
    ``ToOffsets`` changes only the partitions it names, each within what the partition holds."""
    tps = list(partitions)
    if isinstance(mode, FromBeginning):
        return {tp: beginning[tp] for tp in tps}
    if isinstance(mode, ToTimestamp):
        at = found or {}
        return {tp: offset if (offset := at.get(tp)) is not None else end[tp] for tp in tps}
    known = set(tps)
    result: dict[Any, int] = {}
    for tp, offset in sorted(mode.offsets.items()):
        if tp not in known:
            raise ReplayError(f"offsets file: topic {tp.topic} has no partition {tp.partition}")
        first, after = beginning[tp], end[tp]
        if not first <= offset <= after:
            raise ReplayError(f"offsets file: offset {offset} of {tp.topic}[{tp.partition}] lies outside the "
                              f"records the partition holds ({first} to {after})")
        result[tp] = offset
    return result


def format_table(changes: Sequence[Change]) -> str:
    header = ("group", "topic", "partition", "committed", "", "new")
    rows = [(c.group, c.topic, str(c.partition), "-" if c.current is None else str(c.current), "->", str(c.new))
            for c in changes]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    right = {2, 3, 5}
    return "\n".join(
        "  ".join(cell.rjust(w) if i in right else cell.ljust(w) for i, (cell, w) in enumerate(zip(r, widths))).rstrip()
        for r in [header, *rows])


def running_processes(replayed: Sequence[Target], state_dir: Path) -> list[str]:
    """Replayed processes whose status file names a living pid."""
    status = bridge_processes(state_dir)
    return [f"the {t.name} (pid {info.get('pid')}, {state_dir / ('%s-status.json' % t.name)})"
            for t in replayed if (info := status.get(t.name)) and info.get("running")]


def _active_members(admin: Any, replayed: Sequence[Target]) -> list[str]:
    described: dict[str, dict[str, Any]] = admin.describe_groups([t.group for t in replayed])
    blocked = []
    for t in replayed:
        members = (described.get(t.group) or {}).get("members") or []
        if members:
            blocked.append(f"consumer group {t.group} ({len(members)} active member{'s' if len(members) > 1 else ''})")
    return blocked


def _mode(args: Any, replayed: Sequence[Target]) -> tuple[Mode | None, dict[str, dict[Any, int]], str]:
    """The mode (None: per group from the file), the file's offsets per group, and a description."""
    if args.from_beginning:
        return FromBeginning(), {}, "from the beginning"
    if args.to_datetime is not None:
        ms = parse_datetime(args.to_datetime)
        utc = datetime.fromtimestamp(ms / 1000, tz=timezone.utc).isoformat(timespec="milliseconds")
        return ToTimestamp(ms), {}, f"from {utc} ({ms} ms)"
    path = Path(args.to_offsets)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ReplayError(f"offsets file {path}: {exc.strerror or exc}") from None
    parsed = parse_offsets_file(text, [t.group for t in replayed] + [g for g in _all_groups(args) if g])
    skipped = sorted(g for g in parsed if g is not None and g not in {t.group for t in replayed})
    for group in skipped:
        print(f"note: offsets file names group {group}, which is not replayed (--target); left as it is")
    return None, requested_offsets(parsed, replayed), f"to the offsets in {path}"


def _all_groups(args: Any) -> list[str]:
    groups: list[str] = getattr(args, "known_groups", [])
    return groups


def plan(consumer: Any, admin: Any, target: Target, mode: Mode) -> list[Change]:
    """The changes for one group as the cluster holds it now; topics that do not exist are
    skipped with a note."""
    tps = []
    for topic in target.topics:
        partitions = sorted(consumer.partitions_for_topic(topic) or ())
        if not partitions:
            print(f"note: topic {topic} does not exist; skipped for group {target.group}")
            continue
        tps.extend(TopicPartition(topic, p) for p in partitions)
    if isinstance(mode, ToOffsets):
        existing = {tp.topic for tp in tps}
        mode = ToOffsets({tp: o for tp, o in mode.offsets.items() if tp.topic in existing})
    if not tps:
        return []
    beginning = consumer.beginning_offsets(tps)
    end = consumer.end_offsets(tps)
    found: dict[Any, int | None] = {}
    if isinstance(mode, ToTimestamp):
        at = consumer.offsets_for_times({tp: mode.ms for tp in tps})
        found = {tp: (hit.offset if hit is not None else None) for tp, hit in at.items()}
    new = target_offsets(tps, beginning, end, mode, found)
    committed = admin.list_group_offsets({target.group: list(new)}).get(target.group, {}) if new else {}
    changes = []
    for tp, offset in sorted(new.items()):
        held = committed.get(tp)
        current = held.offset if held is not None and held.offset >= 0 else None
        changes.append(Change(target.group, tp.topic, tp.partition, current, offset))
    return changes


def commit(admin: Any, changes: Sequence[Change]) -> list[str]:
    """Commit the new offsets, one request per group; the partitions Kafka refused."""
    failed = []
    for group in dict.fromkeys(c.group for c in changes):
        offsets = {TopicPartition(c.topic, c.partition): OffsetAndMetadata(c.new, "", -1)
                   for c in changes if c.group == group}
        results: dict[Any, Any] = admin.alter_group_offsets(group, offsets)
        failed.extend(f"{group} {tp.topic}[{tp.partition}]: {error.__name__}"
                      for tp, error in sorted(results.items()) if error is not NoError)
    return failed


def run(args: Any, settings: BridgeSettings) -> int:
    kafka = settings.kafka
    try:
        replayed = targets(settings, args.target)
    except MappingError as exc:
        print(f"replay refused: {exc}")
        return EXIT_REFUSED
    args.known_groups = [kafka.worker_app_id, kafka.sink_group_id]
    try:
        mode, from_file, described = _mode(args, replayed)
    except ReplayError as exc:
        print(f"replay refused: {exc}")
        return EXIT_REFUSED

    running = running_processes(replayed, settings.stack.state_dir)
    servers = kafka.bootstrap_servers.split(",")
    try:
        admin = KafkaAdminClient(bootstrap_servers=servers, client_id="casavi-bridge-replay")
    except KafkaError as exc:
        print(f"replay failed: Kafka at {kafka.bootstrap_servers} is not reachable ({type(exc).__name__})")
        return EXIT_FAILED
    consumer = None
    try:
        blockers = running + _active_members(admin, replayed)
        if blockers and not args.dry_run:
            print("replay refused: still consuming: " + "; ".join(blockers) + ". Stop the worker and the sink "
                  "first (a status file whose pid belongs to another process can be deleted).")
            return EXIT_REFUSED
        consumer = KafkaConsumer(bootstrap_servers=servers, client_id="casavi-bridge-replay",
                                 enable_auto_commit=False)
        changes: list[Change] = []
        for target in replayed:
            changes.extend(plan(consumer, admin, target, mode or ToOffsets(from_file[target.group])))
        print(f"replay {described} ({', '.join(t.group for t in replayed)}"
              f"{', dry run' if args.dry_run else ''}):")
        print(format_table(changes) if changes else "no partitions to reset")
        if args.dry_run:
            if blockers:
                print("note: a replay would be refused now: still consuming: " + "; ".join(blockers))
            print("dry run: nothing changed")
            return EXIT_OK
        failed = commit(admin, changes)
    except ReplayError as exc:
        print(f"replay refused: {exc}")
        return EXIT_REFUSED
    except KafkaError as exc:
        print(f"replay failed: {type(exc).__name__}: {exc}")
        return EXIT_FAILED
    finally:
        if consumer is not None:
            consumer.close()
        admin.close()
    if failed:
        print("replay incomplete: Kafka refused " + "; ".join(failed))
        return EXIT_FAILED
    print(f"committed {len(changes)} offsets; start the "
          + " and the ".join(t.name for t in replayed) + " to read again")
    return EXIT_OK
