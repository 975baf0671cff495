"""``explain``: the rule decisions that put an entity into the projection or kept it out.

Data: ``minimal_dataset()`` (property ``1-1000``, unit ``1-1000-0001``, TENANT contract
``…-01`` of P001 with co-tenant P002, person type ``MIE``), edited per case. The verdict
must be the projection's own, and the decision that fails must name the rule of its reason.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any

import pytest

from streams.projection.explain import Explanation, SlotHistory, explain, with_history
from streams.projection.project import project_all
from streams.projection.sample import Dataset, minimal_dataset
from streams.settings import SyncSettings
from tests.unit.rules_support import TODAY, state_of

PERSONAL = ("Anna", "Ben", "Muster", "example.invalid", "Lindenallee", "+49", "DE00")


def _explain(ds: Dataset, entity: Any, key: str, cfg: SyncSettings | None = None) -> Explanation:
    result = explain(state_of(ds), cfg or SyncSettings(), TODAY, entity, key)
    text = result.model_dump_json()
    assert not any(p in text for p in PERSONAL), text  # decisions never carry personal data
    return result


def _edited(**edits: dict[str, Any]) -> Dataset:
    ds = minimal_dataset()
    for table, values in edits.items():
        ds.rows[table][0].update(values)
    return ds


def test_an_included_contract_passes_every_decision_by_number_and_by_reference_id() -> None:
    for key in ("01", "1-1000-0001-01"):
        (match,) = _explain(minimal_dataset(), "contract", key).matches
        assert match.included and match.reason is None and match.reference_id == "1-1000-0001-01"
        assert all(d.passed for d in match.decisions)
        assert [d.rule for d in match.decisions] == ["R09", "R05", "R11", "R06", "R07", "R13"]
        assert "contract valid from 2024-01-01 without end" in match.decisions[0].text


def test_an_included_contact_names_the_contracts_that_carry_it() -> None:
    (match,) = _explain(minimal_dataset(), "contact", "P002").matches
    assert match.included and match.erp == {"table": "person", "person_id": 2, "person_no": "P002"}
    assert [d.line() for d in match.decisions][-1] == "R05: CO_TENANT on contract 1-1000-0001-01"


def test_property_and_unit_by_number_and_reference_id() -> None:
    for key in ("1000", "1-1000"):
        (match,) = _explain(minimal_dataset(), "property", key).matches
        assert match.included and match.decisions[-1].line() == "R01: management has no end"
    (unit,) = _explain(minimal_dataset(), "unit", "1-1000-0001").matches
    assert unit.included and unit.decisions[-1].line() == "R01: property 1-1000 synced"
    assert _explain(minimal_dataset(), "unit", "9999").matches == []


EXCLUSIONS: list[tuple[str, str, dict[str, dict[str, Any]], SyncSettings, str, str, str]] = [
    # rule, entity, key, edits, settings, reason, text of the failing decision
    ("R01", "property", {"property": {"management_end": date(2025, 6, 1)}}, SyncSettings(),
     "R01 property management ended", "management ended 2025-06-01"),
    ("R01", "property", {}, SyncSettings(properties=["1:2000"]),
     "R01 property not selected", "property 1:1000 not in the property selection (BRIDGE_SYNC__PROPERTIES)"),
    ("R02", "property", {}, SyncSettings(mandanten=[2, 3]),
     "R02 Mandant not selected", "Mandant 1 not selected (BRIDGE_SYNC__MANDANTEN 2,3)"),
    ("R04", "unit", {"unit": {"is_phantom": True}}, SyncSettings(), "R04 phantom unit", "phantom unit: never synced"),
    ("R13", "unit", {"unit": {"valid_to": date(2025, 6, 14)}}, SyncSettings(), "R13 unit ended",
     "unit ended 2025-06-14"),
    ("R09", "contract", {"contract": {"end_date": date(2025, 4, 30)}}, SyncSettings(delete_after_days=30),
     "R09 contract ended", "contract ended 2025-04-30, grace until 2025-05-30"),
    ("R09", "contract", {"contract": {"start_date": date(2025, 7, 1)}}, SyncSettings(portal_days_before_start=7),
     "R09 contract not yet valid", "contract starts 2025-07-01, portal access from 2025-06-24"),
    ("R10", "contract", {"contract": {"contract_type": "OWNER"}}, SyncSettings(),
     "R10 owner licence off", "OWNER contract, owner licence off (BRIDGE_SYNC__OWNER_LICENCE)"),
    ("R07", "contract", {"person": {"email": None}}, SyncSettings(), "R07 tenant without e-mail",
     "tenant party without e-mail"),
    ("R11", "contract", {"person": {"anonymized_at": datetime(2025, 1, 1, tzinfo=timezone.utc)}}, SyncSettings(),
     "R11 main party anonymized", "main party anonymized"),
    ("R06", "contract", {}, SyncSettings(person_types=["EIG"]), "R06 main party's person type not enabled",
     "main party's person type MIE not enabled (BRIDGE_SYNC__PERSON_TYPES EIG)"),
    ("R06", "contact", {}, SyncSettings(person_types=["EIG"]), "R06 person type not enabled",
     "the person type MIE not enabled (BRIDGE_SYNC__PERSON_TYPES EIG)"),
    ("R11", "contact", {"person": {"anonymized_at": datetime(2025, 1, 1, tzinfo=timezone.utc)}}, SyncSettings(),
     "R11 person anonymized", "person anonymized"),
    ("R05", "contact", {"contract": {"end_date": date(2020, 1, 31)}}, SyncSettings(), "R05 no synced valid contract",
     "main party of contract 1-1000-0001-01, which is not synced (R09 contract ended)"),
    ("R12", "staff", {}, SyncSettings(), "R12 staff user inactive", "user inactive"),
]


@pytest.mark.parametrize(("rule", "entity", "edits", "cfg", "reason", "text"), EXCLUSIONS,
                         ids=[f"{e[0].lower()}_{e[1]}_{e[4].split(' ', 1)[1].replace(' ', '_')}" for e in EXCLUSIONS])
def test_each_exclusion_names_its_rule(rule: str, entity: Any, edits: dict[str, dict[str, Any]], cfg: SyncSettings,
                                       reason: str, text: str) -> None:
    ds = _edited(**edits)
    ds.add("staff_user", user_id=9, user_no="MKS", first_name="Mia", last_name="Kurz", active=False)
    key = {"property": "1-1000", "unit": "1-1000-0001", "contract": "1-1000-0001-01", "contact": "P001",
           "staff": "MKS"}[entity]
    (match,) = _explain(ds, entity, key, cfg).matches
    assert not match.included and match.reason == reason
    failed = [d for d in match.decisions if not d.passed]
    assert failed and failed[-1].rule == rule and failed[-1].text == text, [d.line() for d in match.decisions]
    # the verdict is the projection's: the slot is not in it
    assert f"{entity}:{key}" not in project_all(state_of(ds), cfg, TODAY)


def test_r07_co_tenant_without_email_is_not_named_and_not_synced() -> None:
    ds = minimal_dataset()
    ds.rows["person"][1]["email"] = None
    (match,) = _explain(ds, "contact", "P002").matches
    assert not match.included and match.reason == "R07 tenant without e-mail"
    assert match.decisions[-1].line() == "R07: CO_TENANT on contract 1-1000-0001-01: tenant party without e-mail"


def test_r08_shared_address_says_who_carries_it() -> None:
    ds = minimal_dataset()
    ds.rows["person"][1]["email"] = "ANNA@example.invalid "
    (p2,) = _explain(ds, "contact", "P002").matches
    assert p2.included and p2.decisions[-1].line() == \
        "R08: shares its e-mail address with person P001: synced without it (person P001 carries it)"


def test_history_is_attached_by_slot() -> None:
    result = _explain(minimal_dataset(), "contact", "P001")
    history = SlotHistory(slot="contact:P001")
    (match,) = with_history(result, {"contact:P001": history}).matches
    assert match.history == history


def test_worker_table_keys_are_read_as_faust_writes_them() -> None:
    from streams.ops.explain import table_key

    assert table_key(b'"person|[8111]"') == "person|[8111]" and table_key(b"settings") == "settings"
