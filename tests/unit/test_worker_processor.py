"""The worker's step logic: incremental emission converges to the full projection, a
restart from the persisted tables is quiet, and broken rows are dead-lettered."""

from __future__ import annotations

import random
from datetime import date, timedelta

from streams.commands.model import CasaviCommand
from streams.projection.model import EmittedEntry
from streams.projection.project import project_all
from streams.cdc.model import RowChange, SourcePosition
from streams.projection.roots import UnitRoot
from streams.projection.sample import change, delete, minimal_dataset, random_dataset
from streams.settings import SyncSettings
from streams.worker.processor import Processor, StoredEntry
from streams.worker.rowcodec import dumps_entry, loads_entry

TODAY = date(2025, 6, 15)


def _config() -> SyncSettings:
    return SyncSettings(today=TODAY)


def _apply(held: dict[str, CasaviCommand], commands: list[CasaviCommand]) -> None:
    """What casavi holds after the commands (upsert = full document, delete = gone)."""
    for c in commands:
        slot = f"{c.entity}:{c.reference_id}"
        if c.op == "UPSERT":
            held[slot] = c
        else:
            held.pop(slot, None)


def _run(proc: Processor, changes: list, batch: int) -> tuple[dict[str, CasaviCommand], dict, dict]:
    held: dict[str, CasaviCommand] = {}
    rows: dict[str, bytes] = {}
    emitted: dict[str, dict] = {}
    for i in range(0, len(changes), batch):
        step = proc.fold(changes[i:i + batch])
        for key, row, position in step.row_writes:
            rows[key] = dumps_entry(row, position)
        commands = proc.project(step.roots)
        _apply(held, commands)
        for slot, entry in proc.emitted_writes(commands):
            if entry is None:
                emitted.pop(slot, None)
            else:
                emitted[slot] = entry
    return held, rows, emitted


def test_r21_batched_emission_equals_full_projection() -> None:
    ds = random_dataset(7, properties=6, units_per_property=5, today=TODAY)
    changes = ds.changes()
    random.Random(3).shuffle(changes)
    proc = Processor(_config())
    held, _, _ = _run(proc, changes, batch=17)
    expected = project_all(proc.state, _config(), TODAY)
    assert {k: c.document for k, c in held.items()} == {k: d.document for k, d in expected.items()}
    assert held, "the sample data must sync something"


def test_r21_restart_from_persisted_tables_sends_nothing() -> None:
    ds = random_dataset(11, properties=5, units_per_property=4, today=TODAY)
    first = Processor(_config())
    _, rows, emitted = _run(first, ds.changes(), batch=50)

    restarted = Processor(_config())
    for key, value in rows.items():
        restarted.load_row(key, *loads_entry(value))
    for entry in emitted.values():
        restarted.load_emitted(entry)
    restarted.finish_loading()

    assert restarted.reproject_all() == []
    # replaying the whole CDC history over the restored state is quiet too
    _, _, _ = _run(restarted, ds.changes(), batch=50)
    assert restarted.reproject_all() == []


def test_r09_tick_deletes_person_after_grace_without_row_change() -> None:
    """Contract 500 ended 30 days before TODAY: still in its grace period today, out of it on
    the next day's tick, with no row change in between."""
    ds = minimal_dataset()
    ds.rows["contract"][0]["end_date"] = TODAY - timedelta(days=30)
    proc = Processor(SyncSettings(today=TODAY))
    held, _, _ = _run(proc, ds.changes(), batch=100)
    assert {"contract:1-1000-0001-01", "contact:P001", "contact:P002"} <= set(held)
    assert proc.reproject_all() == []  # today's tick: nothing due
    proc.config = SyncSettings(today=TODAY + timedelta(days=1))
    commands = proc.reproject_all()
    assert [(c.op, c.entity, c.reference_id, c.reason) for c in commands] == [
        ("UPSERT", "unit", "1-1000-0001", "upsert changed"),
        ("DELETE", "contract", "1-1000-0001-01", "R09 contract ended"),
        ("DELETE", "contact", "P001", "R05 no synced valid contract"),
        ("DELETE", "contact", "P002", "R05 no synced valid contract"),
    ]


def test_r13_row_delete_emits_delete() -> None:
    ds = random_dataset(2, properties=2, units_per_property=2, today=TODAY)
    proc = Processor(_config())
    held, _, _ = _run(proc, ds.changes(), batch=100)
    unit = next(r for t, r in ds.all() if t == "unit"
                and any(s.startswith("unit:") for s in proc.emitted.owned(UnitRoot(r["unit_id"]))))
    step = proc.fold([delete("unit", unit)])
    commands = proc.project(step.roots)
    _apply(held, commands)
    assert ("DELETE", "unit") in {(c.op, c.entity) for c in commands}
    assert held.keys() == project_all(proc.state, _config(), TODAY).keys()


def test_row_breaking_schema_goes_to_dead_letters_without_values() -> None:
    proc = Processor(_config())
    bad = change("person", {"person_id": 1, "person_no": "P1", "email": "secret@example.org",
                            "first_name": "Geheim", "anonymized_at": "not a timestamp"})
    step = proc.fold([bad])
    assert len(step.dead_letters) == 1
    letter = step.dead_letters[0].model_dump_json()
    assert "secret@example.org" not in letter and "Geheim" not in letter
    assert step.row_writes == []


def test_r21_a_worker_reading_positions_from_its_state_table_skips_every_replay() -> None:
    # the worker holds the positions of rows checked or written lately (bounded as its row
    # cache, and the current batch's writes) and reads the others from its state table (written
    # after each batch): a replay of the whole history, also one whose batches cut differently
    # and hold a row twice, changes nothing
    history, _ = _history(22)
    table: dict[str, bytes] = {}
    reads: list[str] = []

    def stored_entry(key: str) -> StoredEntry | None:
        reads.append(key)
        return loads_entry(table[key]) if key in table else None

    proc = Processor(_config(), stored_entry=stored_entry, row_cache=16)
    for i in range(0, len(history), 40):
        step = proc.fold(history[i:i + 40])
        assert len(proc.positions) <= 16 + 2 * 40  # bounded: the cache and a batch's writes
        for key, row, position in step.row_writes:
            table[key] = dumps_entry(row, position)
        proc.project(step.roots)
    twice = [c for c in history[:30] for _ in range(2)]  # duplicates inside one batch too
    reads.clear()
    for batch in (history[i:i + 55] for i in range(0, len(history), 55)), [twice]:
        for b in batch:
            step = proc.fold(b)
            assert step.roots == set() and step.row_writes == [] and step.replayed == len(b)
    assert reads  # positions no longer held were read from the table
    # a new change twice in one batch: the second is a replay before the table has the first
    unit = next(c.after for c in history if c.table == "unit" and c.after)
    new = change("unit", {**unit, "name": "neu"}, op="u", before=unit)
    step = proc.fold([new, new])
    assert step.replayed == 1 and len(step.row_writes) == 1


def test_r21_a_worker_reading_emitted_entries_from_its_table_sends_what_one_holding_them_sends() -> None:
    # the worker keeps the last-emitted entries in its table and reads them by slot; in memory
    # only the root -> slots index and the current batch's entries. Same history, same batches:
    # the same commands as a processor holding every entry, and a restart on the tables sends
    # nothing again
    history, _ = _history(23)
    rows: dict[str, bytes] = {}
    table: dict[str, dict] = {}

    def stored(proc_rows: dict[str, bytes], proc_table: dict[str, dict]) -> Processor:
        return Processor(_config(), stored_entry=lambda k: loads_entry(proc_rows[k]) if k in proc_rows else None,
                         stored_emitted=lambda slot: EmittedEntry.from_dict(proc_table[slot]) if slot in proc_table
                         else None)

    held_all, held_stored = Processor(_config()), stored(rows, table)
    for i in range(0, len(history), 25):
        batch = history[i:i + 25]
        expected = held_all.project(held_all.fold(batch).roots)
        step = held_stored.fold(batch)
        got = held_stored.project(step.roots)
        assert [(c.op, c.slot, c.content_hash) for c in got] == [(c.op, c.slot, c.content_hash) for c in expected]
        for key, row, position in step.row_writes:  # carried out: the tables now hold the batch
            rows[key] = dumps_entry(row, position)
        for slot, entry in held_stored.emitted_writes(got):
            if entry is None:
                table.pop(slot, None)
            else:
                table[slot] = entry
        assert len(held_stored.emitted) == len(held_all.emitted) == len(table)
    assert len(held_stored.emitted._held) <= 3 * 25  # a batch's entries, not the table
    restarted = stored(rows, table)
    for key, value in rows.items():
        restarted.load_row(key, *loads_entry(value))
    for entry in table.values():
        restarted.load_emitted(entry)
    restarted.day, restarted._stored_fingerprint = TODAY, restarted.fingerprint  # as its meta table tells
    restarted.finish_loading()
    assert restarted.project(restarted.known_roots()) == []
    step = restarted.fold(history)
    assert step.replayed == len(history) and restarted.project(step.roots) == []


def test_r21_a_worker_reading_rows_from_its_state_table_sends_what_one_holding_them_sends() -> None:
    # store mode: keys and indexes in memory, rows read from the state table when asked, a cache
    # far smaller than the state (rows leave memory and are read again). Same history in any
    # order, with key changes, deletes and edits, same batches: the same commands, batch by batch
    # and in a pass over every root; and the rows it reads are the rows a state holding them has
    history, _ = _history(24)
    unit = next(c.after for c in history if c.table == "unit" and c.after)
    moved = {**unit, "unit_id": 990_001, "name": "moved"}
    history += [change("unit", moved, op="u", before=unit), delete("unit", moved)]
    random.Random(24).shuffle(history)
    rows: dict[str, bytes] = {}
    reads: list[str] = []

    def stored_entry(key: str) -> tuple | None:
        reads.append(key)
        return loads_entry(rows[key]) if key in rows else None

    held_all = Processor(_config())
    held_stored = Processor(_config(), row_cache=8, stored_entry=stored_entry)

    def carry_out(proc: Processor, batch: list) -> list[tuple[str, str, str]]:
        step = proc.fold(batch)
        if proc is held_stored:
            for key, row, position in step.row_writes:
                rows[key] = dumps_entry(row, position)
        commands = proc.project(step.roots)
        proc.emitted_writes(commands)
        return [(c.op, c.slot, c.content_hash) for c in commands]

    for i in range(0, len(history), 30):
        assert carry_out(held_stored, history[i:i + 30]) == carry_out(held_all, history[i:i + 30])
    reads.clear()
    passes: list[list[tuple[str, str, str]]] = []
    for proc in (held_stored, held_all):  # chunk sizes follow each one's pace: compare whole passes
        proc.queue_all(force=True)
        commands = []
        while proc.chunk_due:
            proc.fold([])  # as the worker's batch of a chunk alone does (BatchStep.run([]))
            commands += [(c.op, c.slot, c.content_hash) for c in proc.project(proc.next_chunk().forced, force=True)]
        passes.append(sorted(commands))
    assert passes[0] == passes[1] and passes[0]
    assert len(reads) > 8  # more rows than the cache holds left memory and were read from the table again
    for table, t in held_all.state._tables.items():
        assert dict(held_stored.state.rows(table)) == dict(t), table


def _history(seed: int) -> tuple[list, list]:
    """A CDC history: every row created, then a third of the units and persons edited and a
    few contracts deleted; returns (history, final rows as changes)."""
    ds = random_dataset(seed, properties=4, units_per_property=4, today=TODAY)
    history = ds.changes()
    rnd = random.Random(seed)
    for table, row in ds.all():
        if table in ("unit", "person") and rnd.random() < 0.33:
            history.append(change(table, {**row, "name" if table == "unit" else "phone": f"edit-{rnd.random()}"},
                                  op="u", before=row))
        elif table == "contract" and rnd.random() < 0.2:
            history.append(delete(table, row))
    return history, ds.changes()


def test_r21_replaying_the_history_over_its_own_result_sends_nothing() -> None:
    history, _ = _history(21)
    proc = Processor(_config())
    held, _, _ = _run(proc, history, batch=40)
    # the worker's committed offsets went back to 0: the same events, same positions, again
    for batch_start in range(0, len(history), 40):
        step = proc.fold(history[batch_start:batch_start + 40])
        assert step.roots == set() and step.row_writes == []
        assert step.replayed == len(history[batch_start:batch_start + 40])
        assert proc.project(step.roots) == []
    assert {k: c.document for k, c in held.items()} == {
        k: d.document for k, d in project_all(proc.state, _config(), TODAY).items()}


def test_r21_a_deleted_row_is_not_brought_back_by_its_replayed_insert() -> None:
    ds = random_dataset(4, properties=2, units_per_property=2, today=TODAY)
    created = ds.changes()
    unit = next(r for t, r in ds.all() if t == "unit")
    proc = Processor(_config())
    _, rows, _ = _run(proc, [*created, delete("unit", unit)], batch=100)

    restarted = Processor(_config())  # also after a restart from the persisted entries
    for key, value in rows.items():
        restarted.load_row(key, *loads_entry(value))
    replayed_insert = [c for c in created if c.table == "unit" and c.after == unit]
    for p in (proc, restarted):
        step = p.fold(replayed_insert)
        assert step.replayed == 1 and p.state.unit(unit["unit_id"]) is None


def test_changes_without_a_known_position_are_always_applied() -> None:
    proc = Processor(_config())
    row = {"mandant_no": 1, "name": "A"}
    unknown = SourcePosition(connector="postgresql")
    first = RowChange(table="mandant", op="c", before=None, after=row, key=(1,), position=unknown)
    second = RowChange(table="mandant", op="u", before=row, after={**row, "name": "B"}, key=(1,), position=unknown)
    assert proc.fold([first]).row_writes and proc.fold([second]).row_writes
    assert proc.state.mandant(1) is not None and proc.state.mandant(1).name == "B"

