"""One slot, one owner, whatever the history: re-keyed rows (issue "casavi never stays wrong").

ERPs re-key rows on migrations, merges and corrections: a row is deleted and inserted again
under a new id with the same ERP numbers, its children re-pointed in the same transaction.
The same numbers give the same casavi entity (R03), and only what leaves the projection may
be deleted (R13). For random histories of such transactions (and plain edits and number
swaps), the commands of the incremental worker, applied in order to an empty store that
enforces casavi's references (R20), equal ``project(final state)`` after every transaction.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.cdc.model import RowChange
from streams.commands.model import CasaviCommand
from streams.commands.receipts import references
from streams.projection.project import project_all
from streams.projection.sample import change, delete
from streams.settings import SyncSettings
from streams.worker.processor import Processor

TODAY = date(2025, 6, 15)
CONFIG = SyncSettings(today=TODAY)


class Store:
    """casavi as far as these tests need it: documents by slot, references checked."""

    def __init__(self) -> None:
        self.docs: dict[str, dict[str, Any]] = {}
        self.named_by: dict[str, set[str]] = {}  # contact slot -> contract slots naming it

    def apply(self, commands: list[CasaviCommand]) -> None:
        for c in commands:
            if c.op == "UPSERT":
                missing = [r for r in references(c) if r not in self.docs]
                assert not missing, f"R20: {c.slot} sent before {missing}"
                self._unname(c.slot)
                self.docs[c.slot] = c.document or {}
                for r in references(c):
                    if r.startswith("contact:"):
                        self.named_by.setdefault(r, set()).add(c.slot)
            else:
                assert not self.named_by.get(c.slot), f"R20: {c.slot} deleted while named by {self.named_by[c.slot]}"
                self._unname(c.slot)
                self.docs.pop(c.slot, None)
                # casavi cascades: a property takes its units, a unit its contracts
                if c.entity in ("property", "unit"):
                    prefix = f"{c.reference_id}-"
                    for slot in [s for s in self.docs if s.split(":", 1)[1].startswith(prefix)]:
                        self._unname(slot)
                        del self.docs[slot]

    def _unname(self, slot: str) -> None:
        for named in self.named_by.values():
            named.discard(slot)


def company() -> dict[str, dict[int, dict[str, Any]]]:
    rows: dict[str, dict[int, dict[str, Any]]] = {"mandant": {1: {"mandant_no": 1, "name": "M"}}}
    rows["property"] = {p: {"property_id": p, "mandant_no": 1, "property_no": f"{p:04d}", "name": f"Haus {p}"}
                        for p in (10, 11)}
    rows["unit"] = {u: {"unit_id": u, "property_id": 10 + u % 2, "unit_no": f"{u:04d}", "is_phantom": False}
                    for u in (20, 21, 22, 23)}
    rows["person"] = {p: {"person_id": p, "person_no": f"P{p}", "email": f"p{p}@example.org"}
                      for p in (30, 31, 32)}
    rows["contract"] = {c: {"contract_id": c, "contract_no": "01", "contract_type": "TENANT",
                            "property_id": 10 + (c - 20) % 2, "unit_id": c - 20, "person_id": 30 + c % 3}
                        for c in (40, 41, 42, 43)}
    return rows


# One transaction of the ERP: (kind, which row, new id offset)
Op = tuple[str, int, int]
ops = st.lists(st.tuples(st.sampled_from(["rekey_property", "rekey_unit", "rekey_person", "edit_person",
                                           "swap_unit_numbers"]),
                         st.integers(0, 3), st.integers(1, 50)), min_size=1, max_size=8)


def transaction(rows: dict[str, dict[int, dict[str, Any]]], op: Op) -> list[RowChange]:
    kind, pick, offset = op
    out: list[RowChange] = []

    def rekey(table: str, old_id: int, new_id: int, children: list[tuple[str, str]]) -> None:
        pk = f"{table}_id"
        old = rows[table].pop(old_id)
        new = {**old, pk: new_id}
        rows[table][new_id] = new
        out.append(delete(table, old))
        out.append(change(table, new))
        for child_table, column in children:
            for child in rows[child_table].values():
                if child[column] == old_id:
                    before = dict(child)
                    child[column] = new_id
                    out.append(change(child_table, dict(child), op="u", before=before))

    if kind == "rekey_property":
        old_id = sorted(rows["property"])[pick % len(rows["property"])]
        new_id = max(rows["property"]) + offset
        rekey("property", old_id, new_id, [("unit", "property_id"), ("contract", "property_id")])
    elif kind == "rekey_unit":
        old_id = sorted(rows["unit"])[pick % len(rows["unit"])]
        rekey("unit", old_id, max(rows["unit"]) + offset, [("contract", "unit_id")])
    elif kind == "rekey_person":
        old_id = sorted(rows["person"])[pick % len(rows["person"])]
        rekey("person", old_id, max(rows["person"]) + offset, [("contract", "person_id")])
    elif kind == "edit_person":
        pid = sorted(rows["person"])[pick % len(rows["person"])]
        before = dict(rows["person"][pid])
        rows["person"][pid]["phone"] = f"+49 {offset}"
        out.append(change("person", dict(rows["person"][pid]), op="u", before=before))
    else:  # two units of one property swap their numbers (a correction)
        units = sorted(u for u, r in rows["unit"].items() if r["property_id"] == rows["unit"][min(rows["unit"])]["property_id"])
        if len(units) >= 2:
            a, b = rows["unit"][units[0]], rows["unit"][units[1]]
            ba, bb = dict(a), dict(b)
            a["unit_no"], b["unit_no"] = b["unit_no"], a["unit_no"]
            out += [change("unit", dict(a), op="u", before=ba), change("unit", dict(b), op="u", before=bb)]
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(history=ops)
def test_incremental_worker_equals_projection_after_every_transaction(history: list[Op]) -> None:
    rows = company()
    p = Processor(CONFIG)
    store = Store()
    step = p.fold([change(t, r) for t, table in rows.items() for r in table.values()])
    store.apply(p.project(step.roots))
    for op in history:
        step = p.fold(transaction(rows, op))
        store.apply(p.project(step.roots))
        want = {k: d.document for k, d in project_all(p.state, CONFIG, TODAY).items()}
        assert store.docs == want, f"after {op}: missing {sorted(set(want) - set(store.docs))}, " \
                                   f"extra {sorted(set(store.docs) - set(want))}"
