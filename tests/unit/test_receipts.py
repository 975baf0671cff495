"""Acceptance feedback: the worker believes casavi holds what casavi applied, not what Kafka got.

The scenario of the issue, played through the worker's ``Processor`` and the sink's receipts:
a person whose e-mail casavi rejects is refused, their contract fails with
``MISSING_REFERENCE``; once the e-mail is fixed in the ERP, the contact is sent again, and as
soon as casavi applies it the contract follows — without a restart or a manual step.
"""

from __future__ import annotations

from datetime import date

from streams.commands.model import CasaviCommand
from streams.commands.receipts import Receipt, decode_receipt, references
from streams.projection.roots import PersonRoot, UnitRoot
from streams.projection.sample import change, delete
from streams.settings import SyncSettings
from streams.worker.processor import FAILED, Processor

TODAY = date(2025, 6, 15)


def company(p: Processor, email: str = "erika@example.org") -> dict[str, dict]:
    rows = {
        "mandant": {"mandant_no": 1, "name": "M"},
        "property": {"property_id": 10, "mandant_no": 1, "property_no": "1000", "name": "Haus"},
        "unit": {"unit_id": 20, "property_id": 10, "unit_no": "0001", "is_phantom": False},
        "person": {"person_id": 30, "person_no": "P30", "email": email, "last_name": "Muster"},
        "contract": {"contract_id": 40, "contract_no": "01", "contract_type": "TENANT", "property_id": 10,
                     "unit_id": 20, "person_id": 30, "start_date": date(2024, 1, 1)},
    }
    p.fold([change(t, r) for t, r in rows.items()])
    return rows


def receipt(c: CasaviCommand, status: str, code: str = "", system: str = "test") -> Receipt:
    return Receipt.of(c, system, status, 1, code)  # type: ignore[arg-type]


def by_slot(commands: list[CasaviCommand]) -> dict[str, CasaviCommand]:
    return {c.slot: c for c in commands}


def test_failed_contact_and_waiting_contract_are_sent_again_once_the_cause_is_fixed() -> None:
    p = Processor(SyncSettings(today=TODAY))
    rows = company(p, email="not-an-address")
    first = by_slot(p.project({PersonRoot(30), UnitRoot(20)}))
    contact, contract = first["contact:P30"], first["contract:1-1000-0001-01"]
    assert contact.root == "C:30" and contract.root == "U:20" and contract.system == "test"
    assert set(references(contract)) == {"property:1-1000", "unit:1-1000-0001", "contact:P30"}

    # casavi refuses the contact; the contract, naming it, fails as well
    out = p.apply_receipts([receipt(contact, "failed", "INVALID_FIELD"),
                            receipt(contract, "failed", "MISSING_REFERENCE"),
                            receipt(first["unit:1-1000-0001"], "applied")])
    assert out.failed == 2 and not out.roots
    assert {slot for slot, _ in out.emitted_writes} == {"contact:P30", "contract:1-1000-0001-01"}
    assert all(e["content_hash"].startswith(FAILED) for _, e in out.emitted_writes)
    assert p.failed_roots() == {PersonRoot(30), UnitRoot(20)}

    # the e-mail is fixed in the ERP: only the person's root is touched, and it sends the contact
    fixed = {**rows["person"], "email": "erika@example.org"}
    step = p.fold([change("person", fixed, op="u", before=rows["person"])])
    resent = by_slot(p.project(step.roots))
    assert set(resent) == {"contact:P30"}
    assert "contact:P30" not in p.failed

    # casavi applies the contact: the contract waiting for it is projected again, and sent
    out = p.apply_receipts([receipt(resent["contact:P30"], "applied")])
    assert out.roots == {UnitRoot(20)}
    assert set(by_slot(p.project(out.roots))) == {"contract:1-1000-0001-01"}
    assert not p.failed and not p.failed_roots()


def test_a_refused_delete_stays_owned_and_is_sent_again() -> None:
    p = Processor(SyncSettings(today=TODAY))
    rows = company(p)
    p.project({PersonRoot(30), UnitRoot(20)})
    step = p.fold([delete("contract", rows["contract"])])
    deletes = by_slot(p.project(step.roots))
    assert {s for s, c in deletes.items() if c.op == "DELETE"} == {"contract:1-1000-0001-01", "contact:P30"}
    out = p.apply_receipts([receipt(deletes["contact:P30"], "failed", "CONTACT_IN_USE")])
    assert out.failed == 1 and p.failed_roots() == {PersonRoot(30)}
    again = p.project(p.failed_roots())  # the next tick
    assert [(c.op, c.slot) for c in again] == [("DELETE", "contact:P30")]


def test_r22_receipts_of_another_system_or_of_superseded_commands_change_nothing() -> None:
    p = Processor(SyncSettings(today=TODAY), system="production")
    rows = company(p)
    first = by_slot(p.project({PersonRoot(30)}))
    out = p.apply_receipts([receipt(first["contact:P30"], "failed", "INVALID_FIELD", system="test")])
    assert out.ignored == 1 and not out.emitted_writes
    step = p.fold([change("person", {**rows["person"], "phone": "+49 1"}, op="u", before=rows["person"])])
    p.project(step.roots)  # a newer document of the same slot is on its way
    out = p.apply_receipts([receipt(first["contact:P30"], "failed", "INVALID_FIELD", system="production")])
    assert out.ignored == 1 and not p.failed


def test_redrive_forgets_the_slots_and_resends_them() -> None:
    p = Processor(SyncSettings(today=TODAY))
    company(p)
    p.project({PersonRoot(30), UnitRoot(20)})
    roots, writes, unknown = p.redrive(["contract:1-1000-0001-01", "contact:NOBODY"])
    assert roots == {UnitRoot(20)} and unknown == 1 and [w[0] for w in writes] == ["contract:1-1000-0001-01"]
    assert [c.slot for c in p.project(roots)] == ["contract:1-1000-0001-01"]


def test_full_sync_sends_everything_again() -> None:
    p = Processor(SyncSettings(today=TODAY))
    company(p)
    first = p.reproject_all()
    assert p.reproject_all() == []
    assert sorted(c.slot for c in p.reproject_all(force=True)) == sorted(c.slot for c in first)


def test_receipt_codec_round_trip() -> None:
    p = Processor(SyncSettings(today=TODAY))
    company(p)
    c = by_slot(p.project({UnitRoot(20)}))["contract:1-1000-0001-01"]
    r = receipt(c, "failed", "MISSING_REFERENCE")
    assert decode_receipt(r.encode()) == r
    assert "Muster" not in r.encode().decode()


def test_a_command_too_large_to_send_is_a_dead_letter_and_is_sent_once_the_row_is_fixed() -> None:
    p = Processor(SyncSettings(today=TODAY))
    rows = company(p)
    contact = by_slot(p.project({PersonRoot(30)}))["contact:P30"]
    writes = p.refuse([contact], "TOO_LARGE", "the command exceeds 900000 bytes")
    assert [slot for slot, _ in writes] == ["contact:P30"] and writes[0][1]["content_hash"].startswith(FAILED)
    (letter,) = p.take_dead_letters()
    assert (letter.stage, letter.error_code, letter.entity, letter.reference_id) == (
        "project", "TOO_LARGE", "contact", "P30")
    changed = {**rows["person"], "phone": "+49 30 1"}
    step = p.fold([change("person", changed, op="u", before=rows["person"])])
    assert set(by_slot(p.project(step.roots))) == {"contact:P30"}
