"""Settings: environment variables, the TOML file, and the production/test switch (R22)."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.settings import load_settings


def test_r22_production_and_test_system_are_separate_and_switchable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BRIDGE_CASAVI__PRODUCTION__URL", "https://api.casavi.example")
    monkeypatch.setenv("BRIDGE_CASAVI__PRODUCTION__KEY", "prod-key")
    monkeypatch.setenv("BRIDGE_CASAVI__PRODUCTION__SECRET", "prod-secret")
    monkeypatch.setenv("BRIDGE_CASAVI__TEST__URL", "http://127.0.0.1:1")
    s = load_settings()
    assert s.casavi.system == "test"
    assert s.casavi.active.url == "http://127.0.0.1:1"
    assert s.casavi.active.key.get_secret_value() == "demo-key"  # test system keeps its defaults
    monkeypatch.setenv("BRIDGE_CASAVI__SYSTEM", "production")
    s = load_settings()
    assert s.casavi.active.url == "https://api.casavi.example"
    assert s.casavi.active.secret.get_secret_value() == "prod-secret"
    assert "prod-secret" not in repr(s) and "prod-secret" not in s.model_dump_json()


def test_config_file_and_environment_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cfg = tmp_path / "bridge.toml"
    cfg.write_text(
        '[sync]\nmandanten = [1, 2]\nid_separator = "/"\n\n'
        '[casavi]\nsystem = "production"\n[casavi.production]\nurl = "https://file.example"\nkey = "k"\n'
    )
    monkeypatch.setenv("BRIDGE_CONFIG_FILE", str(cfg))
    monkeypatch.setenv("BRIDGE_SYNC__ID_SEPARATOR", "|")
    s = load_settings()
    assert s.sync.mandanten == [1, 2]
    assert s.sync.id_separator == "|"  # the environment wins over the file
    assert s.casavi.active.url == "https://file.example"


def test_comma_separated_selection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BRIDGE_SYNC__PROPERTIES", "0001, 0002")
    monkeypatch.setenv("BRIDGE_SYNC__MANDANTEN", "7")
    s = load_settings()
    assert s.sync.properties == ["0001", "0002"] and s.sync.mandanten == [7]


def test_invalid_separator_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BRIDGE_SYNC__ID_SEPARATOR", "#")
    with pytest.raises(ValueError, match="id_separator"):
        load_settings()
