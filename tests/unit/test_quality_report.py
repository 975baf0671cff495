"""The data-quality report (R08 shared e-mail addresses, R12 staff casavi cannot take) and
``bridge report quality``: rule and ERP numbers, never a name, an address or an e-mail."""

from __future__ import annotations

import argparse
import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from streams.projection.quality import QualityCase, QualityReport, quality_cases
from streams.projection.sample import minimal_dataset
from streams.report import quality, write_report
from streams.settings import BridgeSettings, StackSettings, SyncSettings
from tests.unit.rules_support import TODAY, state_of


def shared() -> list[QualityCase]:
    ds = minimal_dataset()
    ds.rows["person"][1]["email"] = "ANNA@example.invalid"
    ds.add("person", person_id=3, person_no="P003", email="anna@example.invalid", first_name="Clara")
    ds.add("contract_party", contract_id=500, person_id=3, role="RESIDENT")
    ds.add("person", person_id=4, person_no="P000", email="anna@example.invalid")  # not synced: no contract
    ds.add("staff_user", user_id=1, user_no="MKS", first_name="Maria", last_name=None, active=True)
    ds.add("staff_user", user_id=2, user_no=None, first_name="Tom", last_name="Lehmann", active=True)
    ds.add("staff_user", user_id=3, user_no="OLD", first_name=None, last_name=None, active=False)
    return quality_cases(state_of(ds), SyncSettings(), TODAY)


def test_r08_each_shared_address_is_a_case_with_both_person_numbers() -> None:
    assert [c for c in shared() if c.rule == "R08"] == [
        QualityCase(rule="R08", case="shared e-mail address", kept="P001", other="P002"),
        QualityCase(rule="R08", case="shared e-mail address", kept="P001", other="P003"),
    ]


def test_r12_staff_casavi_cannot_take_are_cases() -> None:
    assert [c for c in shared() if c.rule == "R12"] == [
        QualityCase(rule="R12", case="staff user without first or last name", other="MKS"),
        QualityCase(rule="R12", case="staff user without number", other="id 2"),
    ]


def test_r11_anonymized_persons_never_appear() -> None:
    ds = minimal_dataset()
    ds.rows["person"][1].update(email="anna@example.invalid", anonymized_at=datetime(2025, 1, 1, tzinfo=timezone.utc))
    assert quality_cases(state_of(ds), SyncSettings(), TODAY) == []


def _report(tmp_path: Path) -> BridgeSettings:
    settings = BridgeSettings(stack=StackSettings(home=tmp_path))
    report = QualityReport(generated_at=datetime(2025, 6, 15, 8, 0, tzinfo=timezone.utc), today=TODAY,
                           cases=shared())
    write_report(settings.stack.state_dir / "quality-report.json", report)
    return settings


def test_r08_bridge_report_quality_prints_the_cases_without_personal_data(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = _report(tmp_path)
    assert quality(argparse.Namespace(json=False), settings) == 0
    out = capsys.readouterr().out
    assert out.splitlines() == [
        "data quality on 2025-06-15 (as of 2025-06-15T08:00:00+00:00): 4 cases (R08 2, R12 2)",
        "  R08 shared e-mail address: person P001 keeps it, person P002 is synced without it",
        "  R08 shared e-mail address: person P001 keeps it, person P003 is synced without it",
        "  R12 staff user MKS: staff user without first or last name",
        "  R12 staff user id 2: staff user without number",
    ]
    assert quality(argparse.Namespace(json=True), settings) == 0
    text = capsys.readouterr().out
    assert json.loads(text)["cases"][0] == {"rule": "R08", "case": "shared e-mail address", "kept": "P001",
                                            "other": "P002"}
    for personal in ("anna", "Anna", "Clara", "Maria", "Tom", "Lehmann", "example"):
        assert personal not in out + text


def test_bridge_report_quality_without_a_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert quality(argparse.Namespace(json=False), BridgeSettings(stack=StackSettings(home=tmp_path))) == 3
    assert "running bridge worker" in capsys.readouterr().err
