"""The worker's step logic without Kafka: fold row changes, project, diff, remember.

The Faust app moves bytes in and out; this class decides. It keeps the ERP state (with
``stored_entry``: its keys and indexes, the rows read from the state table when needed) and
the last-emitted table's root -> slots index in memory (rebuilt from the persisted tables at
start) and says which persisted keys to write, so tests drive it directly.

During a backlog (a bulk load, a catch-up after downtime) the roots a batch touches are
deferred instead of projected: kept in ``pending`` (persisted by the worker) and projected
once the worker has caught up, or when ``max_pending`` roots wait or the oldest waited
``max_defer_s``. A unit whose contracts arrive in later batches is then sent once, with its
contracts, instead of once per batch.

Passes over many roots (the daily tick, a full sync, a changed configuration) are queued
and projected in chunks between live changes: at most ``pass_chunk`` roots, and no more than
the roots of the same kind before took to project suggest fit in ``pass_budget_s``
(``ChunkPace``); a pass over every root goes table by table (``ROOT_TABLES``). The tick
takes only the roots due that day from the ``DueIndex``. What the worker has finished is
kept in its meta table: ``day`` (every root due on or before it is projected), ``config``
(the fingerprint of the sync settings the projection was made with) and ``settings`` (those
settings). A worker started with other settings re-projects the roots the change reaches
(``roots_affected_by_config``): a person type disabled, a licence switched, a property
deselected send what enters the projection and delete what left it. While such a pass runs,
``settings_pass`` is set; a worker that finds it set (the pass was cut short, the settings
changed again) re-projects every root once.
"""

from __future__ import annotations

import hashlib
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

from streams.casavi.import_contract import CONTENT_TOO_LARGE
from streams.cdc.model import UNAVAILABLE, Row, RowChange
from streams.commands.model import CasaviCommand, DeadLetter
from streams.commands.receipts import DEPENDENCY_CODES, Receipt
from streams.erp.rows import DERIVED_COLUMNS, Key, row_dict
from streams.erp.schema import TABLES
from streams.projection.diff import EmittedTable, plan
from streams.projection.due import DUE_TABLES, DueIndex, roots_of_due_row
from streams.projection.model import EmittedEntry
from streams.projection.project import all_roots, effective_today, root_exists
from streams.projection.quality import QualityReport, quality_cases
from streams.projection.reconfigure import roots_affected_by_config
from streams.projection.roots import ROOT_TABLES, Root, parse_root_key, root_sort_key
from streams.projection.rules import ProjectionConfig, Rejection
from streams.projection.state import ErpState
from streams.projection.stored import Recent
from streams.settings import SyncSettings, WorkerSettings
from streams.worker.rowcodec import (Position, PositionOrder, parse_row_key, position_order, row_key,
                                     table_of_row_key)


@dataclass
class FoldResult:
    roots: set[Root] = field(default_factory=set)
    # (state-table key, row or None once deleted, source position of the change)
    row_writes: list[tuple[str, Row | None, Position | None]] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    newest_source_ts_ms: int | None = None
    replayed: int = 0  # changes older than what the state already holds: skipped
    # changes of a snapshot that goes on, or many of one source transaction: a bulk load
    bulk: bool = False
    # document content for the content topic: (key, content or None to forget it); never in the state
    content_writes: list[tuple[str, bytes | None]] = field(default_factory=list)


# The content hash of an emitted entry casavi did not apply: never equal to a real hash, so
# the next projection of its root sends the slot again (or deletes it again).
FAILED = "failed:"

EmittedWrite = tuple[str, dict[str, Any] | None]
StoredEntry = tuple[Row | None, Position | None]  # an entry of the state table: the row (None: deleted), its position
ROW_CACHE: int = WorkerSettings.model_fields["row_cache"].default  # rows read from the state table kept in memory


@dataclass
class ReceiptOutcome:
    roots: set[Root] = field(default_factory=set)  # to re-project now
    emitted_writes: list[EmittedWrite] = field(default_factory=list)
    failed: int = 0
    ignored: int = 0  # of another system, or about a command since superseded


MetaWrite = tuple[str, str]  # key of the worker's meta table, value
PendingWrite = tuple[str, bool]  # root key, True: now pending / False: projected
DAY, CONFIG, SETTINGS, SETTINGS_PASS = "day", "config", "settings", "settings_pass"  # keys of the meta table
PASS_CHUNK: int = WorkerSettings.model_fields["pass_chunk"].default  # roots of a queued pass projected per batch
PASS_BUDGET_S: float = WorkerSettings.model_fields["pass_budget_ms"].default / 1000  # time a chunk of a pass may take
SCAN_PER_ROOT = 20  # keys a chunk of a pass looks at per root it may hold (most keys name a root)
BULK_TX_CHANGES = 1000  # changes of one source transaction that make it a bulk load
BULK_TX_QUIET_S = 2.0  # seconds without a change of a transaction after which it has ended


def config_fingerprint(config: SyncSettings) -> str:
    """What the projection depends on besides the ERP rows and the day, in short."""
    return hashlib.sha256(config.fingerprint().encode()).hexdigest()[:16]


@dataclass
class _Pass:
    """A pass over every root in progress: the roots still to come, whether they are sent
    whatever casavi holds, and about how many are left."""

    force: bool
    left: int
    roots: Iterator[Root | None] = iter(())  # None: a key looked at that names no root to project
    table: int = -1  # the index in ``ROOT_TABLES`` of the table being listed
    held: Root | None = None  # taken from ``roots`` but left for the next chunk

    def reaches(self, root: Root) -> bool:
        """Whether the pass projects ``root`` later: its table's turn has not come yet."""
        return root_sort_key(root)[0] > self.table  # ROOT_TABLES is in root_sort_key order


class ChunkPace:
    """How many roots of a pass fit in a chunk: ``budget_s`` over the seconds a root took to
    project lately (a moving average over projections of at least ``MIN_SAMPLE`` roots), never
    more than ``limit``. Each kind of root is measured on its own where a projection held one
    kind only (a pass goes table by table: a property with its buildings and responsibilities
    takes several times as long as a person), the others together; before a kind was measured
    its chunk holds ``FIRST`` roots. A root of a million-row company (decades of contracts,
    documents) takes longer than one of a small test dataset: a fixed count would hold live
    changes back for seconds there."""

    FIRST = 50
    MIN_SAMPLE = 10
    WEIGHT = 0.3  # of the newest measurement

    def __init__(self, limit: int, budget_s: float) -> None:
        self.limit = limit
        self.budget_s = budget_s
        self.s_per_root: dict[type[Root] | None, float] = {}  # None: projections of mixed kinds

    def measured(self, roots: int, seconds: float, kind: type[Root] | None = None) -> None:
        if roots < self.MIN_SAMPLE:
            return
        sample = seconds / roots
        held = self.s_per_root.get(kind)
        self.s_per_root[kind] = sample if held is None else held + self.WEIGHT * (sample - held)

    def size(self, kind: type[Root] | None = None) -> int:
        held = self.s_per_root.get(kind)
        if held is None:
            return min(self.limit, self.FIRST)
        return max(1, min(self.limit, int(self.budget_s / max(held, 1e-9))))


@dataclass
class PassChunk:
    roots: set[Root] = field(default_factory=set)
    forced: set[Root] = field(default_factory=set)  # sent again even where casavi holds them
    meta_writes: list[MetaWrite] = field(default_factory=list)  # to persist once the chunk is delivered


class _Later:
    """The roots a chunk's plan leaves to their own turn: deferred ones (``pending``) and those
    the pass in progress reaches later."""

    def __init__(self, processor: Processor) -> None:
        self._pending = processor.pending
        self._pass = processor._passes[0] if processor._passes else None

    def __contains__(self, root: object) -> bool:
        return root in self._pending or (self._pass is not None and isinstance(root, Root) and self._pass.reaches(root))


class Processor:
    def __init__(self, config: SyncSettings, system: str = "test", pass_chunk: int = PASS_CHUNK,
                 max_pending: int = 1_000_000, max_defer_s: float = 10.0,
                 stored_entry: Callable[[str], StoredEntry | None] | None = None,
                 stored_emitted: Callable[[str], EmittedEntry | None] | None = None,
                 pass_budget_s: float = PASS_BUDGET_S, clock: Callable[[], float] = time.perf_counter,
                 row_cache: int = ROW_CACHE) -> None:
        self.config = config
        self.system = system  # the casavi system the emitted table is about (R22)
        self.fingerprint = config_fingerprint(config)
        self.due = DueIndex(ProjectionConfig.of(config))
        self.day: date | None = None  # every root due on or before this day is projected
        self.pace = ChunkPace(pass_chunk, pass_budget_s)
        self._clock = clock
        self._queue: deque[tuple[Root, bool]] = deque()
        self._queued: set[tuple[Root, bool]] = set()
        self._passes: deque[_Pass] = deque()  # passes over every root, taken chunk by chunk
        self._done_when_drained: dict[str, str] = {}
        self._stored_fingerprint: str | None = None
        self._stored_settings: str | None = None  # SyncSettings.fingerprint() of the last finished projection
        self._settings_pass_cut_short = False
        self._pass_started: list[MetaWrite] = []  # written with the first chunk of a settings pass
        self.pending: set[Root] = set()
        self.max_pending = max_pending
        self.max_defer_s = max_defer_s
        self._pending_since: float | None = None
        self._flushing: deque[Root] = deque()  # the pending roots of a flush in progress, in order
        # transaction -> (changes seen so far, when last seen)
        self._tx_changes: dict[str, tuple[int, float]] = {}
        # With ``stored_entry`` (the worker reads its state table by key) the state keeps keys and
        # indexes in memory and reads rows from the table (``ErpState`` store mode); without, it
        # holds every row.
        self._stored_entry = stored_entry
        # entries whose position the batch checked: their rows are read by the fold that follows
        # (written rows then stay in the state until the next batch, when this is cleared)
        self._entries: dict[str, StoredEntry] = {}
        self.state = ErpState(self._stored_row if stored_entry is not None else None, row_cache)
        self.emitted = EmittedTable(stored=stored_emitted)
        # slots casavi did not apply -> their root key; and, for those that wait for another
        # entity (a contract for its contact), needed slot -> waiting slots
        self.failed: dict[str, str] = {}
        self.waiting: dict[str, set[str]] = {}
        self._letters: list[DeadLetter] = []
        # state-table key -> source position of the last change applied to that row (deletes
        # included): a replayed or duplicated older change never takes the state back in time.
        # With ``stored_entry`` the positions of rows checked or written lately, bounded as the
        # row cache (a position the batch wrote stays until the batch is carried out); the
        # others are read from the state table. Without, all of them.
        self.positions: dict[str, PositionOrder] | Recent[str, PositionOrder] = (
            Recent(row_cache) if stored_entry is not None else {})
        # slots casavi cannot take (R16: content over its limit) -> what was rejected: each
        # rejection is a dead letter once, not at every projection of its root
        self.rejected: dict[str, str] = {}

    # --- start-up ---------------------------------------------------------------------

    def load_meta(self, meta: dict[str, str]) -> None:
        """The worker's meta table (before the rows: the day decides what is due)."""
        day = date.fromisoformat(meta[DAY]) if DAY in meta else None
        # a day after today: the day went back (a fixed BRIDGE_SYNC__TODAY was changed or
        # removed); forgotten, so every root is projected again with today's rules
        self.day = day if day is not None and day <= self.today() else None
        self._stored_fingerprint = meta.get(CONFIG)
        self._stored_settings = meta.get(SETTINGS)
        self._settings_pass_cut_short = bool(meta.get(SETTINGS_PASS))

    def load_pending(self, root_key: str) -> None:
        """One root the worker had deferred when it stopped."""
        self.pending.add(parse_root_key(root_key))
        if self._pending_since is None:
            self._pending_since = time.monotonic()

    def load_row(self, key: str, row: Row | None, position: Position | None) -> None:
        """One entry of the persisted state table (``row`` None: deleted, position kept)."""
        if row is not None:
            table = table_of_row_key(key)
            stored = self.state.set_row(table, row)
            if table in DUE_TABLES:  # without a day, the start projects every root with today's rules
                self.due.add(stored, self.day or self.today())
        if position is not None and self._stored_entry is None:
            self.positions[key] = position_order(position)

    def load_emitted(self, entry: dict[str, Any]) -> None:
        """One entry of the persisted last-emitted table (its key is derived from it)."""
        loaded = EmittedEntry.from_dict(entry)
        self.emitted.load(loaded)
        if loaded.content_hash.startswith(FAILED):
            self.failed[loaded.key] = loaded.root

    def image_parts(self) -> dict[str, Any]:
        """What a start loads, as it is in memory, for the state image (``streams.worker.image``)."""
        # store mode: the positions are in the state table (those held lately may be older than
        # what is written after the image: a start begins without them)
        positions = self.positions if isinstance(self.positions, dict) else {}
        return {"state": self.state, "due": self.due.by_day, "positions": positions,
                "emitted": self.emitted.image_parts(), "failed": self.failed}

    def load_image(self, parts: dict[str, Any]) -> None:
        """Instead of ``load_row`` and ``load_emitted`` for every entry: the parts of an image."""
        self.state = parts["state"]
        if self.state.cache is not None:
            self.state.attach(self._stored_row)
        self.due.by_day = parts["due"]
        if isinstance(self.positions, dict):
            self.positions = parts["positions"]
        self.emitted.load_image(parts["emitted"])
        self.failed = parts["failed"]

    def reload_rows(self, entries: Mapping[str, StoredEntry | None]) -> None:
        """Entries of the state table written after the image was taken (None, or a ``row``
        None: deleted or gone from the table). What the image held under those keys is
        forgotten first, found by key: in store mode the table holds only the newer row."""
        keys: dict[str, list[Key]] = {}
        for key in entries:
            table, pk = parse_row_key(key)
            keys.setdefault(table, []).append(pk)
        for table, pks in keys.items():
            self.state.forget_rows(table, pks)
        for key, entry in entries.items():
            row, position = entry if entry is not None else (None, None)
            if row is not None:
                self.load_row(key, row, position)
            elif position is not None and self._stored_entry is None:
                self.positions[key] = position_order(position)

    def reload_emitted(self, entries: Mapping[str, dict[str, Any] | None]) -> None:
        """Entries of the last-emitted table written after the image was taken (None: deleted)."""
        loaded = {slot: None if entry is None else EmittedEntry.from_dict(entry) for slot, entry in entries.items()}
        self.emitted.reload(loaded)
        for slot, entry in loaded.items():
            if entry is not None and entry.content_hash.startswith(FAILED):
                self.failed[slot] = entry.root
            else:
                self.failed.pop(slot, None)

    def finish_loading(self) -> None:
        """After the tables are loaded: a worker that does not know what its projection was
        made with (first start on existing data) projects every root once, in chunks; one
        started with other sync settings projects the roots the change reaches. The start
        tick then sends what fell due while it was stopped."""
        if self._stored_fingerprint == self.fingerprint and self.day is not None:
            return
        if len(self.state) or len(self.emitted):
            known = self.day is not None and not self._settings_pass_cut_short and self._stored_settings is not None
            if known:
                self._enqueue(sorted(self.reconfigured(self._stored_settings), key=lambda r: r.key), False)
            else:  # every root, taken from the state chunk by chunk (not listed at start)
                self.queue_all()
            self._pass_started = [(SETTINGS_PASS, "1")]
        self._when_drained(self.today(), config=True)

    def reconfigured(self, previous: str | None) -> set[Root]:
        """The roots to re-project because the settings differ from ``previous`` (the
        ``SyncSettings.fingerprint()`` of the last run; None: not known). Projecting them
        sends what the new settings add and deletes what they take out (R13)."""
        if previous is None or previous == self.config.fingerprint():
            return set()
        try:
            before = SyncSettings.model_validate_json(previous)
        except ValueError:
            return self.known_roots()  # written by another version: take no chances
        roots = roots_affected_by_config(self.state, before, self.config, self.today())
        return self.known_roots() if roots is None else roots

    def quality(self, generated_at: datetime) -> QualityReport:
        """The data-quality report of the current state (``streams.projection.quality``)."""
        today = self.today()
        return QualityReport(generated_at=generated_at, today=today,
                             cases=quality_cases(self.state, self.config, today))

    def _index_due(self, table: str, row: Row, after: date | None) -> None:
        stored = self.state.get(table, tuple(row[c] for c in TABLES[table].primary_key))
        if stored is not None:
            self.due.add(stored, after)

    @property
    def row_count(self) -> int:
        return len(self.state)

    @property
    def emitted_count(self) -> int:
        return len(self.emitted)

    def today(self) -> date:
        return effective_today(self.config)

    # --- one batch ----------------------------------------------------------------------

    def fold(self, changes: Iterable[RowChange], now: float | None = None, behind: bool = False) -> FoldResult:
        """Fold changes in order. A change not newer than the one that last wrote its row is a
        replay and is skipped; a row that breaks the schema is dead-lettered, not folded."""
        changes = list(changes)
        result = FoldResult()
        result.bulk = self._bulk(changes, now, behind)
        if isinstance(self.positions, Recent):  # the earlier batches' writes are in the state table
            self.positions.age()
            self._entries.clear()
            self.state.new_batch()
        self.emitted.new_batch()
        for change in changes:
            key = row_key(change.table, change.key)
            position = change.position.sort_key if change.position.known else None
            order: PositionOrder | None = None
            if position is not None:
                seen = self._seen(key)
                order = position_order(position)
                if seen is not None and type(seen) is type(order) and order <= seen:  # type: ignore[operator]
                    result.replayed += 1
                    continue
            try:
                change = self._fill_unavailable(change)
                result.roots |= self.state.apply(change)
            except ValueError as exc:  # RowSchemaError / UnknownTable / UnavailableColumns: no values
                result.dead_letters.append(_fold_letter(change, str(exc), type(exc).__name__))
                continue
            except Exception as exc:  # noqa: BLE001 - one change, not the batch: its message may quote values
                result.dead_letters.append(_fold_letter(
                    change, f"unexpected {type(exc).__name__} while folding", "UNEXPECTED"))
                continue
            self._written(result, key, None if change.op == "d" else self._stored(change), position, order)
            content = _content_write(change)
            if content is not None:
                result.content_writes.append(content)
            if change.op != "d" and change.table in DUE_TABLES and change.after is not None:
                self._index_due(change.table, change.after, after=self.today())
            old_key = _previous_key(change)
            if old_key is not None and old_key != key:  # an update that changed the primary key
                self._written(result, old_key, None, position, order)
            ts = change.position.ts_ms
            if ts is not None and (result.newest_source_ts_ms is None or ts > result.newest_source_ts_ms):
                result.newest_source_ts_ms = ts
        return result

    def _seen(self, key: str) -> PositionOrder | None:
        """The position of the last change written to the row of ``key``."""
        seen = self.positions.get(key)
        if seen is None and self._stored_entry is not None:
            entry = self._stored_entry(key)
            if entry is None:
                return None
            if entry[0] is not None:  # the state reads the row next, when the change is folded
                self._entries[key] = entry
            if entry[1] is None:
                return None
            seen = self.positions[key] = position_order(entry[1])
        return seen

    def _stored_row(self, table: str, key: Key) -> Row | None:
        """The row of the state table under ``table``/``key`` (store mode's ``RowSource``)."""
        k = row_key(table, key)
        entry: StoredEntry | None
        if k in self._entries:
            entry = self._entries.pop(k)
        else:
            assert self._stored_entry is not None  # store mode only
            entry = self._stored_entry(k)
        return None if entry is None else entry[0]

    def _bulk(self, changes: Sequence[RowChange], now: float | None = None, behind: bool = False) -> bool:
        """Whether the batch is part of a bulk load: a snapshot that goes on, or a transaction
        of which ``BULK_TX_CHANGES`` changes have arrived, counted across batches (Debezium
        streams a large transaction over many batches, between which other records come). A
        transaction not seen for ``BULK_TX_QUIET_S`` has ended — unless the worker is
        ``behind``: then its further changes may just not have been read yet (a batch of
        receipts between two of its batches)."""
        now = time.monotonic() if now is None else now
        counts = self._tx_changes
        snapshot = False
        for change in changes:
            position = change.position
            snapshot = snapshot or position.snapshot
            if position.tx is not None:
                counts[position.tx] = (counts.get(position.tx, (0, now))[0] + 1, now)
        for tx in [tx for tx, (_, seen) in counts.items() if now - seen >= BULK_TX_QUIET_S and not behind]:
            del counts[tx]
        return snapshot or any(count >= BULK_TX_CHANGES for count, _ in counts.values())

    def _fill_unavailable(self, change: RowChange) -> RowChange:
        """Columns Debezium did not send (``UNAVAILABLE``: an unchanged LOB or TOASTed value)
        keep the value the state holds; in ``before`` they are unknown and left out."""
        after, before = change.after, change.before
        # ``in`` compares by identity first, in C: most changes have no gap
        after_gaps = after is not None and UNAVAILABLE in after.values()
        before_gaps = before is not None and UNAVAILABLE in before.values()
        if not after_gaps and not before_gaps:
            return change
        gaps = [c for c, v in after.items() if v is UNAVAILABLE] if after is not None else []
        update: dict[str, Any] = {}
        if before_gaps:
            assert before is not None
            update["before"] = {c: v for c, v in before.items() if v is not UNAVAILABLE}
        if gaps and change.op != "d":
            assert after is not None
            held = self.state.get(change.table, change.key)
            old_key = _previous_key(change)
            if held is None and old_key is not None:  # an update that changed the primary key
                held = self.state.get(change.table, parse_row_key(old_key)[1])
            if held is None:
                raise UnavailableColumns(change.table, gaps)
            current = row_dict(held)
            derived = DERIVED_COLUMNS.get(change.table, {})
            filled = {c: v for c, v in after.items() if c not in derived or c not in gaps}
            for c in gaps:  # a column kept as a digest keeps the digest held; the others their value
                filled.update({d: current.get(d) for d in derived[c]} if c in derived else {c: current.get(c)})
            update["after"] = filled
        return change.model_copy(update=update)

    def _stored(self, change: RowChange) -> Row | None:
        """The row as the state table keeps it: a table with derived columns (document content)
        keeps the parsed row, so the persisted table never holds the content either."""
        if change.table not in DERIVED_COLUMNS or change.after is None:
            return change.after
        held = self.state.get(change.table, change.key)
        return row_dict(held) if held is not None else change.after

    def _written(self, result: FoldResult, key: str, row: Row | None, position: Position | None,
                 order: PositionOrder | None) -> None:
        """A row write of the batch; ``order``: ``position_order(position)``."""
        if order is not None:
            self.positions[key] = order
        result.row_writes.append((key, row, position))

    def project(self, roots: Iterable[Root], source_ts_ms: int | None = None, *,
                force: bool = False, chunk: bool = False) -> list[CasaviCommand]:
        """Commands for the affected roots, in casavi's order (R20); records them as emitted
        in memory. Persist with ``emitted_writes`` once they are delivered. A dependant that
        is deferred (``pending``) is projected when its own turn comes; with ``chunk`` (the
        roots of a chunk, ``next_chunk``) also one the pass in progress reaches later: a staff
        member's projection, say, does not take every ticket they are responsible for along."""
        errors: list[tuple[Root, BaseException]] = []
        rejected: list[Rejection] = []
        roots = set(roots)
        kinds = {type(r) for r in roots}
        started = self._clock()
        commands = plan(self.state, roots, self.config, self.today(), self.emitted, record=True, force=force,
                        errors=errors, rejected=rejected, later=_Later(self) if chunk else self.pending)
        self.pace.measured(len(roots), self._clock() - started, kinds.pop() if len(kinds) == 1 else None)
        for r in rejected:
            slot = f"{r.entity}:{r.reference_id}"
            if self.rejected.get(slot) == r.fingerprint:
                continue
            self.rejected[slot] = r.fingerprint
            self._letters.append(DeadLetter(stage="project", reason=r.reason, error_code=CONTENT_TOO_LARGE,
                                            topic="", partition=-1, offset=-1, entity=r.entity,
                                            reference_id=r.reference_id, key=r.root, at_ms=int(time.time() * 1000)))
        for root, exc in errors:  # type and root only: the message of an unexpected error may quote values
            self._letters.append(DeadLetter(stage="project", reason=f"unexpected {type(exc).__name__} while "
                                            f"projecting root {root.key}", error_code="UNEXPECTED", topic="",
                                            partition=-1, offset=-1, at_ms=int(time.time() * 1000)))
        now = int(time.time() * 1000)
        out = [c.model_copy(update={"emitted_at_ms": now, "source_ts_ms": source_ts_ms, "system": self.system})
               for c in commands]
        for c in out:
            self.failed.pop(c.slot, None)  # sent again: its receipt tells anew
        return out

    # --- deferral during a backlog ------------------------------------------------------------

    def defer(self, roots: Iterable[Root], now: float | None = None) -> list[PendingWrite]:
        """Keep ``roots`` for later (the worker is behind); the pending-table writes."""
        writes: list[PendingWrite] = []
        for root in roots:
            if root not in self.pending:
                self.pending.add(root)
                writes.append((root.key, True))
        if self.pending and self._pending_since is None:
            self._pending_since = now if now is not None else time.monotonic()
        return writes

    def due_pending(self, behind: bool, now: float | None = None, bulk: bool = False) -> bool:
        """Whether the deferred roots are to be projected now: caught up, too many, waited too
        long. During a bulk load (``bulk``) only too many: its rows keep coming until it ends."""
        if not self.pending:
            return False
        if not (behind or bulk) or len(self.pending) >= self.max_pending:
            return True
        if bulk:
            return False
        waited = (now if now is not None else time.monotonic()) - (self._pending_since or 0.0)
        return waited >= self.max_defer_s

    def take_pending(self, limit: int | None = None) -> tuple[set[Root], list[PendingWrite]]:
        """The next ``limit`` deferred roots (all without a limit) in ``root_sort_key`` order,
        forgotten as pending; the writes to persist once projected. The others stay pending
        (and persisted): a bulk load's hundred thousand roots go out chunk by chunk, each
        batch projecting a bounded number, properties and persons before their units."""
        if limit is None or limit >= len(self.pending):
            roots, self.pending, self._pending_since, self._flushing = self.pending, set(), None, deque()
            return roots, [(root.key, False) for root in roots]
        if not self._flushing:  # the order of this flush, fixed once; roots deferred meanwhile follow it
            self._flushing = deque(sorted(self.pending, key=root_sort_key))
        taken: set[Root] = set()
        while self._flushing and len(taken) < limit:
            root = self._flushing.popleft()
            if root in self.pending:
                self.pending.discard(root)
                taken.add(root)
        if not self.pending:
            self._pending_since = None
        return taken, [(root.key, False) for root in sorted(taken, key=root_sort_key)]

    def known_roots(self) -> set[Root]:
        """Every root, including those whose rows are gone but whose slots casavi holds."""
        return all_roots(self.state) | {parse_root_key(k) for k in self.emitted.by_root}

    def reproject_all(self, *, force: bool = False) -> list[CasaviCommand]:
        """Every root at once; ``force``: everything sent again. The worker queues passes
        instead (``queue_all``, ``tick``); this is for tools and tests."""
        return self.project(self.known_roots(), force=force)

    # --- passes over many roots -------------------------------------------------------------

    @property
    def pass_chunk(self) -> int:
        """Roots projected per batch at most: of a pass, and of deferred roots of a bulk load."""
        return self.pace.limit

    @pass_chunk.setter
    def pass_chunk(self, value: int) -> None:
        self.pace.limit = value

    def _enqueue(self, roots: Iterable[Root], force: bool) -> None:
        for root in roots:
            item = (root, force)
            if item not in self._queued:
                self._queued.add(item)
                self._queue.append(item)

    def queue_all(self, *, force: bool = False) -> None:
        """A pass over every root (``force``: a full sync of the casavi system). Its roots are
        taken a chunk at a time from the state as it is then (``_every_root``): asking for a
        pass costs nothing, also at a million rows, where listing and sorting every root at
        once held live changes back for seconds."""
        st = self.state
        current = _Pass(force, sum(len(st.rows(table)) for _, table in ROOT_TABLES))
        current.roots = self._every_root(current)
        self._passes.append(current)

    def _every_root(self, current: _Pass) -> Iterator[Root | None]:
        """Every root, table by table in root order (``ROOT_TABLES``), then the roots whose rows
        are gone but whose slots casavi holds. A table's keys are listed when its turn comes.
        Each key looked at that names no root gives None, so that a chunk ends after a bounded
        scan (``SCAN_PER_ROOT``) also where hundreds of thousands of keys name none."""
        st = self.state
        for i, (make, table) in enumerate(ROOT_TABLES):
            current.table = i
            rows = st.rows(table)
            for root_id in st.key_values(table):
                yield make(root_id) if (root_id,) in rows else None
        current.table = len(ROOT_TABLES)
        for root_key in list(self.emitted.by_root):
            root = parse_root_key(root_key)
            yield None if root_exists(st, root) else root

    def tick(self, today: date | None = None) -> int:
        """The day's time-driven rules: queue the roots of rows due since the last day and of
        slots casavi did not apply. Returns how many roots were queued."""
        today = today or self.today()
        roots: set[Root] = set()
        for table, key in self.due.take(today):
            roots |= roots_of_due_row(self.state, table, key)
        roots |= self.failed_roots()
        self._enqueue(sorted(roots, key=lambda r: r.key), False)
        self._when_drained(today)
        return len(roots)

    def _when_drained(self, day: date, config: bool = False) -> None:
        """Record ``day`` (and the configuration) as done once the queued passes are projected."""
        done = self._done_when_drained
        if self.day is None or day > self.day:
            held = done.get(DAY)
            if held is None or day.isoformat() > held:
                done[DAY] = day.isoformat()
        if config:
            done[CONFIG] = self.fingerprint
            done[SETTINGS] = self.config.fingerprint()
            done[SETTINGS_PASS] = ""

    @property
    def queued(self) -> int:
        """Roots still to project in passes (a pass over every root counts what it will take)."""
        return len(self._queue) + sum(p.left for p in self._passes)

    @property
    def chunk_due(self) -> bool:
        """Whether ``next_chunk`` has anything to give: roots queued, or a pass to record as
        finished (a tick with no due root records its day)."""
        return bool(self._queue or self._passes or self._done_when_drained)

    def next_chunk(self) -> PassChunk:
        """The next queued roots, as many as fit the time budget (``pace``; roots queued by name
        first, then the passes over every root); with the meta writes that record a pass as
        finished when this chunk ends it."""
        chunk = PassChunk()
        size = self.pace.size()
        while self._queue and len(chunk.roots) + len(chunk.forced) < size:
            item = self._queue.popleft()
            self._queued.discard(item)
            (chunk.forced if item[1] else chunk.roots).add(item[0])
        looked = 0
        kind: type[Root] | None = None  # of the pass's roots in this chunk: one table's
        while self._passes and looked < size * SCAN_PER_ROOT:
            current = self._passes[0]
            root, current.held = current.held, None
            if root is None:
                looked += 1
                try:
                    root = next(current.roots)
                except StopIteration:
                    self._passes.popleft()
                    continue
                if root is None:
                    continue
            if (kind is not None and type(root) is not kind) or \
                    len(chunk.roots) + len(chunk.forced) >= self.pace.size(type(root)):
                current.held = root  # the first of the next chunk
                break
            kind = type(root)
            current.left = max(current.left - 1, 1)
            (chunk.forced if current.force else chunk.roots).add(root)
        if self._pass_started and (chunk.roots or chunk.forced):  # a settings pass begins: mark it
            chunk.meta_writes, self._pass_started = self._pass_started, []
        if not self._queue and not self._passes and self._done_when_drained:
            chunk.meta_writes = chunk.meta_writes + sorted(self._done_when_drained.items())
            self._done_when_drained = {}
            for key, value in chunk.meta_writes:
                if key == DAY:
                    self.day = date.fromisoformat(value)
        return chunk

    # --- feedback from casavi -----------------------------------------------------------

    def apply_receipts(self, receipts: Iterable[Receipt]) -> ReceiptOutcome:
        """Fold what casavi did with earlier commands. A failed command is forgotten as emitted
        (its entry keeps the root with a ``FAILED`` hash), so its root sends it again; a
        command that waited for another entity is retried as soon as that one is applied."""
        out = ReceiptOutcome()
        for r in receipts:
            if r.system != self.system:
                out.ignored += 1
                continue
            slot = r.slot
            if r.status != "failed":
                for waiting in self.waiting.pop(slot, ()):
                    root = self.failed.get(waiting)
                    if root is not None:
                        out.roots.add(parse_root_key(root))
                continue
            entry = self.emitted.entries.get(slot)
            if r.op == "UPSERT":
                if entry is None or entry.content_hash != r.content_hash:
                    out.ignored += 1  # superseded by a later command (or already deleted)
                    continue
                marked = replace(entry, content_hash=FAILED + (r.error_code or "FAILED"))
            else:
                if entry is not None or r.root is None:
                    out.ignored += 1  # the slot was sent again since
                    continue
                marked = EmittedEntry(r.entity, r.reference_id, FAILED + (r.error_code or "FAILED"),  # type: ignore[arg-type]
                                      r.parent_ids, r.root)
            self.emitted.put(marked)
            self.failed[slot] = marked.root
            out.emitted_writes.append((slot, marked.to_dict()))
            out.failed += 1
            if r.error_code in DEPENDENCY_CODES:
                # wait for what casavi refused itself, if any; else for everything it names
                needs = [n for n in r.needs if n in self.failed] or r.needs
                for need in needs:
                    self.waiting.setdefault(need, set()).add(slot)
        return out

    def take_dead_letters(self) -> list[DeadLetter]:
        """Roots whose projection failed since the last call (their other roots went on)."""
        letters, self._letters = self._letters, []
        return letters

    def failed_roots(self) -> set[Root]:
        """Roots of the slots casavi did not apply (retried by every tick)."""
        return {parse_root_key(root) for root in self.failed.values()}

    def redrive(self, slots: Iterable[str]) -> tuple[set[Root], list[EmittedWrite], int]:
        """Forget what casavi holds for ``slots`` and name their roots to re-project. Returns
        (roots, emitted writes, slots unknown to the emitted table)."""
        roots: set[Root] = set()
        writes: list[EmittedWrite] = []
        unknown = 0
        for slot in slots:
            entry = self.emitted.entries.get(slot)
            if entry is None:
                unknown += 1
                continue
            marked = replace(entry, content_hash=FAILED + "REDRIVE")
            self.emitted.put(marked)
            self.failed[slot] = marked.root
            writes.append((slot, marked.to_dict()))
            roots.add(parse_root_key(marked.root))
        return roots, writes, unknown

    def refuse(self, commands: Sequence[CasaviCommand], error_code: str, reason: str) -> list[EmittedWrite]:
        """Commands the worker cannot send (e.g. larger than a Kafka record may be): dead
        letters, and treated like a refusal by casavi — forgotten as emitted, so the root's
        next change (or a redrive) sends them again. Returns the emitted writes to persist."""
        now = int(time.time() * 1000)
        outcome = self.apply_receipts([Receipt.of(c, self.system, "failed", now, error_code) for c in commands])
        self._letters.extend(DeadLetter(stage="project", reason=reason, error_code=error_code, topic="",
                                        partition=-1, offset=-1, entity=c.entity, reference_id=c.reference_id,
                                        key=c.root, at_ms=now) for c in commands)
        return outcome.emitted_writes

    def emitted_writes(self, commands: Sequence[CasaviCommand]) -> list[EmittedWrite]:
        """The persisted last-emitted entries to write for delivered commands."""
        writes: list[EmittedWrite] = []
        for c in commands:
            slot = c.slot
            entry = self.emitted.entries.get(slot)
            writes.append((slot, None if entry is None else entry.to_dict()))
        return writes


CONTENT_KEY = "document:{}"  # key of a document's content on the content topic


def _content_write(change: RowChange) -> tuple[str, bytes | None] | None:
    """What a folded document change means for the content topic: its new content, ``None``
    (forget it: the row is gone or has no content) or nothing (the content did not change)."""
    if change.table != "document" or not change.key:
        return None
    key = CONTENT_KEY.format(change.key[0])
    if change.op == "d" or change.after is None:
        return key, None
    content = change.after.get("content", UNAVAILABLE)
    if content is UNAVAILABLE:
        return None
    return key, bytes(content) if isinstance(content, (bytes, bytearray, memoryview)) else None


def _fold_letter(change: RowChange, reason: str, code: str) -> DeadLetter:
    kafka = change.kafka
    return DeadLetter(stage="fold", reason=reason, error_code=code, table=change.table,
                      topic=kafka.topic if kafka else "", partition=kafka.partition if kafka else -1,
                      offset=kafka.offset if kafka else -1, at_ms=int(time.time() * 1000))


class UnavailableColumns(ValueError):
    """An update without the values of some columns (unchanged large columns Debezium did not
    send) for a row the state does not hold: the row cannot be completed. Re-snapshot the
    table (a Debezium incremental snapshot) to bring the full row."""

    def __init__(self, table: str, columns: Sequence[str]) -> None:
        super().__init__(f"update of erp.{table} without the values of {', '.join(sorted(columns))} "
                         "for a row the bridge does not hold yet; re-snapshot the table")
        self.table = table
        self.columns = tuple(columns)


def _previous_key(change: RowChange) -> str | None:
    """The state-table key of the row before an update, when the update names it."""
    if change.op != "u" or change.before is None:
        return None
    pk = TABLES[change.table].primary_key  # the table is known: the state has folded the change
    if not all(change.before.get(c) is not None for c in pk):
        return None
    return row_key(change.table, tuple(change.before[c] for c in pk))
