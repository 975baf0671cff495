"""Time-driven rules without a pass over everything: the due-day index, the tick that takes
only what fell due, passes projected in chunks, and what the worker's meta table records.

Expected days and slots are written by hand from ``sync-rules.md`` (R09: synced from
``start - portal days`` through ``end + grace days``; R13: a unit or management end removes
on the next day) for the minimal company of ``streams.projection.sample``: property 1000 of
Mandant 1, unit 0001, tenant contract 01 of P001 with co-tenant P002.
"""

from __future__ import annotations

import dataclasses
from datetime import date
from decimal import Decimal

import pytest

from streams.commands.model import CasaviCommand
from streams.erp.rows import parse_row
from streams.projection.due import DueIndex, due_days
from streams.projection.rules import ProjectionConfig
from streams.projection.sample import minimal_dataset, random_dataset
from streams.settings import SyncSettings
import streams.worker.processor as processor_module
from streams.projection.roots import PersonRoot, PropertyRoot, StaffRoot, UnitRoot
from streams.projection.project import root_exists
from streams.worker.processor import CONFIG, DAY, SCAN_PER_ROOT, SETTINGS, SETTINGS_PASS, Processor
from streams.worker.rowcodec import dumps_entry, loads_entry
from streams.worker.step import BatchStep, Record
from streams.cdc.decode import Decoder
from streams.mapping.topics import mapping_of
from streams.settings import SourceSettings

CONTRACT = "contract:1-1000-0001-01"
TENANT, CO_TENANT = "contact:P001", "contact:P002"
# an ended contract leaves with its persons, and its unit no longer names it as current (R14)
GONE = {("DELETE", CONTRACT), ("DELETE", TENANT), ("DELETE", CO_TENANT), ("UPSERT", "unit:1-1000-0001")}


def config(today: date, **kw: object) -> SyncSettings:
    return SyncSettings(today=today, **kw)  # type: ignore[arg-type]


def drain(proc: Processor) -> tuple[list[CasaviCommand], list[tuple[str, str]]]:
    """Project every queued chunk as the worker's batches do; the commands and meta writes."""
    commands: list[CasaviCommand] = []
    meta: list[tuple[str, str]] = []
    while True:
        chunk = proc.next_chunk()
        commands += proc.project(chunk.roots) + proc.project(chunk.forced, force=True)
        meta += chunk.meta_writes
        if not proc.queued:
            return commands, meta


PERSISTED: dict[int, dict[str, bytes]] = {}  # id(processor) -> its state table


def ended_company(end: date) -> Processor:
    """The minimal company with its contract ending on ``end``, folded on 2026-10-01."""
    ds = minimal_dataset()
    ds.rows["contract"][0]["end_date"] = end
    proc = Processor(config(date(2026, 10, 1)))
    step = proc.fold(ds.changes())
    PERSISTED[id(proc)] = {key: dumps_entry(row, position) for key, row, position in step.row_writes}
    proc.project(step.roots)
    proc.finish_loading()
    drain(proc)
    return proc


def slots(commands: list[CasaviCommand]) -> set[tuple[str, str]]:
    return {(c.op, c.slot) for c in commands}


# --- due days ------------------------------------------------------------------------------


def test_r09_due_days_are_the_first_days_the_answer_changes() -> None:
    cfg = ProjectionConfig.of(SyncSettings(portal_days_before_start=14, delete_after_days=30))
    contract = parse_row("contract", {"contract_id": 1, "contract_no": "01", "contract_type": "TENANT", "unit_id": 1,
                                      "person_id": 1, "start_date": date(2026, 7, 1),
                                      "end_date": date(2026, 9, 30), "rent_amount": Decimal("1")})
    # portal access from 17 June, current contract from 1 July, gone on 31 October
    assert due_days(contract, cfg) == {date(2026, 6, 17), date(2026, 7, 1), date(2026, 10, 31)}
    unit = parse_row("unit", {"unit_id": 1, "property_id": 1, "unit_no": "0001", "valid_to": date(2026, 6, 30)})
    assert due_days(unit, cfg) == {date(2026, 7, 1)}  # R13: synced through its last day
    prop = parse_row("property", {"property_id": 1, "mandant_no": 1, "property_no": "1000",
                                  "management_end": date(2026, 12, 31)})
    assert due_days(prop, cfg) == {date(2027, 1, 1)}
    open_ended = parse_row("contract", {"contract_id": 2, "contract_no": "02", "contract_type": "TENANT",
                                        "unit_id": 1, "person_id": 1})
    assert due_days(open_ended, cfg) == set()


def test_due_index_gives_each_due_row_once_and_forgets_it() -> None:
    index = DueIndex(ProjectionConfig.of(SyncSettings(delete_after_days=0)))
    unit = parse_row("unit", {"unit_id": 7, "property_id": 1, "unit_no": "0007", "valid_to": date(2026, 3, 31)})
    index.add(unit)
    index.add(unit)
    index.add(unit, after=date(2026, 4, 1))  # due on 1 April: not after 1 April
    assert index.take(date(2026, 3, 31)) == set()
    assert index.take(date(2026, 4, 2)) == {("unit", (7,))}
    assert index.take(date(2026, 4, 2)) == set() and len(index) == 0


# --- the tick --------------------------------------------------------------------------------


def test_r09_the_tick_removes_an_ended_contract_on_the_day_after_its_grace() -> None:
    proc = ended_company(date(2026, 9, 30))  # grace of 30 days: synced through 30 October
    proc.config = config(date(2026, 10, 30))
    proc.tick()
    commands, _ = drain(proc)
    assert commands == []
    proc.config = config(date(2026, 10, 31))
    assert proc.tick() > 0
    commands, meta = drain(proc)
    assert slots(commands) == GONE
    assert meta == [(DAY, "2026-10-31")]


def test_the_tick_queues_only_the_roots_of_due_rows() -> None:
    proc = ended_company(date(2026, 9, 30))
    proc.config = config(date(2026, 10, 15))
    assert proc.tick() == 0 and proc.queued == 0  # nothing is due in the middle of the grace period
    proc.config = config(date(2026, 10, 31))
    proc.tick()
    assert proc.queued == 3  # unit 0001 and the contract's two persons, not the property


def test_r09_days_that_passed_while_the_worker_was_stopped_are_due_at_its_start() -> None:
    stopped = ended_company(date(2026, 9, 30))  # stopped on 1 October, started again on 1 December
    restarted = Processor(config(date(2026, 12, 1)))
    restarted.load_meta({DAY: "2026-10-01", CONFIG: restarted.fingerprint})
    for key, value in PERSISTED[id(stopped)].items():
        restarted.load_row(key, *loads_entry(value))
    for entry in stopped.emitted.entries.values():
        restarted.load_emitted(entry.to_dict())
    restarted.finish_loading()
    assert restarted.queued == 0  # same settings, known day: no pass over everything
    restarted.tick()
    commands, meta = drain(restarted)
    assert slots(commands) == GONE
    assert meta == [(DAY, "2026-12-01")]


def test_r09_a_day_going_back_projects_every_root_again_with_that_day() -> None:
    """A fixed ``BRIDGE_SYNC__TODAY`` set past the grace period and removed again: the worker
    started on the earlier day sends the contract again."""
    stopped = ended_company(date(2026, 9, 30))
    stopped.config = config(date(2026, 11, 15))
    stopped.tick()
    assert slots(drain(stopped)[0]) == GONE
    restarted = Processor(config(date(2026, 10, 15)))
    restarted.load_meta({DAY: "2026-11-15", CONFIG: restarted.fingerprint})
    for key, value in PERSISTED[id(stopped)].items():
        restarted.load_row(key, *loads_entry(value))
    for entry in stopped.emitted.entries.values():
        restarted.load_emitted(entry.to_dict())
    restarted.finish_loading()
    commands, meta = drain(restarted)
    assert {slot for op, slot in slots(commands) if op == "UPSERT"} >= {CONTRACT, TENANT, CO_TENANT}
    assert (DAY, "2026-10-15") in meta
    # and the due index knows the end of the grace period again
    restarted.config = config(date(2026, 10, 31))
    restarted.tick()
    assert slots(drain(restarted)[0]) == GONE


# --- passes ----------------------------------------------------------------------------------


def test_a_pass_is_projected_in_chunks_and_recorded_once_it_is_drained() -> None:
    ds = random_dataset(3, properties=4, units_per_property=5, today=date(2026, 10, 1))
    proc = Processor(config(date(2026, 10, 1)), pass_chunk=7)
    proc.fold(ds.changes())
    proc.finish_loading()  # no meta: every root is queued once
    total = proc.queued
    assert total > 14
    sizes, metas = [], []
    while proc.queued:
        chunk = proc.next_chunk()
        sizes.append(len(chunk.roots))
        metas.append(chunk.meta_writes)
    assert sum(sizes) == total and max(sizes) == 7
    assert metas[0] == [(SETTINGS_PASS, "1")]  # a pass for the settings has begun
    assert all(m == [] for m in metas[1:-1])
    assert metas[-1] == [(CONFIG, proc.fingerprint), (DAY, "2026-10-01"), (SETTINGS, proc.config.fingerprint()),
                         (SETTINGS_PASS, "")]


def test_a_chunk_of_a_pass_holds_as_many_roots_of_one_kind_as_fit_its_time_budget() -> None:
    # a root of a large company takes longer to project than one of a small dataset, and a
    # property longer than a person: a chunk holds roots of one table, as many as what the
    # roots of that kind before took suggest, so a pass never holds live changes back for
    # longer than the budget, whatever the company's size
    ds = random_dataset(5, properties=6, units_per_property=12, today=date(2026, 10, 1))
    ticks = iter(range(10_000))
    proc = Processor(config(date(2026, 10, 1)), pass_chunk=1000, pass_budget_s=0.3,
                     clock=lambda: float(next(ticks)))  # every projection takes 1 s
    proc.fold(ds.changes())
    proc.finish_loading()
    total = proc.queued
    assert total > 100
    sizes: dict[type, list[int]] = {}
    taken: set = set()
    while proc.queued:
        chunk = proc.next_chunk()
        assert not taken & chunk.roots
        taken |= chunk.roots
        kinds = {type(r) for r in chunk.roots}
        assert len(kinds) == 1  # one table's roots
        sizes.setdefault(kinds.pop(), []).append(len(chunk.roots))
        proc.project(chunk.roots, chunk=True)
    # a kind not measured yet: a first chunk of 50; 1 s for 50 roots is 20 ms a root, 15 fit in
    # 0.3 s; then 1 s for 15 roots (67 ms a root) moves the average to 34 ms: 8 fit. The units
    # after the persons start again from 50: what a person took says nothing about a unit
    assert sizes[PersonRoot][:3] == [50, 15, 8] and sizes[UnitRoot][:2] == [50, 15]
    assert sizes[PropertyRoot] == [6]  # fewer than a first chunk: the whole table
    assert sum(map(sum, sizes.values())) == total
    fast = Processor(config(date(2026, 10, 1)), pass_chunk=40, pass_budget_s=0.3)
    fast.pace.measured(100, 0.001)  # far below the budget: the configured count bounds the chunk
    assert fast.pace.size() == 40
    fast.pace.measured(5, 100.0)  # too few roots to tell
    assert fast.pace.size() == 40


def test_a_chunk_of_a_pass_leaves_the_dependants_the_pass_reaches_later_and_the_pass_sends_what_one_plan_sends() -> None:
    # a staff member is read by every ticket they are responsible for (thousands at a large
    # company): projected with them, one chunk of staff roots held live changes back for two
    # seconds. Within a pass the tickets come with the ticket table; the whole pass sends what
    # a plan of every root at once sends
    ds = random_dataset(8, properties=6, units_per_property=6, today=date(2026, 10, 1))
    one, passing = (Processor(config(date(2026, 10, 1)), pass_chunk=7) for _ in range(2))
    for proc in (one, passing):
        proc.fold(ds.changes())
    expected = {c.slot: (c.op, c.content_hash) for c in one.reproject_all(force=True)}
    passing.queue_all(force=True)
    got: dict[str, tuple[str, str]] = {}  # what casavi holds after the pass (a peer's slot may go twice)
    while passing.queued:
        chunk = passing.next_chunk()
        commands = passing.project(chunk.forced, force=True, chunk=True)
        if all(isinstance(r, StaffRoot) for r in chunk.forced):
            assert {c.entity for c in commands} <= {"staff"}  # no ticket of theirs taken along
        got.update((c.slot, (c.op, c.content_hash)) for c in commands)
    assert got == expected and any(slot.startswith("ticket:") for slot in got)


def test_a_chunk_of_a_pass_looks_at_a_bounded_number_of_keys_also_where_they_name_no_root(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # the end of a pass looks for roots whose rows are gone among every root casavi holds
    # slots of: at a million rows that is 600,000 keys naming none, which one chunk must not
    # scan at once (it held live changes back for two seconds)
    ds = random_dataset(6, properties=20, units_per_property=20, today=date(2026, 10, 1))
    proc = Processor(config(date(2026, 10, 1)), pass_chunk=5)
    proc.project(proc.fold(ds.changes()).roots)  # casavi holds the slots of every synced root
    assert len(proc.emitted.by_root) > 3 * 5 * SCAN_PER_ROOT
    looked: list[int] = []

    def counting_root_exists(state: object, root: object) -> bool:
        looked[-1] += 1
        return root_exists(state, root)  # type: ignore[arg-type]

    monkeypatch.setattr(processor_module, "root_exists", counting_root_exists)
    proc.queue_all()
    projected: list[object] = []
    while proc.queued:
        looked.append(0)
        chunk = proc.next_chunk()
        projected += chunk.roots
        proc.project(chunk.roots)
    assert sum(looked) == len(proc.emitted.by_root)  # each root casavi holds looked at once
    assert max(looked) <= 5 * SCAN_PER_ROOT  # over several chunks, not in one
    assert len(projected) == len(set(projected)) == len(proc.known_roots())


def test_changed_sync_settings_queue_every_root_once_and_the_same_settings_none() -> None:
    ds = random_dataset(4, properties=3, units_per_property=3, today=date(2026, 10, 1))
    first = Processor(config(date(2026, 10, 1)))
    step = first.fold(ds.changes())
    rows = {key: dumps_entry(row, position) for key, row, position in step.row_writes}

    def restart(settings: SyncSettings, meta: dict[str, str]) -> Processor:
        proc = Processor(settings)
        proc.load_meta(meta)
        for key, value in rows.items():
            proc.load_row(key, *loads_entry(value))
        proc.finish_loading()
        return proc

    same = restart(config(date(2026, 10, 1)), {DAY: "2026-10-01", CONFIG: first.fingerprint})
    assert same.queued == 0
    changed = restart(config(date(2026, 10, 1), delete_after_days=5), {DAY: "2026-10-01", CONFIG: first.fingerprint})
    assert changed.queued == len(changed.known_roots()) > 0
    assert first.fingerprint == Processor(config(date(2030, 1, 1))).fingerprint  # the day is not a setting


# --- the batch step --------------------------------------------------------------------------


def step_of(proc: Processor) -> BatchStep:
    source = SourceSettings()
    return BatchStep(proc, Decoder(mapping_of(source), source.unavailable_value_placeholder), {},
                     control_topic="ticks", receipts_topic="receipts", max_command_bytes=1_000_000)


def test_a_batch_with_a_resync_record_sends_every_slot_again_in_chunks() -> None:
    proc = ended_company(date(2027, 9, 30))
    proc.pass_chunk = 2
    step = step_of(proc)
    sent: set[str] = set()
    out = step.run([Record("ticks", 0, 0, b"resync", b'{"kind": "resync"}')])
    while True:
        sent |= {c.slot for c, _ in out.commands}
        if not out.more_queued:
            break
        out = step.run([Record("ticks", 0, 1, b"pass", b'{"kind": "pass"}')])
    assert sent == {"property:1-1000", "unit:1-1000-0001", CONTRACT, TENANT, CO_TENANT}


def test_a_failed_batch_goes_to_the_dlq_by_position_and_queues_every_root() -> None:
    proc = ended_company(date(2027, 9, 30))
    records = [Record("erp.erp.unit", 0, 41, b"k", b"v"), Record("ticks", 0, 9, None, b"{}")]
    letters = step_of(proc).failed(records)
    assert [(x.stage, x.topic, x.offset) for x in letters] == [("fold", "erp.erp.unit", 41), ("fold", "ticks", 9)]
    assert proc.queued == len(proc.known_roots())
    proc.pass_chunk = 3
    taken: set[object] = set()
    while proc.queued:  # taken chunk by chunk: every root once
        chunk = proc.next_chunk()
        assert len(chunk.roots) <= 3 and not taken & chunk.roots
        taken |= chunk.roots
    assert taken == proc.known_roots()


def test_a_reproject_record_checks_every_root_and_sends_only_what_differs() -> None:
    proc = ended_company(date(2027, 9, 30))
    proc.pass_chunk = 2
    step = step_of(proc)
    proc.state.persons[(1,)] = dataclasses.replace(proc.state.persons[(1,)], phone="+49 30 999")
    out = step.run([Record("ticks", 0, 0, b"reproject", b'{"kind": "reproject"}')])
    sent = {c.slot for c, _ in out.commands}
    while out.more_queued:
        out = step.run([Record("ticks", 0, 1, b"pass", b'{"kind": "pass"}')])
        sent |= {c.slot for c, _ in out.commands}
    assert sent == {TENANT}  # the one root whose projection differs from what casavi holds


def test_a_pass_over_every_root_reaches_a_root_whose_row_is_gone_and_deletes_its_slots() -> None:
    # the unit's row left the state without a change the worker saw (a state rebuilt from a
    # table that lost it): casavi still holds the unit; the pass must project its root
    proc = ended_company(date(2027, 9, 30))
    assert any(s.startswith("unit:") for s in proc.emitted.owned("U:1000"))
    del proc.state.units[(1000,)]
    proc.queue_all()
    sent: list[CasaviCommand] = []
    while proc.queued:
        sent += proc.project(proc.next_chunk().roots)
    assert any(op == "DELETE" and slot.startswith("unit:") for op, slot in slots(sent))


def test_a_batch_without_its_chunk_leaves_the_pass_to_the_chunk_carried_out_after_it() -> None:
    proc = ended_company(date(2027, 9, 30))
    proc.pass_chunk = 2
    step = step_of(proc)
    live = step.run([Record("ticks", 0, 0, b"resync", b'{"kind": "resync"}')], with_chunk=False)
    assert live.commands == [] and live.more_queued == 0  # queued, not taken: nothing of the pass yet
    assert proc.queued == len(proc.known_roots())
    sent: set[str] = set()
    for _ in range(100):
        if not proc.chunk_due:
            break
        chunk = step.run([])  # as the worker does after each batch while a chunk is due
        assert chunk.records == 0
        sent |= {c.slot for c, _ in chunk.commands}
    assert proc.queued == 0 and not proc.chunk_due
    assert sent == {"property:1-1000", "unit:1-1000-0001", CONTRACT, TENANT, CO_TENANT}


def test_r09_a_tick_with_no_due_root_is_still_recorded_by_the_chunk_after_its_batch() -> None:
    proc = ended_company(date(2026, 9, 30))
    proc.config = config(date(2026, 10, 2))  # a new day on which no root is due
    step = step_of(proc)
    live = step.run([Record("ticks", 0, 0, b"tick", b'{"kind": "tick"}')], with_chunk=False)
    assert live.meta_writes == [] and proc.queued == 0
    assert proc.chunk_due  # nothing to project, but the day to record
    recorded = step.run([]).meta_writes
    assert recorded == [(DAY, "2026-10-02")] and not proc.chunk_due
