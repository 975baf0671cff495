"""A configuration change re-projects exactly the roots it reaches and deletes what left the
projection (R13 through R01, R06, R10, R12), also in the worker's ``Processor`` at start.
Expected roots and commands are written out by hand (``minimal_dataset``: property 10,
unit 1000, contract 500 of P001 with co-tenant P002)."""

from __future__ import annotations

from datetime import date

from streams.projection import EmittedTable, PersonRoot, PropertyRoot, UnitRoot, all_roots, plan
from streams.projection.reconfigure import roots_affected_by_config
from streams.projection.roots import StaffRoot
from streams.projection.sample import minimal_dataset
from streams.settings import SyncSettings
from streams.worker.processor import Processor
from tests.unit.rules_support import TODAY, state_of
from tests.unit.test_rules_staff import company


def test_r13_nothing_that_decides_the_projection_changed() -> None:
    st = state_of(minimal_dataset())
    assert roots_affected_by_config(st, SyncSettings(), SyncSettings(today=date(2030, 1, 1)), TODAY) == set()


def test_r13_separator_or_day_counts_reach_every_root() -> None:
    st = state_of(minimal_dataset())
    assert roots_affected_by_config(st, SyncSettings(), SyncSettings(id_separator="/"), TODAY) is None
    assert roots_affected_by_config(st, SyncSettings(), SyncSettings(delete_after_days=10), TODAY) is None


def test_r13_person_type_disabled_deletes_exactly_its_persons() -> None:
    ds = minimal_dataset()
    ds.rows["person"][1]["person_type_code"] = "INT"
    st = state_of(ds)
    old, new = SyncSettings(person_types=["MIE", "INT"]), SyncSettings(person_types=["MIE"])
    roots = roots_affected_by_config(st, old, new, TODAY)
    assert roots == {PersonRoot(2), UnitRoot(1000)}
    emitted = EmittedTable()
    plan(st, all_roots(st), old, TODAY, emitted)
    cmds = plan(st, roots, new, TODAY, emitted)
    assert [(c.op, c.entity, c.reference_id, c.reason) for c in cmds] == [
        ("UPSERT", "contract", "1-1000-0001-01", "upsert changed"),
        ("DELETE", "contact", "P002", "R06 person type not enabled"),
    ]


def test_r13_property_deselected_reaches_its_units_persons_and_owners() -> None:
    ds = minimal_dataset()
    ds.add("person", person_id=5, person_no="P005")
    ds.add("property_owner", property_id=10, person_id=5)
    st = state_of(ds)
    roots = roots_affected_by_config(st, SyncSettings(), SyncSettings(properties=["1:2000"]), TODAY)
    assert roots == {PropertyRoot(10), UnitRoot(1000), PersonRoot(1), PersonRoot(2), PersonRoot(5)}


def test_r13_owner_licence_switched_on_sends_owners_with_owner_contracts() -> None:
    ds = minimal_dataset()
    ds.rows["contract"][0]["contract_type"] = "OWNER"
    ds.add("person", person_id=5, person_no="P005")
    ds.add("property_owner", property_id=10, person_id=5)
    st = state_of(ds)
    old, new = SyncSettings(), SyncSettings(owner_licence=True)
    roots = roots_affected_by_config(st, old, new, TODAY)
    assert roots == {UnitRoot(1000), PersonRoot(1), PersonRoot(2), PersonRoot(5)}
    emitted = EmittedTable()
    plan(st, all_roots(st), old, TODAY, emitted)
    cmds = plan(st, roots, new, TODAY, emitted)
    assert [(c.op, c.entity, c.reference_id) for c in cmds] == [
        ("UPSERT", "contact", "P001"), ("UPSERT", "contact", "P002"), ("UPSERT", "contact", "P005"),
        ("UPSERT", "unit", "1-1000-0001"), ("UPSERT", "contract", "1-1000-0001-01"),
    ]
    assert cmds[-1].document is not None and cmds[-1].document["type"] == "OWNER"


def test_r13_caretaker_licence_and_staff_role() -> None:
    ds = company()
    ds.add("person", person_id=6, person_no="P006")
    ds.add("caretaker", property_id=10, person_id=6)
    st = state_of(ds)
    assert roots_affected_by_config(st, SyncSettings(), SyncSettings(caretaker_licence=True), TODAY) == {
        PersonRoot(6)}
    assert roots_affected_by_config(st, SyncSettings(), SyncSettings(staff_role="ADMIN"), TODAY) == {
        StaffRoot(1), StaffRoot(2), StaffRoot(3)}


def test_r13_worker_started_with_a_disabled_type_deletes_its_persons() -> None:
    """The worker's side: the settings of the last run (their fingerprint) against today's."""
    first = Processor(SyncSettings(today=TODAY))
    step = first.fold(minimal_dataset().changes())
    first.project(step.roots)
    previous = first.config.fingerprint()

    restarted = Processor(SyncSettings(today=TODAY, person_types=["EIG"]))
    restarted.state, restarted.emitted = first.state, first.emitted  # as loaded from its tables
    assert restarted.reconfigured(restarted.config.fingerprint()) == set()
    assert restarted.reconfigured(None) == set()
    roots = restarted.reconfigured(previous)
    assert roots == {PersonRoot(1), PersonRoot(2), UnitRoot(1000)}
    cmds = restarted.project(roots)
    assert [(c.op, c.entity, c.reference_id) for c in cmds] == [
        ("UPSERT", "unit", "1-1000-0001"), ("DELETE", "contract", "1-1000-0001-01"),
        ("DELETE", "contact", "P001"), ("DELETE", "contact", "P002"),
    ]


def test_r13_worker_restarted_with_a_disabled_type_queues_only_what_the_change_reaches() -> None:
    """Through the worker's meta table: the settings of the finished projection are known, so
    the start queues the affected roots, not every root; a settings pass cut short (its
    marker still set) queues every root."""
    from streams.worker.processor import CONFIG, DAY, SETTINGS, SETTINGS_PASS, config_fingerprint
    from streams.worker.rowcodec import dumps_entry, loads_entry

    before = SyncSettings(today=TODAY)
    first = Processor(before)
    step = first.fold(company().changes())
    rows = {key: dumps_entry(row, position) for key, row, position in step.row_writes}
    meta = {DAY: TODAY.isoformat(), CONFIG: config_fingerprint(before), SETTINGS: before.fingerprint()}

    def restart(extra: dict[str, str]) -> Processor:
        proc = Processor(SyncSettings(today=TODAY, person_types=["EIG"]))
        proc.load_meta({**meta, **extra})
        for key, value in rows.items():
            proc.load_row(key, *loads_entry(value))
        proc.finish_loading()
        return proc

    assert sorted(r.key for r in restart({}).next_chunk().roots) == ["C:1", "C:2", "U:1000"]
    cut_short = restart({SETTINGS_PASS: "1"})
    assert cut_short.queued == len(cut_short.known_roots()) > 3
