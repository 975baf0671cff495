"""Store mode's parts: the bounded cache of rows read, and a table whose rows live in the state
table (``streams.projection.stored``)."""

from __future__ import annotations

from typing import Any

from streams.erp.rows import Key, parse_row
from streams.projection.stored import RowCache, StoredTable


def _unit(unit_id: int, name: str = "WE") -> dict[str, Any]:
    return {"unit_id": unit_id, "property_id": 1, "unit_no": f"{unit_id:04d}", "name": name}


def test_the_cache_keeps_two_generations_and_drops_what_was_not_read_for_two() -> None:
    cache = RowCache(4)
    rows = {i: parse_row("unit", _unit(i)) for i in range(1, 6)}
    for i in (1, 2):
        cache.put(("unit", (i,)), rows[i])
    cache.age()  # the younger generation is full: it becomes the older one
    cache.put(("unit", (3,)), rows[3])
    assert cache.get(("unit", (1,))) is rows[1]  # found in the older one: young again
    cache.put(("unit", (4,)), rows[4])
    cache.age()
    cache.put(("unit", (5,)), rows[5])
    cache.age()
    assert cache.get(("unit", (2,))) is None  # not read for two generations
    assert [cache.get(("unit", (i,))) is rows[i] for i in (1, 3, 4, 5)] == [True] * 4
    cache.discard(("unit", (5,)))
    assert cache.get(("unit", (5,))) is None and len(cache) == 3


def test_a_stored_table_reads_only_keys_it_holds_and_never_reads_a_row_written_before_the_batch_ends() -> None:
    table: dict[Key, dict[str, Any]] = {(1,): _unit(1)}
    reads: list[Key] = []

    def source(name: str, key: Key) -> dict[str, Any] | None:
        assert name == "unit"
        reads.append(key)
        return table.get(key)

    cache = RowCache(1000)
    units = StoredTable("unit", source, cache)
    units.stored((1,))
    assert units.get((2,)) is None and reads == []  # not a key of the table: nothing read
    assert units[(1,)].name == "WE" and reads == [(1,)]
    assert units[(1,)].name == "WE" and reads == [(1,)]  # cached
    units[(1,)] = parse_row("unit", _unit(1, "neu"))  # the state table has the old row until carried out
    units[(2,)] = parse_row("unit", _unit(2))
    assert units[(1,)].name == "neu" and (2,) in units and len(units) == 2 and reads == [(1,)]
    table[(1,)], table[(2,)] = _unit(1, "neu"), _unit(2)  # the batch carried out
    cache.age()  # between batches (ErpState.new_batch)
    assert units[(2,)].unit_no == "0002" and reads == [(1,)]  # what the batch wrote stays cached
    assert units.pop((1,)).name == "neu" and (1,) not in units and units.get((1,)) is None
    units.forget((2,))
    assert list(units) == [] and reads == [(1,)]
