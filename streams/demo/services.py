"""Run the bridge's own processes (simulator, worker, sink) as child processes.

Used by ``bridge demo``, the end-to-end tests and the benchmark: each process is a real
``bridge …`` command with its own log file under ``<stack home>/state/logs``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import TypeVar

import httpx

T = TypeVar("T")


class ServiceFailed(RuntimeError):
    pass


def wait_for(condition: Callable[[], T | None], timeout_s: float, what: str, interval_s: float = 0.2) -> T:
    """Poll ``condition`` until it returns something truthy; raise with ``what`` at the deadline."""
    deadline = time.monotonic() + timeout_s
    last_exc: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = condition()
            if result:
                return result
        except ServiceFailed:
            raise
        except Exception as exc:  # noqa: BLE001 - conditions probe services that may not be up yet
            last_exc = exc
        time.sleep(interval_s)
    detail = f" (last error: {type(last_exc).__name__}: {last_exc})" if last_exc else ""
    raise TimeoutError(f"{what} not reached within {timeout_s:.0f}s{detail}")


class Service:
    def __init__(self, name: str, args: list[str], env: Mapping[str, str], log_dir: Path) -> None:
        self.name = name
        self.args = args
        self.env = dict(env)
        self.log_path = log_dir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streams.cli", *self.args], env=self.env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def check(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise ServiceFailed(f"{self.name} exited with {self.proc.returncode}; log tail:\n{self.tail()}")

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, timeout_s: float = 20.0, hard: bool = False) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        sig = signal.SIGKILL if hard else signal.SIGTERM
        os.killpg(self.proc.pid, sig)
        try:
            self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)


class BridgeServices:
    """Simulator + worker + sink (+ the hook receiver, ``hooks=True``; + the protocol page with
    ``ui_port``), started in that order and stopped in reverse. The page is watched by nobody: a
    page that cannot start (its port taken) leaves the bridge running."""

    def __init__(self, env: Mapping[str, str], log_dir: Path, sim_port: int = 18480,
                 sim_db: Path | None = None, sim_rate_limit: float = 0.0, hooks: bool = False,
                 ui_port: int | None = None) -> None:
        self.env = dict(env)
        self.sim_url = f"http://127.0.0.1:{sim_port}"
        self.env["BRIDGE_CASAVI__SYSTEM"] = self.env.get("BRIDGE_CASAVI__SYSTEM", "test")
        self.env.setdefault("BRIDGE_CASAVI__TEST__URL", self.sim_url)
        sim_args = ["sim", "--port", str(sim_port), "--rate-limit", str(sim_rate_limit)]
        if sim_db is not None:
            sim_args += ["--db", str(sim_db)]
        self.sim = Service("casavi-sim", sim_args, self.env, log_dir)
        self.worker = Service("worker", ["worker"], self.env, log_dir)
        self.sink = Service("sink", ["sink"], self.env, log_dir)
        self.hooks = Service("hooks", ["hooks"], self.env, log_dir) if hooks else None
        self.ui = Service("ui", ["ui", "--port", str(ui_port)], self.env, log_dir) if ui_port else None
        self.ui_url = f"http://127.0.0.1:{ui_port}/" if ui_port else None

    def start(self, timeout_s: float = 60.0) -> None:
        self.start_sim(timeout_s)
        self.worker.start()
        self.sink.start()
        if self.hooks is not None:
            self.hooks.start()
        if self.ui is not None:
            self.ui.start()

    def start_sim(self, timeout_s: float = 60.0) -> None:
        if self.sim.alive():
            return
        self.sim.start()

        def up() -> bool:
            self.sim.check()
            return httpx.get(f"{self.sim_url}/_sim/stats", timeout=2).status_code == 200

        wait_for(up, timeout_s, "casavi simulator answering")

    def _all(self) -> list[Service]:
        return [self.sim, self.worker, self.sink, *([self.hooks] if self.hooks is not None else [])]

    def check(self) -> None:
        for s in self._all():
            s.check()

    def stop(self) -> None:
        if self.ui is not None:
            self.ui.stop()
        for s in reversed(self._all()):
            s.stop()

    def __enter__(self) -> BridgeServices:
        self.start()
        return self

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
