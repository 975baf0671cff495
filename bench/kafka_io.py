"""Kafka helpers of the benchmark: offsets, consumer-group offsets, copying recorded CDC
records into bench topics, the plain consume + json.loads ceiling, command timestamps."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from kafka import KafkaConsumer
from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient
from kafka.errors import KafkaError, TopicAlreadyExistsError
from kafka.structs import OffsetAndMetadata
from kafka.structs import TopicPartition as SyncTopicPartition

FETCH_MAX_BYTES = 64 * 1024 * 1024


def _servers(bootstrap: str) -> list[str]:
    return [s.strip() for s in bootstrap.split(",") if s.strip()]


def existing_topics(bootstrap: str) -> set[str]:
    consumer = KafkaConsumer(bootstrap_servers=_servers(bootstrap), group_id=None)
    try:
        return set(consumer.topics())
    finally:
        consumer.close()


def end_offsets(bootstrap: str, topics: Iterable[str]) -> dict[str, int]:
    """End offset of partition 0 of every existing topic among ``topics`` (missing ones: 0)."""
    wanted = list(topics)
    consumer = KafkaConsumer(bootstrap_servers=_servers(bootstrap), group_id=None)
    try:
        present = set(consumer.topics())
        tps = [SyncTopicPartition(t, 0) for t in wanted if t in present]
        ends = consumer.end_offsets(tps) if tps else {}
        return {t: int(ends.get(SyncTopicPartition(t, 0), 0)) for t in wanted}
    finally:
        consumer.close()


def commit_group_offsets(bootstrap: str, group_id: str, offsets: Mapping[str, int]) -> None:
    """Commit ``offsets`` (next offset to read, partition 0) for a group that has no members
    yet: a fresh worker then starts there instead of at the beginning of the topic."""
    commits = {SyncTopicPartition(t, 0): OffsetAndMetadata(o, "", -1) for t, o in offsets.items() if o > 0}
    if not commits:
        return
    admin = KafkaAdminClient(bootstrap_servers=_servers(bootstrap), client_id="casavi-bridge-bench")
    try:
        admin.alter_group_offsets(group_id, commits)
    finally:
        admin.close()


def drop_history(bootstrap: str, offsets: Mapping[str, int]) -> None:
    """Delete the records before ``offsets`` (partition 0; Kafka's DeleteRecords): the CDC
    history of earlier runs, which no phase reads. Each scale-75 run adds about 25 GB to the
    stack's CDC topics; without this, a few runs fill the disk. The CDC topics are compacted
    (``connect/*-connector.json``) and Kafka deletes records only from a topic whose cleanup
    policy includes ``delete``: the policy is widened for the deletion (with unlimited
    retention, so time and size delete nothing) and then set back."""
    wanted = {SyncTopicPartition(t, 0): o for t, o in offsets.items() if o > 0}
    if not wanted:
        return
    keys = ("cleanup.policy", "retention.ms", "retention.bytes")
    admin = KafkaAdminClient(bootstrap_servers=_servers(bootstrap), client_id="casavi-bridge-bench")
    try:
        described = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, tp.topic) for tp in wanted],
                                           config_filter="all")["topic"]
        # what to set back: the topic's own value, or the default (DELETE) where it had none
        restore = {name: {k: (("SET", c["value"]) if c["config_source"] == "DYNAMIC_TOPIC_CONFIG" else ("DELETE", None))
                          for k, c in configs.items() if k in keys} for name, configs in described.items()}
        admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, tp.topic, configs={
            "cleanup.policy": "compact,delete", "retention.ms": "-1", "retention.bytes": "-1"}) for tp in wanted])
        try:
            deadline = time.monotonic() + 60
            while True:  # the brokers take the new policy a moment after the call returns
                try:
                    admin.delete_records(wanted, timeout_ms=60_000)
                    break
                except KafkaError as exc:
                    if "PolicyViolation" not in str(exc) or time.monotonic() > deadline:
                        raise
                    time.sleep(0.5)
        finally:
            admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, name, configs=configs)
                                 for name, configs in restore.items()])
    finally:
        admin.close()


def group_offsets(bootstrap: str, group_id: str) -> dict[str, int]:
    """Committed offsets (partition 0) of ``group_id`` by topic."""
    admin = KafkaAdminClient(bootstrap_servers=_servers(bootstrap), client_id="casavi-bridge-bench")
    try:
        result = admin.list_group_offsets({group_id: None}).get(group_id, {})
        return {tp.topic: int(meta.offset) for tp, meta in result.items() if tp.partition == 0}
    finally:
        admin.close()


def create_topics(bootstrap: str, topics: Iterable[str]) -> None:
    admin = KafkaAdminClient(bootstrap_servers=_servers(bootstrap), client_id="casavi-bridge-bench")
    try:
        for topic in topics:
            try:
                admin.create_topics({topic: {"num_partitions": 1, "replication_factor": 1}})
            except TopicAlreadyExistsError:
                pass
    finally:
        admin.close()


def delete_topics(bootstrap: str, topics: Iterable[str]) -> None:
    names = [t for t in topics if t in existing_topics(bootstrap)]
    if not names:
        return
    admin = KafkaAdminClient(bootstrap_servers=_servers(bootstrap), client_id="casavi-bridge-bench")
    try:
        admin.delete_topics(names)
    finally:
        admin.close()


@dataclass(frozen=True)
class CopyResult:
    records: int
    bytes: int
    seconds: float


async def copy_records(bootstrap: str, ranges: Mapping[str, tuple[int, int]], target_of: Mapping[str, str]) -> CopyResult:
    """Re-produce the records ``[start, end)`` of each source topic (partition 0) to its target
    topic, in the same order, keys, values and headers as captured."""
    started = time.monotonic()
    copied = 0
    size = 0
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5,
                                max_batch_size=1024 * 1024, max_request_size=16 * 1024 * 1024)
    await producer.start()
    try:
        for source, (start, end) in ranges.items():
            if end <= start:
                continue
            tp = TopicPartition(source, 0)
            consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                                        fetch_max_bytes=FETCH_MAX_BYTES, max_partition_fetch_bytes=FETCH_MAX_BYTES)
            await consumer.start()
            try:
                consumer.assign([tp])
                consumer.seek(tp, start)
                position = start
                pending: list[asyncio.Future[object]] = []
                while position < end:
                    batches = await consumer.getmany(tp, timeout_ms=1000, max_records=5000)
                    for record in batches.get(tp, []):
                        if record.offset >= end:
                            position = end
                            break
                        pending.append(await producer.send(target_of[source], key=record.key, value=record.value,
                                                           headers=list(record.headers) or None))
                        size += len(record.value or b"") + len(record.key or b"")
                        copied += 1
                        position = record.offset + 1
                    if len(pending) >= 5000:
                        await asyncio.gather(*pending)
                        pending.clear()
                await asyncio.gather(*pending)
            finally:
                await consumer.stop()
    finally:
        await producer.stop()
    return CopyResult(copied, size, time.monotonic() - started)


@dataclass(frozen=True)
class CeilingResult:
    records: int
    seconds: float

    @property
    def per_s(self) -> float:
        return self.records / self.seconds if self.seconds > 0 else 0.0


async def consume_ceiling(bootstrap: str, topics: list[str], expected: int, timeout_s: float) -> CeilingResult:
    """The reference ceiling: one aiokafka consumer reads ``topics`` from the beginning and
    json.loads every key and value; timed from the first record to the last."""
    consumer = AIOKafkaConsumer(*topics, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest",
                                enable_auto_commit=False)
    await consumer.start()
    count = 0
    first: float | None = None
    last = 0.0
    deadline = time.monotonic() + timeout_s
    try:
        while count < expected and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500, max_records=1000)
            for records in batches.values():
                for record in records:
                    if record.key is not None:
                        json.loads(record.key)
                    if record.value is not None:
                        json.loads(record.value)
                count += len(records)
            if batches:
                now = time.monotonic()
                first = first if first is not None else now
                last = now
    finally:
        await consumer.stop()
    return CeilingResult(count, (last - first) if first is not None else 0.0)


def edge_timestamps_ms(bootstrap: str, topic: str) -> tuple[int, int, int] | None:
    """(record count, CreateTime of the first record, CreateTime of the last record) of a topic."""
    consumer = KafkaConsumer(bootstrap_servers=_servers(bootstrap), group_id=None, enable_auto_commit=False,
                             consumer_timeout_ms=5000)
    try:
        if topic not in consumer.topics():
            return None
        tp = SyncTopicPartition(topic, 0)
        consumer.assign([tp])
        begin = int(consumer.beginning_offsets([tp])[tp])
        end = int(consumer.end_offsets([tp])[tp])
        if end <= begin:
            return None
        stamps: list[int] = []
        for offset in (begin, end - 1):
            consumer.seek(tp, offset)
            records = consumer.poll(timeout_ms=5000, max_records=1).get(tp, [])
            if not records:
                return None
            stamps.append(int(records[0].timestamp))
        return end - begin, stamps[0], stamps[1]
    finally:
        consumer.close()


def group_members(bootstrap: str, group_id: str) -> int:
    """Members of a consumer group that has finished rebalancing (0 while it has not)."""
    admin = KafkaAdminClient(bootstrap_servers=_servers(bootstrap), client_id="casavi-bridge-bench")
    try:
        info = admin.describe_groups([group_id]).get(group_id, {})
        return len(info.get("members") or []) if info.get("group_state") == "Stable" else 0
    finally:
        admin.close()
