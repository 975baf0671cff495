"""Properties of the projection and the worker's ``Processor`` (hypothesis, bounded examples).

For random ERP states and random histories of row changes — inserts, updates and deletes
of every table the projection reads, the tables' topics interleaved in any order, changes
delivered twice and replayed — the commands the ``Processor`` emits, planned by the sink
and applied to an empty casavi simulator store (``streams.simulator.importer``):

* are never refused: no child before its parent, no contract before its contacts, no
  responsibility before its staff member, no contact or staff member deleted while named
  (R20);
* leave the store equal to ``project(final state)``, and to the projection of the final
  rows folded afresh (R21);
* give the same store for any order of independent row arrivals (R21).
"""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta, timezone
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.cdc.model import Row, RowChange
from streams.commands.model import CasaviCommand
from streams.erp.schema import TABLES
from streams.projection import ErpState, project_all
from streams.projection.sample import change, delete
from streams.settings import SyncSettings
from streams.simulator.importer import apply_import, delete_staff, put_staff
from streams.simulator.store import Store
from streams.sink.plan import plan_batch
from streams.worker.processor import Processor

TODAY = date(2025, 6, 15)
# Domains list first what is synced: hypothesis leans towards the first values
DAYS = [None, TODAY - timedelta(days=400), TODAY - timedelta(days=31), TODAY - timedelta(days=30), TODAY,
        TODAY + timedelta(days=1), TODAY + timedelta(days=8)]
EMAILS = ["anna@example.org", "ben@example.org", " ANNA@example.org", None, "clara@example.org", "  ",
          "david@example.org"]
ANON = datetime(2025, 1, 1, tzinfo=timezone.utc)
EXAMPLES = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

Key = tuple[Any, ...]


def rows_of(table: str, key: Key, draw: st.DrawFn) -> Row:
    """A row of ``table`` with primary key ``key`` and random contents from small domains."""
    pick = lambda xs: draw(st.sampled_from(xs))  # noqa: E731
    if table == "mandant":
        return {"mandant_no": key[0], "name": "M"}
    if table == "property":
        pid = key[0]
        return {"property_id": pid, "mandant_no": pick([1, 2, 3]), "property_no": f"{pid:04d}", "name": pick(["A", "B"]),
                "management_end": pick([None, None, TODAY, TODAY - timedelta(days=1)]), "team_id": pick([None, 1, 2])}
    if table == "building":
        return {"building_id": key[0], "property_id": pick([1, 2, 3]), "street": "Weg", "house_no": pick(["1", "2"])}
    if table == "unit":
        uid = key[0]
        return {"unit_id": uid, "property_id": pick([1, 2, 3]), "building_id": pick([None, 1, 2]),
                "unit_no": f"{uid:04d}", "is_phantom": pick([False, False, True]),
                "valid_to": pick([None, None, TODAY, TODAY - timedelta(days=1)]), "name": pick(["W", "X"])}
    if table == "person":
        pid = key[0]
        return {"person_id": pid, "person_no": f"P{pid}", "person_type_code": pick(["MIE", "MIE", "INT", None]),
                "email": pick(EMAILS), "first_name": pick(["Anna", "Ben"]),
                "anonymized_at": pick([None, None, None, ANON])}
    if table == "contract":
        cid = key[0]
        return {"contract_id": cid, "contract_no": f"{cid:02d}", "contract_type": pick(["TENANT", "TENANT", "OWNER"]),
                "unit_id": pick([1, 2, 3, 4]), "person_id": pick([1, 2, 3, 4, 5]),
                "start_date": pick(DAYS[1:] + [None]), "end_date": pick(DAYS), "rent_amount": pick([None, 500])}
    if table == "contract_party":
        return {"contract_id": key[0], "person_id": key[1], "role": pick(["CO_TENANT", "RESIDENT", "PARTNER"])}
    if table in ("property_owner", "caretaker", "team_member"):
        cols = TABLES[table].primary_key
        return dict(zip(cols, key, strict=True))
    if table == "property_user":
        return {"property_id": key[0], "user_id": key[1], "is_responsible": pick([True, False])}
    if table == "staff_user":
        uid = key[0]
        return {"user_id": uid, "user_no": f"S{uid}", "first_name": pick(["Maria", None]), "last_name": "Kaiser",
                "email": pick([None, "staff@example.org"]), "active": pick([True, True, False, None])}
    if table == "team":
        return {"team_id": key[0], "name": pick(["Nord", "Süd"])}
    raise AssertionError(table)


# every key each table may hold (small domains, so histories collide on purpose)
KEYS: dict[str, list[Key]] = {
    "mandant": [(1,), (2,)],
    "property": [(1,), (2,), (3,)],
    "building": [(1,), (2,)],
    "unit": [(1,), (2,), (3,), (4,)],
    "person": [(i,) for i in range(1, 6)],
    "contract": [(i,) for i in range(1, 6)],
    "contract_party": [(c, p) for c in range(1, 6) for p in range(1, 6)],
    "property_owner": [(p, q) for p in (1, 2, 3) for q in (1, 2, 3)],
    "caretaker": [(p, q) for p in (1, 2, 3) for q in (4, 5)],
    "staff_user": [(1,), (2,), (3,)],
    "team": [(1,), (2,)],
    "team_member": [(t, u) for t in (1, 2) for u in (1, 2, 3)],
    "property_user": [(p, u) for p in (1, 2, 3) for u in (1, 2, 3)],
}

Step = tuple[str, Key, Row | None]  # a row set (insert or update) or deleted (None)


# how likely each key is present at first, per table (percent): enough of each for whole chains
# mandant -> property -> unit -> contract -> persons to be synced in most examples
PRESENT = {"mandant": 90, "property": 80, "building": 50, "unit": 80, "person": 80, "contract": 80,
           "contract_party": 15, "property_owner": 20, "caretaker": 30, "staff_user": 80, "team": 80,
           "team_member": 40, "property_user": 30}


@st.composite
def histories(draw: st.DrawFn, max_edits: int = 40) -> list[Step]:
    """An initial state (each key present or not), then random edits: rows set or deleted."""
    steps: list[Step] = [(table, key, rows_of(table, key, draw)) for table in sorted(KEYS) for key in KEYS[table]
                         if draw(st.integers(0, 99)) < PRESENT[table]]
    for _ in range(draw(st.integers(0, max_edits))):
        table = draw(st.sampled_from(sorted(KEYS)))
        key = draw(st.sampled_from(KEYS[table]))
        steps.append((table, key, None if draw(st.integers(0, 4)) == 0 else rows_of(table, key, draw)))
    return steps


configs = st.builds(
    SyncSettings,
    today=st.just(TODAY),
    mandanten=st.sampled_from([None, [1], [1, 2]]),
    properties=st.sampled_from([None, ["1:0001", "0002", "2:0003"]]),
    person_types=st.sampled_from([None, ["MIE"]]),
    owner_licence=st.booleans(),
    caretaker_licence=st.booleans(),
    portal_days_before_start=st.sampled_from([0, 7]),
)


def as_changes(steps: list[Step]) -> list[RowChange]:
    """The CDC events of a history, each with its source position, in history order."""
    live: dict[tuple[str, Key], Row] = {}
    out: list[RowChange] = []
    for table, key, row in steps:
        old = live.get((table, key))
        if row is None:
            if old is not None:
                out.append(delete(table, old))
                del live[(table, key)]
        else:
            out.append(change(table, row, "c" if old is None else "u", before=old))
            live[(table, key)] = row
    return out


def final_rows(steps: list[Step]) -> dict[tuple[str, Key], Row]:
    live: dict[tuple[str, Key], Row] = {}
    for table, key, row in steps:
        if row is None:
            live.pop((table, key), None)
        else:
            live[(table, key)] = row
    return live


def deliver(changes: list[RowChange], rnd: random.Random) -> list[RowChange]:
    """As Kafka may deliver them: each table's topic in order, the topics interleaved at random,
    some events delivered twice, and a stretch replayed (a consumer moved back)."""
    queues: dict[str, list[RowChange]] = {}
    for c in changes:
        queues.setdefault(c.table, []).append(c)
    out: list[RowChange] = []
    while queues:
        table = rnd.choice(sorted(queues))
        out.append(queues[table].pop(0))
        if not queues[table]:
            del queues[table]
        if rnd.random() < 0.1:
            out.append(out[-1])  # delivered twice
    if out:
        start = rnd.randrange(len(out))
        out += out[start:start + rnd.randint(1, 10)]  # replayed
    return out


class Casavi:
    """The simulator's store, written the way the sink writes it: phases of imports and
    /staff calls. Every refusal fails the test (R20)."""

    def __init__(self) -> None:
        self.store = Store(":memory:")

    def apply(self, commands: list[CasaviCommand]) -> None:
        for phase in plan_batch(commands):
            if phase.kind == "staff":
                for p in phase.commands:
                    result, _ = put_staff(self.store, {**(p.command.document or {}), "id": p.command.reference_id})
                    assert result.status != "failed", (result.error_code, result.error)
            elif phase.kind == "staff_delete":
                for p in phase.commands:
                    result = delete_staff(self.store, p.command.reference_id)
                    assert result.status in ("deleted", "absent"), (result.error_code, result.error)
            else:
                refused = [(r.entity, r.id, r.error_code, r.error) for r in apply_import(self.store, phase.body)
                           if r.status == "failed"]
                assert not refused, f"R20: casavi refused {refused}"

    def held(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for entity in ("contact", "property", "unit", "contract", "staff", "responsibility"):
            for s in self.store.all(entity):  # type: ignore[arg-type]
                out[f"{entity}:{s.id}"] = s.doc
        return out


def expected(state: ErpState, cfg: SyncSettings) -> dict[str, dict[str, Any]]:
    return {k: ({**d.document, "archived": False} if d.entity == "contact" else d.document)
            for k, d in project_all(state, cfg, TODAY).items()}


def run(events: list[RowChange], cfg: SyncSettings, rnd: random.Random) -> tuple[Processor, Casavi]:
    proc = Processor(cfg)
    casavi = Casavi()
    i = 0
    while i < len(events):
        n = rnd.randint(1, 8)
        step = proc.fold(events[i:i + n])
        assert not step.dead_letters
        casavi.apply(proc.project(step.roots))
        i += n
    return proc, casavi


@EXAMPLES
@given(history=histories(), cfg=configs, seed=st.integers(0, 2**16))
def test_r21_emitted_commands_give_the_projection_of_the_final_state(history: list[Step], cfg: SyncSettings,
                                                                    seed: int) -> None:
    rnd = random.Random(seed)
    proc, casavi = run(deliver(as_changes(history), rnd), cfg, rnd)
    fresh = ErpState()
    for (table, _), row in final_rows(history).items():
        fresh.apply(change(table, row))
    want = expected(fresh, cfg)
    assert expected(proc.state, cfg) == want
    assert casavi.held() == want


@EXAMPLES
@given(history=histories(), cfg=configs, seed=st.integers(0, 2**16))
def test_r21_any_order_of_independent_arrivals_gives_the_same_casavi(history: list[Step], cfg: SyncSettings,
                                                                    seed: int) -> None:
    rows = list(final_rows(history).items())
    rnd = random.Random(seed)
    states = []
    for _ in range(2):
        rnd.shuffle(rows)
        _, casavi = run([change(table, row) for (table, _), row in rows], cfg, rnd)
        states.append(casavi.held())
    assert states[0] == states[1]


@EXAMPLES
@given(history=histories(), old=configs, new=configs, seed=st.integers(0, 2**16))
def test_r13_a_configuration_change_reprojects_what_it_reaches(history: list[Step], old: SyncSettings,
                                                               new: SyncSettings, seed: int) -> None:
    """The worker restarted with other settings projects only ``reconfigured`` roots and ends
    equal to the projection under the new settings."""
    rnd = random.Random(seed)
    proc, casavi = run(as_changes(history), old, rnd)
    previous = proc.config.fingerprint()
    proc.config = new
    casavi.apply(proc.project(proc.reconfigured(previous)))
    assert casavi.held() == expected(proc.state, new)
