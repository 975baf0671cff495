"""The jars: Kafka + Kafka Connect on one class path, and one Connect plugin directory per Debezium connector.

They are resolved from Maven Central with connect/pom.xml into the download cache. A marker
file records what was resolved (versions and the pom's hash); while it matches, ``up`` runs
no Maven and downloads nothing.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import subprocess
import time
from pathlib import Path

from streams.stack.errors import StackError
from streams.stack.paths import CONNECT_DIR, StackPaths
from streams.stack.processes import file_lock
from streams.stack.versions import CONNECTOR_PLUGINS, DEBEZIUM_VERSION, KAFKA_VERSION

log = logging.getLogger(__name__)

POM = CONNECT_DIR / "pom.xml"

# Kafka Connect provides these to every plugin from its own class path; a plugin directory keeps
# only the connector, Debezium's own jars, the JDBC driver and the libraries nothing else provides.
PLUGIN_EXCLUDED_GROUPS = (
    "org.apache.kafka",
    "org.slf4j",
    "org.apache.logging.log4j",
    "log4j",
    "com.fasterxml.jackson.core",
    "com.github.luben",
    "org.xerial.snappy",
    "org.lz4",
    "at.yawk.lz4",
    "jakarta.ws.rs",
)


def _pom_hash() -> str:
    return hashlib.sha256(POM.read_bytes()).hexdigest()


def _expected_marker() -> dict[str, object]:
    return {
        "kafka": KAFKA_VERSION,
        "debezium": DEBEZIUM_VERSION,
        "plugins": list(CONNECTOR_PLUGINS),
        "pom_sha256": _pom_hash(),
    }


def _marker_current(paths: StackPaths) -> bool:
    try:
        marker = json.loads(paths.artifacts_marker.read_text())
    except (FileNotFoundError, ValueError):
        return False
    if not isinstance(marker, dict):
        return False
    current = {k: marker.get(k) for k in ("kafka", "debezium", "plugins", "pom_sha256")}
    if current != _expected_marker():
        return False
    dirs = [paths.kafka_libs, *(paths.plugin_path / p for p in CONNECTOR_PLUGINS)]
    return all(d.is_dir() and any(d.glob("*.jar")) for d in dirs)


def artifacts_ready(paths: StackPaths) -> bool:
    return _marker_current(paths)


def _mvn(profile: str, out_dir: Path, *extra: str) -> None:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise StackError("Maven (mvn) not found: it resolves the Kafka and Debezium jars. apt-get install -y maven")
    cmd = [
        mvn, "-q", "-B", "-f", str(POM), "-P", profile, "dependency:copy-dependencies",
        f"-DoutputDirectory={out_dir}", "-DincludeScope=runtime", "-Dmdep.overWriteReleases=true", *extra,
    ]
    log.info("resolving %s jars from Maven Central", profile)
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        output = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-25:])
        raise StackError(
            f"Maven could not resolve the {profile} jars (is Maven Central reachable?):\n{output}"
        )


def ensure_artifacts(paths: StackPaths) -> bool:
    """Make sure all jars are in the cache. Returns True if anything had to be resolved."""
    if _marker_current(paths):
        return False
    paths.cache_dir.mkdir(parents=True, exist_ok=True)
    with file_lock(paths.cache_lock):
        if _marker_current(paths):  # another ``up`` resolved them meanwhile
            return False
        started = time.monotonic()
        staging = paths.cache_dir / f".staging-{int(time.time())}"
        shutil.rmtree(staging, ignore_errors=True)
        try:
            _mvn("kafka", staging / "libs")
            for plugin in CONNECTOR_PLUGINS:
                profile = plugin.replace("-connector", "")  # debezium-postgres, debezium-sqlserver
                _mvn(profile, staging / "plugins" / plugin, f"-DexcludeGroupIds={','.join(PLUGIN_EXCLUDED_GROUPS)}")
            paths.kafka_home.mkdir(parents=True, exist_ok=True)
            shutil.rmtree(paths.kafka_libs, ignore_errors=True)
            (staging / "libs").replace(paths.kafka_libs)
            paths.plugin_path.mkdir(parents=True, exist_ok=True)
            for plugin in CONNECTOR_PLUGINS:
                shutil.rmtree(paths.plugin_path / plugin, ignore_errors=True)
                (staging / "plugins" / plugin).replace(paths.plugin_path / plugin)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        paths.artifacts_marker.write_text(json.dumps(_expected_marker(), indent=2) + "\n")
        log.info("jars resolved in %.1f s into %s", time.monotonic() - started, paths.cache_dir)
        return True


def classpath(paths: StackPaths) -> str:
    return str(paths.kafka_libs / "*")
