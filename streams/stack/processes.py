"""Supervision of the stack's processes through PID files.

Every service runs in its own session (process group), detached from the terminal, with
stdout and stderr appended to its log file. The PID file records the PID together with the
process start time from /proc, so a recycled PID is never mistaken for ours and ``down``
only ever signals processes that ``up`` started.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from streams.stack.errors import StackError

# Popen objects of services started by this process; kept so they are not reaped noisily.
_CHILDREN: list[subprocess.Popen[bytes]] = []

LOG_ROTATE_BYTES = 50 * 1024 * 1024


@dataclass(frozen=True)
class PidRecord:
    service: str
    pid: int
    start_ticks: int
    argv: tuple[str, ...]


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """(state letter, start time in clock ticks) of a process, or None if there is none."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # the command name (field 2) may contain spaces and parentheses: split after the last ')'
    fields = raw[raw.rfind(")") + 2 :].split()
    return fields[0], int(fields[19])


def _reap(pid: int) -> None:
    """Collect the exit status if the process is our own child (no zombie left behind)."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def is_alive(record: PidRecord) -> bool:
    _reap(record.pid)
    stat = _proc_stat(record.pid)
    return stat is not None and stat[0] not in ("Z", "X") and stat[1] == record.start_ticks


def read_pid_file(path: Path) -> PidRecord | None:
    try:
        data = json.loads(path.read_text())
        return PidRecord(
            service=str(data["service"]), pid=int(data["pid"]), start_ticks=int(data["start_ticks"]),
            argv=tuple(str(a) for a in data["argv"]),
        )
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        return None


def running(path: Path) -> PidRecord | None:
    """The record of a PID file if that process is still alive; a stale file is removed."""
    record = read_pid_file(path)
    if record is None:
        return None
    if is_alive(record):
        return record
    path.unlink(missing_ok=True)
    return None


def rotate_log(log: Path) -> None:
    if log.exists() and log.stat().st_size > LOG_ROTATE_BYTES:
        log.replace(log.with_name(log.name + ".1"))


def start(
    service: str,
    argv: Sequence[str],
    *,
    pid_file: Path,
    log_file: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    user: str | None = None,
) -> PidRecord:
    """Start ``argv`` detached in a new session, output appended to ``log_file``, and record it."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    rotate_log(log_file)
    with log_file.open("ab") as log:
        log.write(f"\n==== {time.strftime('%Y-%m-%d %H:%M:%S')} starting {service}\n".encode())
        log.flush()
        try:
            proc = subprocess.Popen(
                list(argv), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                cwd=cwd, env=dict(env) if env is not None else None, start_new_session=True,
                close_fds=True, user=user,
            )
        except OSError as exc:
            raise StackError(f"{service}: cannot start {argv[0]}: {exc}") from exc
    _CHILDREN.append(proc)
    stat = _proc_stat(proc.pid)
    record = PidRecord(service=service, pid=proc.pid, start_ticks=stat[1] if stat else 0, argv=tuple(argv))
    tmp = pid_file.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(record)))
    tmp.replace(pid_file)
    return record


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def stop(pid_file: Path, *, sig: signal.Signals = signal.SIGTERM, timeout_s: float = 30.0) -> PidRecord | None:
    """Stop the process group of the service in ``pid_file``: ``sig``, then SIGKILL after ``timeout_s``.

    Returns the record of what was stopped, or None if nothing of ours was running.
    """
    record = running(pid_file)
    if record is None:
        return None
    try:
        own_group = os.getpgid(record.pid) == record.pid
    except ProcessLookupError:
        own_group = False
    if own_group:
        _signal_group(record.pid, sig)
    else:
        with contextlib.suppress(ProcessLookupError):
            os.kill(record.pid, sig)
    deadline = time.monotonic() + timeout_s
    while is_alive(record) and time.monotonic() < deadline:
        time.sleep(0.1)
    if is_alive(record):
        with contextlib.suppress(ProcessLookupError):
            os.kill(record.pid, signal.SIGKILL)
    if own_group:
        # anything left in the group (children of the service) goes with it
        _signal_group(record.pid, signal.SIGKILL)
    kill_deadline = time.monotonic() + 10.0
    while is_alive(record) and time.monotonic() < kill_deadline:
        time.sleep(0.05)
    pid_file.unlink(missing_ok=True)
    return record


def tail(path: Path, lines: int) -> str:
    """The last ``lines`` lines of a text file (empty if there is none)."""
    if lines <= 0 or not path.exists():
        return ""
    with path.open("rb") as f:
        f.seek(0, os.SEEK_END)
        size = f.tell()
        block = 8192
        data = b""
        while size > 0 and data.count(b"\n") <= lines:
            step = min(block, size)
            size -= step
            f.seek(size)
            data = f.read(step) + data
    return b"\n".join(data.splitlines()[-lines:]).decode("utf-8", errors="replace")


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive advisory lock (two ``up`` at once wait for each other)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
