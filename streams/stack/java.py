"""The Java runtime the JVM services run on (Java 17 or newer)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from streams.stack.errors import StackError

MIN_JAVA = 17


def find_java() -> Path:
    """``$JAVA_HOME/bin/java`` or ``java`` on PATH, checked to be Java 17+."""
    java_home = os.environ.get("JAVA_HOME")
    candidates = [Path(java_home) / "bin" / "java"] if java_home else []
    on_path = shutil.which("java")
    if on_path:
        candidates.append(Path(on_path))
    for java in candidates:
        if java.exists() and os.access(java, os.X_OK):
            major = java_major(java)
            if major >= MIN_JAVA:
                return java
            raise StackError(f"{java} is Java {major}; the stack needs Java {MIN_JAVA} or newer (Debezium 3.x).")
    raise StackError(
        f"Java not found: install a Java {MIN_JAVA}+ runtime (Debian: apt-get install -y openjdk-17-jre-headless) "
        "or set JAVA_HOME."
    )


def java_version(java: Path) -> str:
    out = subprocess.run([str(java), "-version"], capture_output=True, text=True, timeout=30).stderr
    match = re.search(r'version "([^"]+)"', out)
    return match.group(1) if match else "unknown"


def java_major(java: Path) -> int:
    version = java_version(java)
    head = version.split(".")[0] if not version.startswith("1.") else version.split(".")[1]
    return int(head) if head.isdigit() else 0
