"""PostgreSQL, the local stand-in for the ERP's SQL Server: logical replication on, schema ``erp``.

initdb and the server refuse to run as root; when the stack runs as root they run as the
system user ``postgres`` (created if missing), which owns the data directory.
"""

from __future__ import annotations

import glob
import hashlib
import logging
import os
import pwd
import re
import secrets
import shutil
import signal
import stat
import subprocess
from pathlib import Path

import psycopg
from psycopg import sql

from streams.settings import StackSettings
from streams.stack import processes
from streams.stack.errors import StackError
from streams.stack.paths import CONNECT_DIR, StackPaths

log = logging.getLogger(__name__)

SERVICE = "postgres"
SUPERUSER = "postgres"
OS_USER = "postgres"
SCHEMA_FILE = CONNECT_DIR / "postgres" / "erp_schema.sql"
STOP_SIGNAL = signal.SIGINT  # "fast shutdown": ends sessions, checkpoints, exits
# Where the data directory goes when the state directory is unreachable for the postgres
# system user (e.g. a home under /root, mode 0700); the state directory then holds a symlink.
SYSTEM_DATA_ROOT = Path("/var/lib/casavi-bridge")


def find_bin_dir() -> Path | None:
    """The directory holding initdb, pg_ctl and postgres (newest major version first)."""
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(re.sub(r"\D", "", p.split("/")[4]) or 0),
        reverse=True,
    )
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(str(Path(on_path).resolve().parent))
    for c in candidates:
        d = Path(c)
        if all((d / b).exists() for b in ("initdb", "pg_ctl", "postgres")):
            return d
    return None


def ensure_installed() -> Path:
    """The PostgreSQL bin directory; installs Debian's ``postgresql`` package when none is found."""
    found = find_bin_dir()
    if found is not None:
        return found
    if os.geteuid() != 0:
        raise StackError(
            "PostgreSQL not found (no initdb/pg_ctl under /usr/lib/postgresql/*/bin). Install it: "
            "sudo apt-get install -y postgresql"
        )
    log.info("installing PostgreSQL (apt-get install -y postgresql)")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (["apt-get", "update"], ["apt-get", "install", "-y", "--no-install-recommends", "postgresql"]):
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if proc.returncode != 0:
            raise StackError(f"installing PostgreSQL failed ({' '.join(cmd)}):\n{(proc.stdout + proc.stderr)[-3000:]}")
    found = find_bin_dir()
    if found is None:
        raise StackError("apt-get installed postgresql, but no initdb/pg_ctl was found under /usr/lib/postgresql")
    return found


def version(bin_dir: Path) -> str:
    out = subprocess.run([str(bin_dir / "postgres"), "--version"], capture_output=True, text=True).stdout
    match = re.search(r"(\d+(\.\d+)?)", out)
    return match.group(1) if match else "unknown"


def _run_as() -> str | None:
    """The OS user to run PostgreSQL as: ourselves, or ``postgres`` when we are root."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(OS_USER)
    except KeyError:
        proc = subprocess.run(
            ["useradd", "--system", "--user-group", "--home-dir", "/var/lib/postgresql", "--shell", "/bin/bash",
             OS_USER], capture_output=True, text=True,
        )
        if proc.returncode != 0:
            raise StackError(f"cannot create the system user {OS_USER}: {proc.stderr.strip()}")
    return OS_USER


def _reachable_by(path: Path, user: str) -> bool:
    """Can ``user`` traverse every directory above ``path``?"""
    pw = pwd.getpwnam(user)
    groups = set(os.getgrouplist(user, pw.pw_gid))
    for parent in path.resolve().parents:
        st = parent.stat()
        if st.st_uid == pw.pw_uid:
            ok = bool(st.st_mode & stat.S_IXUSR)
        elif st.st_gid in groups:
            ok = bool(st.st_mode & stat.S_IXGRP)
        else:
            ok = bool(st.st_mode & stat.S_IXOTH)
        if not ok:
            return False
    return True


def _data_dir(paths: StackPaths, user: str | None) -> Path:
    """The data directory, created and owned by ``user``."""
    link = paths.postgres_data
    paths.postgres_root.mkdir(parents=True, exist_ok=True)
    if link.is_symlink() or (user is not None and not link.exists() and not _reachable_by(paths.postgres_root, user)):
        if not link.is_symlink():
            digest = hashlib.sha256(str(paths.state_dir).encode()).hexdigest()[:12]
            target = SYSTEM_DATA_ROOT / f"pgdata-{digest}"
            target.mkdir(parents=True, exist_ok=True)
            link.symlink_to(target)
            log.info("postgres data directory %s -> %s (state directory not reachable for %s)", link, target, user)
        data = link.resolve()
    else:
        data = link
    data.mkdir(parents=True, exist_ok=True)
    if user is not None:
        pw = pwd.getpwnam(user)
        os.chown(data, pw.pw_uid, pw.pw_gid)
    os.chmod(data, 0o700)
    return data


def _superuser_password(paths: StackPaths) -> str:
    path = paths.postgres_root / ".superuser-password"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(24))
    return path.read_text().strip()


def _initdb(bin_dir: Path, paths: StackPaths, data: Path, user: str | None) -> None:
    if (data / "PG_VERSION").exists():
        return
    pwfile = data.parent / ".initdb-pw" if user is None else Path("/tmp") / f".bridge-initdb-{os.getpid()}"
    fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(_superuser_password(paths) + "\n")
    if user is not None:
        pw = pwd.getpwnam(user)
        os.chown(pwfile, pw.pw_uid, pw.pw_gid)
    try:
        proc = subprocess.run(
            [str(bin_dir / "initdb"), "-D", str(data), "-U", SUPERUSER, f"--pwfile={pwfile}", "-E", "UTF8",
             "--locale=C", "--auth-host=scram-sha-256", "--auth-local=scram-sha-256"],
            capture_output=True, text=True, user=user, cwd="/",
        )
    finally:
        pwfile.unlink(missing_ok=True)
    with paths.log_file(SERVICE).open("a") as f:
        f.write(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        raise StackError(f"postgres: initdb failed:\n{(proc.stdout + proc.stderr)[-3000:]}")


def _write_config(stack: StackSettings, data: Path, user: str | None) -> None:
    conf = data / "postgresql.conf"
    include = "include_if_exists = 'bridge.conf'"
    text = conf.read_text()
    if include not in text:
        conf.write_text(text + f"\n{include}\n")
    bridge_conf = data / "bridge.conf"
    bridge_conf.write_text(
        "# generated by `bridge stack up` on every start\n"
        f"listen_addresses = '{stack.host}'\n"
        f"port = {stack.postgres_port}\n"
        "unix_socket_directories = ''\n"
        "wal_level = logical\n"
        "max_replication_slots = 10\n"
        "max_wal_senders = 10\n"
        "max_connections = 100\n"
        "shared_buffers = 128MB\n"
        "logging_collector = off\n"
        "log_min_messages = warning\n"
        "log_line_prefix = '%m [%p] '\n"
    )
    if user is not None:
        pw = pwd.getpwnam(user)
        os.chown(bridge_conf, pw.pw_uid, pw.pw_gid)


def start(stack: StackSettings, paths: StackPaths) -> processes.PidRecord:
    bin_dir = ensure_installed()
    user = _run_as()
    paths.log_dir.mkdir(parents=True, exist_ok=True)
    data = _data_dir(paths, user)
    _initdb(bin_dir, paths, data, user)
    _write_config(stack, data, user)
    _clear_stale_lock(data)
    return processes.start(
        SERVICE, [str(bin_dir / "postgres"), "-D", str(data)], pid_file=paths.pid_file(SERVICE),
        log_file=paths.log_file(SERVICE), user=user, cwd=Path("/"),
    )


def _clear_stale_lock(data: Path) -> None:
    """Remove ``postmaster.pid`` left by a server that was killed (SIGKILL, power loss) when
    the process it names is gone or is no PostgreSQL server: after a crash that PID is often
    reused by another process, and PostgreSQL then refuses to start."""
    lock = data / "postmaster.pid"
    try:
        pid = int(lock.read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]
    except OSError:
        cmdline = b""
    if not cmdline.endswith((b"postgres", b"postmaster")):
        lock.unlink(missing_ok=True)


def _superuser_conninfo(stack: StackSettings, paths: StackPaths, dbname: str = "postgres") -> str:
    return psycopg.conninfo.make_conninfo(
        host=stack.host, port=stack.postgres_port, user=SUPERUSER, password=_superuser_password(paths),
        dbname=dbname, connect_timeout=3,
    )


def conninfo(stack: StackSettings) -> str:
    """Connection string of the ERP database for the bridge's login role (contains the password)."""
    return psycopg.conninfo.make_conninfo(
        host=stack.host, port=stack.postgres_port, user=stack.postgres_user,
        password=stack.postgres_password.get_secret_value(), dbname=stack.postgres_db, connect_timeout=3,
    )


def dsn_without_password(stack: StackSettings) -> str:
    return f"postgresql://{stack.postgres_user}@{stack.host}:{stack.postgres_port}/{stack.postgres_db}"


def probe(stack: StackSettings, paths: StackPaths | None = None) -> bool:
    """The server accepts an authenticated connection and answers a query."""
    info = _superuser_conninfo(stack, paths) if paths is not None else conninfo(stack)
    try:
        with psycopg.connect(info, autocommit=True) as conn:
            conn.execute("SELECT 1")
        return True
    except (psycopg.Error, OSError):
        return False


def bootstrap(stack: StackSettings, paths: StackPaths) -> None:
    """Login role with REPLICATION, database owned by it, and the ``erp`` schema (idempotent)."""
    role, db = stack.postgres_user, stack.postgres_db
    password = stack.postgres_password.get_secret_value()
    with psycopg.connect(_superuser_conninfo(stack, paths), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
        verb = "ALTER" if exists else "CREATE"
        conn.execute(
            sql.SQL("{} ROLE {} WITH LOGIN REPLICATION PASSWORD {}").format(
                sql.SQL(verb), sql.Identifier(role), sql.Literal(password)
            )
        )
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (db,)).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(db), sql.Identifier(role)))
    schema_sql = SCHEMA_FILE.read_text()
    marker = paths.postgres_root / "schema.sha256"
    digest = hashlib.sha256((schema_sql + role + db).encode()).hexdigest()
    if marker.exists() and marker.read_text().strip() == digest:
        return
    with psycopg.connect(conninfo(stack), autocommit=True) as conn:
        conn.execute(schema_sql.encode())
    marker.write_text(digest + "\n")
