"""The worker's collector policy: survivors of a batch are frozen out of the collector's walks,
young garbage is still collected, and the due full collection frees what was frozen."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from streams.worker.heap import Heap


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


def _cycle() -> tuple[Node, weakref.ref[Node]]:
    a, b = Node(), Node()
    a.other, b.other = b, a
    return a, weakref.ref(a)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(autouse=True)
def _restore_gc() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.enable()
    gc.unfreeze()


def test_after_a_batch_its_garbage_cycles_are_collected_and_what_survived_is_frozen() -> None:
    heap = Heap(3600, clock=Clock())
    garbage, garbage_ref = _cycle()
    alive, alive_ref = _cycle()
    del garbage
    assert heap.after_batch() is None
    assert garbage_ref() is None  # young garbage: collected before the freeze
    assert gc.get_freeze_count() > 0
    assert not any(o is alive for o in gc.get_objects())  # frozen: no collection walks it
    del alive
    gc.collect()
    assert alive_ref() is not None  # a frozen cycle waits for the next full collection


def test_the_due_full_collection_frees_cycles_that_were_frozen_while_in_use() -> None:
    clock = Clock()
    heap = Heap(3600, clock=clock)
    alive, alive_ref = _cycle()
    heap.after_batch()
    del alive
    clock.now = 3599.0
    assert heap.after_batch() is None and alive_ref() is not None
    clock.now = 3600.0
    full = heap.after_batch()
    assert full is not None and full.collected >= 2 and alive_ref() is None
    assert full.frozen == gc.get_freeze_count() > 0
    assert heap.after_batch() is None  # the next one is an interval later


def test_interval_zero_leaves_pythons_own_collections() -> None:
    heap = Heap(0, clock=Clock())
    _alive = _cycle()
    assert not heap.enabled and heap.after_batch() is None
    assert gc.get_freeze_count() == 0
    with heap.loading():
        assert not gc.isenabled()
    assert gc.isenabled() and gc.get_freeze_count() == 0


def test_the_loaded_state_is_collected_by_nothing_while_it_loads_and_frozen_after() -> None:
    heap = Heap(3600, clock=Clock())
    with heap.loading():
        assert not gc.isenabled()
        loaded = [Node() for _ in range(1000)]
    assert gc.isenabled()
    assert gc.get_freeze_count() >= len(loaded)
    with pytest.raises(RuntimeError), heap.loading():
        raise RuntimeError("a broken store")
    assert gc.isenabled()  # enabled again after a failed load


def test_installed_python_runs_no_full_collection_of_its_own() -> None:
    before = gc.get_threshold()
    try:
        Heap(0).install()
        assert gc.get_threshold() == before  # off: Python's own collections as they were
        Heap(3600).install()
        assert gc.get_threshold()[:2] == before[:2] and gc.get_threshold()[2] > 10**9
    finally:
        gc.set_threshold(*before)
