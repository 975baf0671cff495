"""Gaps: a consumer group's committed offset below the first offset its topic still holds.

Records between the two were deleted by retention before the group read them (a consumer
stopped longer than its topic keeps records, on a cluster whose topics are not compacted as
``streams/worker/topics.py`` creates them). Reading on would skip them silently; the worker
and the sink check at start and fall back to a full sync and a reconcile instead.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from kafka import KafkaConsumer, TopicPartition

from streams.settings import KafkaSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Gap:
    topic: str
    partition: int
    committed: int
    log_start: int

    @property
    def lost(self) -> int:
        return self.log_start - self.committed

    def __str__(self) -> str:
        return f"{self.topic}[{self.partition}]: committed {self.committed}, first kept {self.log_start}"


def find_gaps(committed: Mapping[tuple[str, int], int | None], log_start: Mapping[tuple[str, int], int]) -> list[Gap]:
    """Partitions whose committed offset lies below the log start (pure). A partition the
    group never committed reads from the earliest record and has no gap."""
    gaps = []
    for (topic, partition), offset in sorted(committed.items()):
        start = log_start.get((topic, partition))
        if offset is not None and start is not None and offset < start:
            gaps.append(Gap(topic, partition, offset, start))
    return gaps


def read_gaps(kafka: KafkaSettings, group: str, topics: Iterable[str]) -> list[Gap]:
    """The gaps of ``group`` on ``topics`` as the cluster has them now (topics that do not
    exist yet have none). Does not join the group."""
    consumer = KafkaConsumer(bootstrap_servers=kafka.bootstrap_servers.split(","), group_id=group,
                             enable_auto_commit=False, client_id=f"{group}-gap-check")
    try:
        tps = [TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t) or ())]
        if not tps:
            return []
        start = consumer.beginning_offsets(tps)
        committed = {(tp.topic, tp.partition): consumer.committed(tp) for tp in tps}
        return find_gaps(committed, {(tp.topic, tp.partition): o for tp, o in start.items()})
    finally:
        consumer.close()


def check(kafka: KafkaSettings, group: str, topics: Iterable[str], who: str) -> list[Gap]:
    """``read_gaps`` that logs what it found and never stops a start: a check that cannot run
    (Kafka not reachable yet) is logged and counts as no gap."""
    try:
        gaps = read_gaps(kafka, group, topics)
    except Exception as exc:  # noqa: BLE001 - the check is advisory; the consumer starts anyway
        log.warning("%s: could not check for gaps in its topics (%s)", who, type(exc).__name__)
        return []
    for gap in gaps:
        log.error("%s: %d records of %s were deleted before they were read; falling back to a full sync",
                  who, gap.lost, gap)
    return gaps
