"""A backlog is projected once: the roots a batch touches while the worker is behind wait in
``Processor.pending`` and are projected when it has caught up (or at the latest after
``max_pending`` roots or ``max_defer_s``), so a bulk load sends each casavi entity about once."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from streams.cdc.decode import Decoder
from streams.commands.model import CasaviCommand
from streams.mapping.topics import mapping_of
from streams.projection.project import project_all
from streams.projection.roots import parse_root_key, root_sort_key
from streams.projection.sample import random_dataset
from streams.settings import SourceSettings, SyncSettings
from streams.worker.processor import BULK_TX_CHANGES, CONFIG, DAY, SETTINGS, Processor
from streams.worker.rowcodec import row_key
from streams.worker.step import BatchStep, Record

TODAY = date(2026, 10, 1)
FIXTURES = Path(__file__).parents[1] / "fixtures" / "debezium" / "postgres"


def bulk(proc: Processor, batches: int, *, behind: bool) -> list[CasaviCommand]:
    """The sample company folded in ``batches`` batches (tables interleaved, as the worker reads
    its topics), every batch but the last one seen as behind; the commands sent."""
    changes = random_dataset(5, properties=6, units_per_property=6, today=TODAY).changes()
    size = -(-len(changes) // batches)
    sent: list[CasaviCommand] = []
    for i in range(0, len(changes), size):
        step = proc.fold(changes[i:i + size])
        roots = step.roots
        last = i + size >= len(changes)
        if behind and not last:
            proc.defer(roots, now=0.0)
            roots = set()
        if proc.due_pending(behind and not last, now=0.0):
            roots = roots | proc.take_pending()[0]
        sent += proc.project(roots)
    return sent


def test_a_bulk_load_during_a_backlog_sends_each_entity_once() -> None:
    undeferred = bulk(Processor(SyncSettings(today=TODAY)), batches=12, behind=False)
    proc = Processor(SyncSettings(today=TODAY))
    deferred = bulk(proc, batches=12, behind=True)
    expected = project_all(proc.state, proc.config, TODAY)
    assert len(deferred) == len(expected) == len({c.slot for c in deferred})
    assert {c.slot: c.document for c in deferred} == {k: d.document for k, d in expected.items()}
    assert len(undeferred) > len(deferred)  # without deferral, units and contacts go out several times


def test_deferred_roots_are_projected_at_the_latest_after_max_pending_or_max_defer_s() -> None:
    proc = Processor(SyncSettings(today=TODAY), max_pending=3, max_defer_s=10.0)
    roots = list(proc.fold(random_dataset(2, properties=2, units_per_property=2, today=TODAY).changes()).roots)
    assert proc.defer(roots[:2], now=100.0) == [(r.key, True) for r in roots[:2]]
    assert not proc.due_pending(True, now=105.0)
    assert proc.due_pending(True, now=110.0)  # waited max_defer_s
    assert proc.defer(roots[:3], now=106.0) == [(roots[2].key, True)]
    assert proc.due_pending(True, now=106.0)  # max_pending roots wait
    assert proc.due_pending(False, now=106.0)  # caught up
    taken, writes = proc.take_pending()
    assert taken == set(roots[:3]) and sorted(writes) == sorted((r.key, False) for r in roots[:3])
    assert not proc.pending and not proc.due_pending(False)


def record(name: str, offset: int) -> Record:
    doc: dict[str, Any] = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return Record(doc["topic"], 0, offset, json.dumps(doc["key"]).encode(), json.dumps(doc["value"]).encode())


def test_the_batch_step_defers_while_behind_and_a_restart_keeps_what_waits() -> None:
    source = SourceSettings()
    decoder = Decoder(mapping_of(source), source.unavailable_value_placeholder)

    def step_of(proc: Processor) -> BatchStep:
        return BatchStep(proc, decoder, {}, control_topic="ticks", receipts_topic="receipts",
                         max_command_bytes=1_000_000)

    proc = Processor(SyncSettings(today=TODAY))
    proc.finish_loading()
    first = step_of(proc).run([record("unit_create.json", 0), record("person_create.json", 1)], behind=True)
    assert first.commands == [] and first.deferred and proc.pending == {parse_root_key(k) for k, _ in first.deferred}
    # the worker stopped: what waits is in its pending table, and the next batch projects it
    restarted = Processor(SyncSettings(today=TODAY))
    restarted.state = proc.state
    restarted.positions = proc.positions
    for key, now_pending in first.deferred:
        assert now_pending
        restarted.load_pending(key)
    restarted.finish_loading()
    nudge = step_of(restarted).run([Record("ticks", 0, 0, b"pass", b'{"kind": "pass"}')], behind=False)
    assert sorted(nudge.projected_pending) == sorted((key, False) for key, _ in first.deferred)
    assert not restarted.pending and nudge.more_queued == restarted.queued


def test_debezium_marks_snapshot_reads_and_transactions() -> None:
    """``source.snapshot`` and ``source.txId`` as Debezium 3.6.1's PostgreSQL connector sends
    them (the captured fixtures): a snapshot read that is not its last goes on."""
    source = SourceSettings()
    decoder = Decoder(mapping_of(source), source.unavailable_value_placeholder)
    positions = {}
    for name in ("person_read.json", "person_update.json"):
        r = record(name, 0)
        change = decoder.decode(r.topic, r.partition, r.offset, r.key, r.value)
        positions[name] = change.position  # type: ignore[union-attr]
    doc = json.loads((FIXTURES / "person_read.json").read_text())
    assert positions["person_read.json"].snapshot is (doc["value"]["payload"]["source"]["snapshot"] != "last")
    assert positions["person_update.json"].snapshot is False
    assert positions["person_update.json"].tx is not None


def test_a_snapshot_or_a_large_transaction_is_deferred_until_it_has_passed() -> None:
    from streams.cdc.model import RowChange, SourcePosition
    from streams.worker.processor import BULK_TX_CHANGES

    changes = random_dataset(6, properties=3, units_per_property=3, today=TODAY).changes()

    def with_position(cs: list[RowChange], **kw: Any) -> list[RowChange]:
        return [c.model_copy(update={"position": SourcePosition(connector="postgresql", lsn=i + 1, **kw)})
                for i, c in enumerate(cs)]

    assert Processor(SyncSettings(today=TODAY)).fold(with_position(changes[:1], snapshot=True)).bulk
    # a large transaction streamed over many small batches: bulk once 1,000 of its changes arrived
    counting = Processor(SyncSettings(today=TODAY))
    many = with_position((changes * (BULK_TX_CHANGES // len(changes) + 2))[:BULK_TX_CHANGES + 100], tx="7")
    other = with_position(changes[:3], tx="8")
    flags = []
    for i in range(0, len(many), 100):
        flags.append(counting.fold(many[i:i + 100], now=i / 100).bulk)
        flags.append(counting.fold([], now=i / 100 + 0.5).bulk)  # a batch of receipts or control records only
        flags.append(counting.fold(other, now=i / 100 + 0.6).bulk)  # another transaction's changes in between
    assert flags == [False] * 27 + [True] * 6  # from the 1,000th change of "7" on
    assert counting.fold([], now=11.9).bulk  # "7" last seen at 10.0: still arriving
    assert not counting.fold([], now=12.0).bulk  # quiet for BULK_TX_QUIET_S: it has ended
    proc = Processor(SyncSettings(today=TODAY), max_defer_s=0.0)
    proc.finish_loading()
    step = BatchStep(proc, Decoder(mapping_of(SourceSettings()), "x"), {}, control_topic="ticks",
                     receipts_topic="receipts", max_command_bytes=1_000_000)
    fold = proc.fold(with_position(changes, snapshot=True))
    assert fold.bulk
    # inside the bulk load even max_defer_s (0 here) does not flush; the first batch after it does
    assert proc.defer(fold.roots, now=0.0) and not proc.due_pending(False, now=100.0, bulk=True)
    out = step.run([Record("ticks", 0, 0, b"pass", b'{"kind": "pass"}')])
    assert out.projected_pending and {c.slot for c, _ in out.commands} >= {
        k for k in project_all(proc.state, proc.config, TODAY)}


def test_a_worker_stopped_between_its_row_writes_and_delivery_still_sends_the_commands() -> None:
    source = SourceSettings()
    decoder = Decoder(mapping_of(source), source.unavailable_value_placeholder)

    def step_of(proc: Processor) -> BatchStep:
        return BatchStep(proc, decoder, {}, control_topic="ticks", receipts_topic="receipts",
                         max_command_bytes=1_000_000)

    def started(row_writes: list[tuple[str, Any, Any]] = [], pending: list[str] = []) -> Processor:
        """A worker started on what its tables hold: the property and unit of the fixtures'
        contract, ``row_writes`` and ``pending``; nothing recorded as emitted; its last run
        finished today with these settings (no start pass)."""
        proc = Processor(SyncSettings(today=TODAY))
        proc.load_meta({DAY: TODAY.isoformat(), CONFIG: proc.fingerprint, SETTINGS: proc.config.fingerprint()})
        held = {("mandant", (1,)): {"mandant_no": 1, "name": "Mandant Eins"},
                ("property", (1,)): {"property_id": 1, "mandant_no": 1, "property_no": "1000", "name": "Objekt"},
                ("building", (2,)): {"building_id": 2, "property_id": 1, "street": "Lindenallee", "house_no": "12"},
                ("unit", (17,)): {"unit_id": 17, "property_id": 1, "building_id": 2, "unit_no": "0017",
                                  "is_phantom": False}}
        for (table, key), row in held.items():
            proc.load_row(row_key(table, key), row, None)
        for key, row, position in row_writes:
            proc.load_row(key, row, position)
        for key in pending:
            proc.load_pending(key)
        proc.finish_loading()
        return proc

    batch = [record("person_create.json", 0), record("contract_create.json", 1)]
    proc = started()
    first = step_of(proc).run(batch, behind=False)
    assert first.commands and first.row_writes
    journal = [key for key, pending in first.deferred if pending]
    assert journal and sorted(journal) == sorted(key for key, _ in first.projected_pending)
    # stopped after step 1 (pending and row writes), before the commands reached Kafka: the
    # restarted worker reads the batch again and skips its changes as replays
    restarted = started(first.row_writes, journal)
    again = step_of(restarted).run(batch, behind=False)
    assert again.replayed == 2
    assert sorted((c.slot, c.document) for c, _ in again.commands) == sorted(
        (c.slot, c.document) for c, _ in first.commands)
    # without the journal nothing would be sent
    assert step_of(started(first.row_writes)).run(batch, behind=False).commands == []


def test_a_bulk_load_does_not_end_while_its_changes_still_wait_behind_a_batch_of_receipts() -> None:
    # a large transaction streams in; between two of its batches the worker reads a batch of
    # receipts only. Behind (its changes still wait on the CDC topics), a quiet time says
    # nothing: the load goes on and what it deferred stays deferred
    from streams.cdc.model import SourcePosition
    changes = random_dataset(6, properties=3, units_per_property=3, today=TODAY).changes()
    many = [c.model_copy(update={"position": SourcePosition(connector="postgresql", lsn=i + 1, tx="9")})
            for i, c in enumerate((changes * (BULK_TX_CHANGES // len(changes) + 2))[:BULK_TX_CHANGES + 10])]
    proc = Processor(SyncSettings(today=TODAY), max_defer_s=60.0)
    assert proc.fold(many, now=0.0, behind=True).bulk
    assert proc.fold([], now=30.0, behind=True).bulk  # receipts only, 30 s later, still behind
    assert proc.fold([], now=30.0, behind=False).bulk is False  # caught up and quiet: it has ended


def test_a_bulk_load_is_projected_chunk_by_chunk_persons_and_properties_first() -> None:
    # a bulk load's flush is bounded per batch: pass_chunk roots each, in root order (properties,
    # persons before the units whose contracts name them); the rest stays pending (persisted)
    # and the batch asks for the next one (more_queued) also when no change arrives
    proc = Processor(SyncSettings(today=TODAY), pass_chunk=7, max_defer_s=0.0)
    proc.finish_loading()
    step = BatchStep(proc, Decoder(mapping_of(SourceSettings()), "x"), {}, control_topic="ticks",
                     receipts_topic="receipts", max_command_bytes=1_000_000)
    fold = proc.fold(random_dataset(5, properties=3, units_per_property=4, today=TODAY).changes())
    proc.defer(fold.roots, now=0.0)
    total = len(proc.pending)
    sent: list[CasaviCommand] = []
    order: list[str] = []
    deleted_from_pending: list[str] = []
    for offset in range(total):
        out = step.run([Record("ticks", 0, offset, b"pass", b'{"kind": "pass"}')])
        order += [key for key, _ in out.projected_pending]
        deleted_from_pending += [key for key, pending in out.projected_pending if not pending]
        sent += [c for c, _ in out.commands]
        assert len(out.projected_pending) <= 7 and out.more_queued == len(proc.pending)
        if not proc.pending:
            break
    assert offset >= total // 7 - 1 > 0  # several batches
    assert sorted(deleted_from_pending) == sorted(r.key for r in fold.roots)  # every root once
    assert order == sorted(order, key=lambda k: root_sort_key(parse_root_key(k)))
    expected = project_all(proc.state, proc.config, TODAY)
    assert {c.slot: c.document for c in sent if c.op == "UPSERT"} == {k: d.document for k, d in expected.items()}


def _named(command: CasaviCommand) -> list[tuple[str, str]]:
    """What a command names that casavi must hold before it (R20): its parents, a ticket's
    property, unit, reporter and assignee, a document's sharing targets."""
    chain = {"unit": ("property",), "contract": ("property", "unit"), "responsibility": ("property",),
             "comment": ("ticket",), "attachment": ("ticket",)}.get(command.entity, ())
    named = list(zip(chain, command.parent_ids))
    doc = command.document or {}
    if command.entity == "ticket":
        named += [(e, doc[f]) for e, f in (("property", "propertyId"), ("unit", "unitId"), ("contact", "contactId"),
                                          ("staff", "assignedToId")) if doc.get(f)]
    if command.entity == "document":
        for share in doc.get("sharedWith", []):
            named += [(f[:-2], v) for f, v in share.items()]
    return named


@pytest.mark.parametrize("seed", [1, 4, 8, 13, 14])  # companies with tickets and documents that reach casavi
def test_r20_a_bulk_load_flushed_chunk_by_chunk_never_names_what_casavi_does_not_hold_yet(seed: int) -> None:
    # a property's documents and tickets depend on it (ErpState.dependants): projected with the
    # property's chunk they would go out before the units and contacts they name, which come
    # in later chunks; deferred themselves, they wait for their own turn
    proc = Processor(SyncSettings(today=TODAY), pass_chunk=5, max_defer_s=0.0)
    proc.finish_loading()
    step = BatchStep(proc, Decoder(mapping_of(SourceSettings()), "x"), {}, control_topic="ticks",
                     receipts_topic="receipts", max_command_bytes=1_000_000)
    proc.defer(proc.fold(random_dataset(seed, properties=4, units_per_property=4, today=TODAY).changes()).roots,
               now=0.0)
    sent: list[CasaviCommand] = []
    for offset in range(1000):
        sent += [c for c, _ in step.run([Record("ticks", 0, offset, b"pass", b'{"kind": "pass"}')]).commands]
        if not proc.pending:
            break
    assert {c.entity for c in sent} >= {"unit", "document"} and {c.entity for c in sent} & {"ticket", "comment"}
    held: set[tuple[str, str]] = set()
    for command in sent:
        missing = [n for n in _named(command) if n not in held]
        assert not missing, f"{command.entity} {command.reference_id} before {missing}"
        held.add((command.entity, command.reference_id))
