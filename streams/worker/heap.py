"""Python's cyclic garbage collector and a worker that holds a million rows.

CPython frees almost every object by reference counting; its cyclic collector is there for
reference cycles. A *full* collection walks every tracked container, the worker's rows,
indexes and emitted entries included, and Python 3.11 runs one whenever the objects that
survived the young generations since the last one exceed a quarter of those it kept. At a
million ERP rows one full collection stops the worker for about a second; during a bulk load
it runs again each time the state has grown by a quarter (``bench/README.md``, "Python's
collector": 159 of them, 54 s together, for a bulk load of 1,076,311 rows).

The worker's state makes no cyclic garbage (none of those collections found any), so ``Heap``
keeps the state out of the collector's walks:

- Python's own full collections are left out (``install``): between two of the worker's, they
  would walk only what a batch left since the last freeze, which the next freeze takes anyway;
- a start that loads the state runs no collection while it loads and freezes what it loaded;
- after each batch the young generations are collected and what survived them is frozen
  (``gc.freeze``: the permanent generation, which no collection walks);
- every ``full_interval_s``, between two batches, one full collection (``gc.unfreeze``,
  ``gc.collect``, ``gc.freeze``) frees cyclic garbage that was frozen while still in use; its
  outcome goes to the log, so an operator sees whether there is any.

Objects frozen and later released by reference counting are freed as always; only cyclic
garbage waits for the next full collection. ``full_interval_s`` 0 leaves Python's own
collections as they are.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

NEVER = 2**31 - 1  # collections of the middle generation before Python runs a full one of its own


@dataclass(frozen=True)
class FullCollection:
    """What one full collection found: unreachable objects freed, seconds, objects frozen after."""

    collected: int
    seconds: float
    frozen: int


class Heap:
    """When the worker's process collects cyclic garbage (module docstring)."""

    def __init__(self, full_interval_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.enabled = full_interval_s > 0
        self.full_interval_s = full_interval_s
        self._clock = clock
        self._last_full = clock()

    def install(self) -> None:
        """This process's collections from now on: young generations as Python runs them, full
        collections only from ``after_batch``."""
        if self.enabled:
            young, middle, _ = gc.get_threshold()
            gc.set_threshold(young, middle, NEVER)

    @contextmanager
    def loading(self) -> Iterator[None]:
        """Around the load of the whole state: a million long-lived objects created at once,
        nothing to collect among them."""
        gc.disable()
        try:
            yield
        finally:
            gc.enable()
            if self.enabled:
                gc.freeze()

    def after_batch(self) -> FullCollection | None:
        """Between two batches: the young generations collected and their survivors frozen, or,
        when one is due, a full collection over everything."""
        if not self.enabled:
            return None
        now = self._clock()
        if now - self._last_full < self.full_interval_s:
            gc.collect(1)
            gc.freeze()
            return None
        self._last_full = now
        started = time.perf_counter()
        gc.unfreeze()
        collected = gc.collect()
        gc.freeze()
        return FullCollection(collected, time.perf_counter() - started, gc.get_freeze_count())
