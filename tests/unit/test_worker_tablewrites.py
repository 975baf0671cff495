"""A batch's table writes: into the store, the changelog produced at once, the store's
persisted offset moved only past what Kafka holds."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from faust.types import TP

from streams.worker.tablewrites import TableWrites


class Store(dict[str, bytes]):
    def __init__(self) -> None:
        super().__init__()
        self.persisted: dict[TP, int] = {}

    def set_persisted_offset(self, tp: TP, offset: int) -> None:
        self.persisted[tp] = offset


class Topic:
    def __init__(self, name: str) -> None:
        self.name = name

    def get_topic_name(self) -> str:
        return self.name


class Table:
    def __init__(self, name: str) -> None:
        self.data = Store()
        self.changelog_topic = Topic(f"{name}-changelog")


def test_a_batch_writes_each_key_once_and_moves_the_offset_past_its_changelog_records() -> None:
    produced: dict[str, list[tuple[bytes, bytes | None]]] = {}

    async def deliver(topic: str, records: Sequence[tuple[bytes, bytes | None]]) -> int | None:
        produced.setdefault(topic, []).extend(records)
        return len(produced[topic]) + 10  # the topic held 10 records before

    rows, pending = Table("rows"), Table("pending")
    rows.data["gone"] = b"old"
    writes = TableWrites(deliver)
    writes.set(rows, "a", b"1")
    writes.set(rows, "a", b"2")  # the last write of a key wins
    writes.delete(rows, "gone")
    writes.delete(rows, "never-there")
    writes.set(pending, "root", b"1")
    assert len(writes) == 4
    asyncio.run(writes.flush())
    assert dict(rows.data) == {"a": b"2"} and dict(pending.data) == {"root": b"1"}
    assert produced == {"rows-changelog": [(b"a", b"2"), (b"gone", None), (b"never-there", None)],
                        "pending-changelog": [(b"root", b"1")]}
    assert rows.data.persisted == {TP("rows-changelog", 0): 12} and pending.data.persisted == {
        TP("pending-changelog", 0): 10}
    assert len(writes) == 0
    asyncio.run(writes.flush())  # nothing collected: nothing produced
    assert sum(len(v) for v in produced.values()) == 4


def test_a_failed_delivery_does_not_move_the_persisted_offset() -> None:
    async def deliver(topic: str, records: Sequence[tuple[bytes, bytes | None]]) -> int | None:
        raise ConnectionError("broker away")

    rows = Table("rows")
    writes = TableWrites(deliver)
    writes.set(rows, "a", b"1")
    try:
        asyncio.run(writes.flush())
    except ConnectionError:
        pass
    assert rows.data.persisted == {}  # a restart reads the changelog from where Kafka has it
