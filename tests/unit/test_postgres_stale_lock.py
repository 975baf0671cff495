"""A ``postmaster.pid`` left by a killed server is removed unless it names a running server."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

from streams.stack.postgres import _clear_stale_lock


def lock_naming(data: Path, pid: int) -> Path:
    lock = data / "postmaster.pid"
    lock.write_text(f"{pid}\n{data}\n1790000000\n35432\n")
    return lock


def test_a_lock_naming_a_reused_pid_is_removed(tmp_path: Path) -> None:
    lock = lock_naming(tmp_path, os.getpid())  # alive, but not PostgreSQL
    _clear_stale_lock(tmp_path)
    assert not lock.exists()


def test_a_lock_naming_a_gone_process_is_removed(tmp_path: Path) -> None:
    lock = lock_naming(tmp_path, 4_194_303)  # above any pid_max in use
    _clear_stale_lock(tmp_path)
    assert not lock.exists()


def test_a_lock_of_a_running_server_stays(tmp_path: Path) -> None:
    server = tmp_path / "bin" / "postgres"
    server.parent.mkdir()
    shutil.copy("/bin/sleep", server)
    proc = subprocess.Popen([str(server), "30"])
    try:
        deadline = time.monotonic() + 10  # until the child has exec'd the server binary
        cmdline = Path(f"/proc/{proc.pid}/cmdline")
        while not cmdline.read_bytes().startswith(str(server).encode()) and time.monotonic() < deadline:
            time.sleep(0.01)
        lock = lock_naming(tmp_path, proc.pid)
        _clear_stale_lock(tmp_path)
        assert lock.exists()
    finally:
        proc.kill()
        proc.wait()


def test_an_unreadable_lock_is_left_to_postgresql(tmp_path: Path) -> None:
    lock = tmp_path / "postmaster.pid"
    lock.write_text("garbage\n")
    _clear_stale_lock(tmp_path)
    assert lock.exists()
