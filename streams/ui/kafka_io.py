"""What the page asks Kafka: offsets and consumer groups (``KafkaView``), and the records of the
commands, receipts and DLQ topics from a point in time on (``Tails``). Nothing is consumed in a
group or committed; no topic is created.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition

from streams.settings import KafkaSettings
from streams.ui.build import GroupPosition

CLIENT_ID = "casavi-bridge-ui"
# kafka-python logs the whole member metadata of a Faust group it cannot decode, on every describe
logging.getLogger("kafka.admin._groups").setLevel(logging.ERROR)


def _consumer(kafka: KafkaSettings) -> Any:
    return KafkaConsumer(bootstrap_servers=kafka.bootstrap_servers.split(","), client_id=CLIENT_ID, group_id=None,
                         enable_auto_commit=False, allow_auto_create_topics=False, request_timeout_ms=10_000,
                         bootstrap_timeout_ms=5_000, metadata_max_age_ms=10_000)


class KafkaView:
    def __init__(self, kafka: KafkaSettings) -> None:
        self.consumer = _consumer(kafka)
        self.admin = KafkaAdminClient(bootstrap_servers=kafka.bootstrap_servers.split(","), client_id=CLIENT_ID,
                                      request_timeout_ms=10_000, bootstrap_timeout_ms=5_000)

    def close(self) -> None:
        self.consumer.close()
        self.admin.close()

    def partitions(self, topics: Iterable[str]) -> list[Any]:
        """The partitions of the topics that exist."""
        return [TopicPartition(t, p) for t in topics for p in sorted(self.consumer.partitions_for_topic(t) or ())]

    def end_offsets(self, tps: Collection[Any]) -> dict[Any, int]:
        return dict(self.consumer.end_offsets(list(tps))) if tps else {}

    def group(self, group: str, tps: Collection[Any]) -> GroupPosition:
        described: dict[str, dict[str, Any]] = self.admin.describe_groups([group])
        members = len((described.get(group) or {}).get("members") or [])
        if not tps:
            return GroupPosition(committed=0, end=0, members=members)
        end = self.end_offsets(tps)
        begin = self.consumer.beginning_offsets(list(tps))
        held = self.admin.list_group_offsets({group: list(tps)}).get(group, {})
        committed = 0
        for tp in tps:
            mark = held.get(tp)
            offset = mark.offset if mark is not None and mark.offset >= 0 else begin[tp]
            committed += min(max(offset, begin[tp]), end[tp])
        return GroupPosition(committed=committed, end=sum(end.values()), members=members)

    def offsets_at(self, at_ms: int, tps: Collection[Any]) -> dict[Any, int]:
        """Per partition: the offset of the first record at or after ``at_ms``, else the end offset."""
        if not tps:
            return {}
        found = self.consumer.offsets_for_times({tp: at_ms for tp in tps})
        end = self.end_offsets(tps)
        return {tp: (hit.offset if hit is not None else end[tp]) for tp, hit in found.items()}


Handler = Callable[[Any], None]  # gets a ConsumerRecord (topic, partition, offset, key, value, timestamp)


class Tails:
    """Reads some topics onward, each from its own point in time, and hands every record to the
    topic's handler. Topics that do not exist yet are picked up when they appear."""

    def __init__(self, kafka: KafkaSettings, since_ms: Mapping[str, int], handlers: Mapping[str, Handler]) -> None:
        self.consumer = _consumer(kafka)
        self.since_ms = dict(since_ms)
        self.handlers = dict(handlers)
        self.assigned: set[Any] = set()
        self.behind = 0  # records still to read, as of the last poll

    def close(self) -> None:
        self.consumer.close()

    def _assign(self) -> None:
        wanted = {TopicPartition(t, p) for t in self.handlers for p in (self.consumer.partitions_for_topic(t) or ())}
        new = wanted - self.assigned
        if not new:
            return
        positions = {tp: self.consumer.position(tp) for tp in self.assigned}
        self.consumer.assign(sorted(wanted))
        for tp, offset in positions.items():
            self.consumer.seek(tp, offset)
        found = self.consumer.offsets_for_times({tp: self.since_ms[tp.topic] for tp in new})
        end = self.consumer.end_offsets(list(new))
        for tp in new:
            hit = found.get(tp)
            self.consumer.seek(tp, hit.offset if hit is not None else end[tp])
        self.assigned = wanted

    def poll(self, budget_s: float = 1.0) -> int:
        """Read what has arrived, for at most ``budget_s`` seconds; the number of records read."""
        self._assign()
        if not self.assigned:
            return 0
        deadline = time.monotonic() + budget_s
        read = 0
        while True:
            batches = self.consumer.poll(timeout_ms=100, max_records=5000)
            for records in batches.values():
                for record in records:
                    self.handlers[record.topic](record)
                    read += 1
            end = self.consumer.end_offsets(sorted(self.assigned))
            self.behind = sum(max(end[tp] - self.consumer.position(tp), 0) for tp in self.assigned)
            if not self.behind or time.monotonic() >= deadline:
                return read
