"""The sink reconciles once it caught up after a gap or a switch of casavi system (R22)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from streams.settings import BridgeSettings
from streams.sink import main as sink_main


def settings(tmp_path: Path, system: str = "test") -> BridgeSettings:
    s = BridgeSettings()
    stack = s.stack.model_copy(update={"home": tmp_path})
    return s.model_copy(update={"stack": stack, "casavi": s.casavi.model_copy(update={"system": system})})


def test_r22_a_switch_of_casavi_system_is_noticed_until_a_reconcile_ran(tmp_path: Path) -> None:
    assert not sink_main.system_switched(settings(tmp_path, "test"))  # first start: nothing to compare
    assert not sink_main.system_switched(settings(tmp_path, "test"))
    assert sink_main.system_switched(settings(tmp_path, "production"))
    assert sink_main.system_switched(settings(tmp_path, "production"))  # still: no reconcile yet


def test_r22_reconcile_runs_when_the_sink_is_idle_and_records_the_system(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    s = settings(tmp_path, "test")
    sink_main.system_switched(s)
    prod = settings(tmp_path, "production")
    s_prod = prod.model_copy(update={"reconcile": prod.reconcile.model_copy(update={"interval_h": 0})})
    ran: list[str] = []

    async def fake_reconcile(settings: BridgeSettings, client: Any, **kw: Any) -> dict[str, Any]:
        ran.append(settings.casavi.system)
        return {}

    import streams.reconcile.run as run_module

    monkeypatch.setattr(run_module, "reconcile", fake_reconcile)

    async def go() -> None:
        idle, stop = asyncio.Event(), asyncio.Event()
        task = asyncio.create_task(sink_main.reconcile_every(s_prod, None, stop, idle, "switch"))  # type: ignore[arg-type]
        await asyncio.sleep(0)
        assert ran == []  # not before the sink caught up
        idle.set()
        await asyncio.wait_for(task, 5)

    asyncio.run(go())
    assert ran == ["production"]
    assert not sink_main.system_switched(s_prod)
