"""The worker's step logic without Kafka: fold row changes, project, diff, remember.

The Faust app moves bytes in and out; this class decides. It keeps the ERP state and
the last-emitted table in memory (rebuilt from the persisted tables at start) and says
which persisted keys to write, so tests drive it directly.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from streams.cdc.model import Row, RowChange
from streams.commands.model import CasaviCommand, DeadLetter
from streams.projection.diff import EmittedTable, plan
from streams.projection.model import EmittedEntry
from streams.projection.project import all_roots, effective_today
from streams.projection.roots import Root, parse_root_key
from streams.projection.state import ErpState
from streams.settings import SyncSettings
from streams.worker.rowcodec import row_key


@dataclass
class FoldResult:
    roots: set[Root] = field(default_factory=set)
    row_writes: list[tuple[str, Row | None]] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    newest_source_ts_ms: int | None = None


class Processor:
    def __init__(self, config: SyncSettings) -> None:
        self.config = config
        self.state = ErpState()
        self.emitted = EmittedTable()
        self._loaded_emitted: list[EmittedEntry] = []

    # --- start-up ---------------------------------------------------------------------

    def load_row(self, table: str, key: tuple[Any, ...], row: Row) -> None:
        self.state.set_row(table, row)

    def load_emitted(self, slot: str, entry: dict[str, Any]) -> None:
        self._loaded_emitted.append(EmittedEntry.from_dict(entry))

    def finish_loading(self) -> None:
        self.emitted = EmittedTable(self._loaded_emitted)
        self._loaded_emitted = []

    @property
    def row_count(self) -> int:
        return len(self.state)

    @property
    def emitted_count(self) -> int:
        return len(self.emitted)

    def today(self) -> date:
        return effective_today(self.config)

    # --- one batch ----------------------------------------------------------------------

    def fold(self, changes: Iterable[RowChange]) -> FoldResult:
        """Fold changes in order; a row that breaks the schema is dead-lettered, not folded."""
        result = FoldResult()
        for change in changes:
            try:
                result.roots |= self.state.apply(change)
            except ValueError as exc:  # RowSchemaError / UnknownTable: messages carry no values
                kafka = change.kafka
                result.dead_letters.append(DeadLetter(
                    stage="fold", reason=str(exc), error_code=type(exc).__name__, table=change.table,
                    topic=kafka.topic if kafka else "", partition=kafka.partition if kafka else -1,
                    offset=kafka.offset if kafka else -1, at_ms=int(time.time() * 1000),
                ))
                continue
            key = row_key(change.table, change.key)
            result.row_writes.append((key, None if change.op == "d" else change.after))
            ts = change.position.ts_ms
            if ts is not None and (result.newest_source_ts_ms is None or ts > result.newest_source_ts_ms):
                result.newest_source_ts_ms = ts
        return result

    def project(self, roots: Iterable[Root], source_ts_ms: int | None = None) -> list[CasaviCommand]:
        """Commands for the affected roots, in casavi's order (R20); records them as emitted
        in memory. Persist with ``emitted_writes`` once they are delivered."""
        commands = plan(self.state, roots, self.config, self.today(), self.emitted, record=True)
        now = int(time.time() * 1000)
        return [c.model_copy(update={"emitted_at_ms": now, "source_ts_ms": source_ts_ms}) for c in commands]

    def reproject_all(self) -> list[CasaviCommand]:
        """Every root, including those whose rows are gone (time-driven rules, replays)."""
        roots = all_roots(self.state) | {parse_root_key(k) for k in self.emitted.by_root}
        return self.project(roots)

    def emitted_writes(self, commands: Sequence[CasaviCommand]) -> list[tuple[str, dict[str, Any] | None]]:
        """The persisted last-emitted entries to write for delivered commands."""
        writes: list[tuple[str, dict[str, Any] | None]] = []
        for c in commands:
            slot = f"{c.entity}:{c.reference_id}"
            entry = self.emitted.entries.get(slot)
            writes.append((slot, None if entry is None else entry.to_dict()))
        return writes
