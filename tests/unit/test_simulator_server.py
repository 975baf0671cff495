"""The casavi simulator as a real HTTP server (uvicorn on a free port): a real connection,
the dropped-connection fault, and the ``bridge sim`` configuration."""

from __future__ import annotations

import argparse
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from pydantic import SecretStr

from streams.settings import BridgeSettings, CasaviSettings, CasaviSystem, StackSettings
from streams.simulator import SimulatorConfig, create_app
from streams.simulator.main import config_from


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    port = _free_port()
    config = uvicorn.Config(create_app(SimulatorConfig(db_path=str(tmp_path / "sim.sqlite"))),
                            host="127.0.0.1", port=port, log_level="critical")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not srv.started:
        assert time.monotonic() < deadline, "simulator did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)


def test_real_connection_import_and_dropped_connection(server: str) -> None:
    with httpx.Client(base_url=server, timeout=5) as http:
        token = http.post("/authenticate", json={"key": "demo-key", "secret": "demo-secret"}).json()["token"]
        headers = {"token": token}
        job_id = http.post("/import", json={"properties": [{"id": "P1", "number": "1"}]}, headers=headers).json()["jobId"]
        deadline = time.monotonic() + 5
        while not (job := http.get(f"/jobs/{job_id}", headers=headers).json())["completed"]:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert job["results"]["items"] == [
            {"entity": "property", "id": "P1", "status": "created", "errorCode": None, "error": None}]

        assert http.post("/_sim/faults", json={"drop": True, "count": 1}).status_code == 200
        with pytest.raises(httpx.TransportError):
            http.get("/properties", headers=headers)
        assert http.get("/properties", headers=headers).json()["count"] == 1  # the next one is answered


def test_delay_fault_times_the_client_out(server: str) -> None:
    with httpx.Client(base_url=server, timeout=0.3) as http:
        http.post("/_sim/faults", json={"delay_s": 2, "count": 1})
        with pytest.raises(httpx.TimeoutException):
            http.post("/authenticate", json={"key": "demo-key", "secret": "demo-secret"})


def test_bridge_sim_uses_the_active_casavi_credentials_and_state_dir(tmp_path: Path) -> None:
    args = argparse.Namespace(db=None, rate_limit=80.0, host="127.0.0.1", port=0)
    settings = BridgeSettings(
        stack=StackSettings(home=tmp_path),
        casavi=CasaviSettings(test=CasaviSystem(key=SecretStr("k1"), secret=SecretStr("s1"))),
    )
    config = config_from(args, settings)
    assert config.db_path == str(tmp_path / "state" / "casavi-sim.sqlite")
    assert config.credentials == {"k1": "s1"}
    assert config.rate_limit_per_minute == 80.0

    no_keys = BridgeSettings(stack=StackSettings(home=tmp_path),
                             casavi=CasaviSettings(test=CasaviSystem()))
    assert config_from(args, no_keys).credentials == {"demo-key": "demo-secret"}
