"""An image of the worker's loaded state on local disk: a restart reads it instead of every row.

A start rebuilds the state from the worker's tables: every row of ``erp-rows`` decoded,
validated, its values shared and indexed (at a million rows the larger part of a restart).
The image holds what that produces as it is in memory — the ERP state with its indexes (in
store mode the keys of each table, not the rows: the worker reads those from ``erp-rows``), the
due-day index, the emitted table's root -> slots index and the slots casavi did not apply —
with the changelog offsets of the ``rows`` and ``emitted`` tables it reflects.

Written between two batches by a forked child process: the child sees the worker's memory
as it was at that moment (copy-on-write) and writes it, at the lowest CPU priority, to a
temporary file renamed into place; the worker goes on at once. At most one child runs; a new
image is written once ``BRIDGE_WORKER__IMAGE_INTERVAL_S`` have passed, the state changed and
the worker has caught up (not during a bulk load). While it writes, the child needs up to the worker's memory again
for the pages the worker changes meanwhile and for its own bookkeeping.

At start the image is taken when it was written for the same tables, settings and code (the
source of the modules whose objects it holds) and neither store has gone back behind it. The
rows and slots written to the tables after it — the changelog records between its offsets and
the stores' — are read again from the stores (``ImageDelta``). Otherwise the state is loaded
from the tables. The tables stay the source of truth: the image is a cache and may be deleted
at any time.
"""

from __future__ import annotations

import gc
import hashlib
import json
import logging
import os
import pickle
import signal
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

FORMAT = 1  # raise when what an image holds changes in a way the source digest does not show
IMAGED_TABLES = ("rows", "emitted")  # the tables whose content the image holds (the others are read at start)
# the modules whose classes and meaning the image's objects carry
_SOURCES = ("streams.erp.rows", "streams.erp.schema", "streams.projection.state", "streams.projection.multimap",
            "streams.projection.shared", "streams.projection.due", "streams.projection.diff",
            "streams.projection.roots", "streams.projection.stored", "streams.worker.image",
            "streams.worker.processor")


def code_digest() -> str:
    """A digest of the source of the modules whose objects an image holds."""
    import importlib

    h = hashlib.sha256(str(FORMAT).encode())
    for name in _SOURCES:
        module = importlib.import_module(name)
        h.update(Path(module.__file__ or "").read_bytes())
    return h.hexdigest()[:16]


def image_identity(app_id: str, tables: Mapping[str, str], fingerprint: str) -> str:
    """What an image must have been written for: the worker, its table names, the sync
    settings' projection fingerprint and the code."""
    text = "\n".join([app_id, *(f"{k}={v}" for k, v in sorted(tables.items())), fingerprint, code_digest()])
    return hashlib.sha256(text.encode()).hexdigest()[:24]


@dataclass
class StateImage:
    identity: str
    offsets: dict[str, int | None]  # table ("rows", "emitted") -> changelog offset it reflects
    parts: dict[str, Any]  # what the processor gave (``Processor.image_parts``)
    written_at: float = field(default_factory=time.time)
    rows: int = 0


def write_image(path: Path, image: StateImage) -> None:
    """Write an image to ``path`` (a temporary file renamed into place)."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        pickle.dump(image, f, protocol=pickle.HIGHEST_PROTOCOL)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def read_image(path: Path, identity: str) -> StateImage | None:
    """The image at ``path`` when it was written for ``identity``; None otherwise (and when
    there is none or it cannot be read)."""
    if not path.exists():
        return None
    started = time.monotonic()
    try:  # called within Heap.loading: no collection runs while its objects are created
        with open(path, "rb") as f:
            image = pickle.load(f)
    except Exception as exc:  # noqa: BLE001 - a cache: whatever is wrong with it, load from the tables
        log.warning("state image %s not readable (%s): loading from the tables", path.name, type(exc).__name__)
        return None
    if not isinstance(image, StateImage) or image.identity != identity:
        log.info("state image %s is of other settings, tables or code: loading from the tables", path.name)
        return None
    log.info("state image read in %.1fs (%d rows, written %.0fs ago)", time.monotonic() - started, image.rows,
             time.time() - image.written_at)
    return image


@dataclass
class ImageDelta:
    """How the stores moved on after an image: per table, the changelog offsets to read again."""

    ranges: dict[str, tuple[int, int]]  # table -> (first offset, last offset), inclusive

    @property
    def records(self) -> int:
        return sum(last - first + 1 for first, last in self.ranges.values())


def delta_of(image: StateImage, stored: Mapping[str, int | None]) -> ImageDelta | None:
    """The changelog records the stores hold beyond the image (``stored``: each table's
    persisted changelog offset now); None when a store is behind the image (rebuilt, or
    the image is of another store): the image cannot be used."""
    ranges: dict[str, tuple[int, int]] = {}
    for table in IMAGED_TABLES:
        was, now = image.offsets.get(table), stored.get(table)
        if was is None:
            if now is not None:
                ranges[table] = (0, now)
        elif now is None or now < was:
            return None
        elif now > was:
            ranges[table] = (was + 1, now)
    return ImageDelta(ranges)


class ImageWriter:
    """Writes images by forked child processes, one at a time, at most every ``interval_s``.

    ``after_batch`` is called by the worker between batches (where its state matches its
    tables); ``offsets`` reads the stores' changelog offsets at that moment.
    """

    def __init__(self, path: Path, identity: str, interval_s: float, parts: Callable[[], dict[str, Any]],
                 offsets: Callable[[], dict[str, int | None]], rows: Callable[[], int],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.path = path
        self.identity = identity
        self.interval_s = interval_s
        self._parts = parts
        self._offsets = offsets
        self._rows = rows
        self._clock = clock
        self._last = clock()
        self._child: int | None = None
        self._written_offsets: dict[str, int | None] | None = None  # of the last image started
        self.written = 0

    @property
    def enabled(self) -> bool:
        return self.interval_s > 0

    def loaded(self, offsets: Mapping[str, int | None]) -> None:
        """The state was just loaded with the stores at ``offsets``: an image of it is due only
        after the next change (a start from the image needs none)."""
        self._written_offsets = dict(offsets)
        self._last = self._clock()

    def after_batch(self, caught_up: bool) -> bool:
        """Start writing an image when one is due; True when a child was started."""
        self.reap()
        if not self.enabled or self._child is not None or not caught_up:
            return False
        if self._clock() - self._last < self.interval_s:
            return False
        offsets = self._offsets()
        if offsets == self._written_offsets:
            return False  # nothing changed since the last image
        image = StateImage(self.identity, offsets, self._parts(), rows=self._rows())
        pid = os.fork()
        if pid == 0:  # the child: write and leave at once, running none of the worker's exit handlers
            code = 0
            try:
                # the lowest CPU priority: pickling a million rows takes a core for half a minute,
                # which live changes of the worker (and Kafka beside it) must not wait for
                os.nice(19)
                gc.disable()
                write_image(self.path, image)
            except BaseException:  # noqa: BLE001 - nothing to report to in the child; the worker logs the code
                code = 1
            finally:
                os._exit(code)
        self._child = pid
        self._written_offsets = offsets
        self._last = self._clock()
        return True

    def discard(self) -> None:
        """A batch failed part-way: the state in memory may differ from the tables until the
        next start, so no image of it is written, and the one on disk is removed (the next
        start loads every row). A child still writing is stopped, not waited for."""
        if self._child is not None:
            os.kill(self._child, signal.SIGKILL)
            os.waitpid(self._child, 0)
            self._child = None
        self.interval_s = 0.0
        self.path.with_name(self.path.name + ".tmp").unlink(missing_ok=True)
        self.path.unlink(missing_ok=True)

    def reap(self) -> None:
        """Collect a child that has finished (without waiting for one that has not)."""
        if self._child is None:
            return
        pid, status = os.waitpid(self._child, os.WNOHANG)
        if pid == 0:
            return
        self._child = None
        if os.waitstatus_to_exitcode(status) == 0:
            self.written += 1
            log.info("state image written (%s)", self.path.name)
        else:
            self._written_offsets = None  # try again at the next interval
            log.warning("writing the state image failed (exit %s)", os.waitstatus_to_exitcode(status))

    def wait(self, timeout_s: float = 60.0) -> None:
        """Wait for a running child (tests; and a stopping worker leaves no half-written image
        behind: the temporary file is only renamed once complete)."""
        deadline = time.monotonic() + timeout_s
        while self._child is not None and time.monotonic() < deadline:
            self.reap()
            if self._child is not None:
                time.sleep(0.05)


def changed_keys(read: Callable[[str, int, int], Iterable[bytes]], topics: Mapping[str, str],
                 delta: ImageDelta) -> dict[str, set[str]]:
    """The keys of the changelog records of ``delta``, per table (``read(topic, first, last)``
    yields the keys of partition 0 between two offsets, inclusive)."""
    return {table: {changelog_key(key) for key in read(topics[table], first, last)}
            for table, (first, last) in delta.ranges.items()}


def changelog_key(data: bytes) -> str:
    """A table key as its changelog record carries it: Faust writes a ``str`` key as a JSON string."""
    text = data.decode()
    return str(json.loads(text)) if text.startswith('"') else text


def image_path(tabledir: Path, system: str) -> Path:
    """Where the worker keeps the state image: beside its tables' local stores."""
    return tabledir / f"state-image-{system}.pickle"
