"""Is a TCP port free, and if not, who listens on it (from /proc)."""

from __future__ import annotations

import contextlib
import os
import socket
from pathlib import Path


def port_open(host: str, port: int, timeout_s: float = 0.5) -> bool:
    """True if something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def _listening_inodes(port: int) -> set[str]:
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                parts = line.split()
                if len(parts) > 9 and parts[3] == "0A" and int(parts[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(parts[9])
    return inodes


def listener_of(port: int) -> str:
    """A short description of the process listening on ``port`` ('pid 123: java ...'), as far as visible."""
    inodes = _listening_inodes(port)
    if not inodes:
        return "an unknown process"
    targets = {f"socket:[{i}]" for i in inodes}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            for fd in os.scandir(f"/proc/{entry.name}/fd"):
                with contextlib.suppress(OSError):
                    if os.readlink(fd.path) in targets:
                        cmd = Path(f"/proc/{entry.name}/cmdline").read_bytes().replace(b"\0", b" ").decode(
                            errors="replace"
                        )
                        return f"pid {entry.name}: {' '.join(cmd.split())[:160]}"
    return "a process not visible to this user"


def ensure_free(service: str, host: str, port: int) -> None:
    from streams.stack.errors import StackError

    if port_open(host, port):
        raise StackError(
            f"{service}: port {host}:{port} is already taken by {listener_of(port)}, which this stack did not "
            f"start. Stop it or choose another port (BRIDGE_STACK__…_PORT)."
        )
