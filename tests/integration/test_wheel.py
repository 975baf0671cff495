"""The bridge installed from its wheel, outside the checkout, finds everything it reads at run
time: connector configs, DDL, mappings and the Avro schema travel with the package.

The wheel is built from this checkout and installed without dependencies into a fresh venv in a
temporary directory; the dependencies come from this test run's environment through
PYTHONPATH (which, unlike a site directory, does not load the checkout's editable install), so
``import streams`` can only find the installed wheel.
"""

from __future__ import annotations

import json
import os
import site
import subprocess
import sys
import venv
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]

LOOKUP = """
import json, streams.resources as r
from streams.stack.paths import CONNECT_DIR
from streams.commands.model import SCHEMA_PATH, _schema
from streams.mapping import load_mapping
files = {
    "pom": CONNECT_DIR / "pom.xml",
    "postgres_connector": CONNECT_DIR / "postgres-connector.json",
    "sqlserver_connector": CONNECT_DIR / "sqlserver-connector.json",
    "postgres_ddl": CONNECT_DIR / "postgres" / "erp_schema.sql",
    "sqlserver_ddl": CONNECT_DIR / "sqlserver" / "erp_schema.sql",
    "sqlserver_cdc": CONNECT_DIR / "sqlserver" / "enable_cdc.sql",
    "example_mapping": CONNECT_DIR / "mappings" / "example-immo.yaml",
    "avro_schema": SCHEMA_PATH,
}
_schema()
load_mapping(files["example_mapping"])
print(json.dumps({"package": r.__file__, **{k: [str(p), p.is_file() and p.stat().st_size > 0]
                                             for k, p in files.items()}}))
"""


def test_the_wheel_works_outside_the_checkout(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(REPO)],
                   check=True, cwd=tmp_path, timeout=300)
    (wheel,) = wheels.glob("casavi_bridge-*.whl")
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "--no-deps", "-q", str(wheel)], check=True, timeout=300)
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRIDGE_")}
    env.update({"PYTHONPATH": os.pathsep.join(site.getsitepackages()), "BRIDGE_STACK__HOME": str(tmp_path / "home"),
                "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
    outside = tmp_path / "elsewhere"
    outside.mkdir()

    found = json.loads(subprocess.run([str(python), "-c", LOOKUP], capture_output=True, text=True, check=True,
                                      cwd=outside, env=env, timeout=120).stdout)
    installed = str(env_dir)
    assert found.pop("package").startswith(installed)
    for name, (path, present) in found.items():
        assert path.startswith(installed) and not path.startswith(str(REPO)), name
        assert present, f"{name} missing from the wheel"

    status = subprocess.run([str(env_dir / "bin" / "bridge"), "stack", "status", "--json"], capture_output=True,
                            text=True, cwd=outside, env=env, timeout=120)
    assert status.returncode == 3, status.stderr[-2000:]  # 3: the stack is not up (README)
    report = json.loads(status.stdout)
    assert report["state"] == "down"
    assert {"state", "services", "kafka_bootstrap_servers", "connect_url", "postgres_dsn", "cdc_topics",
            "versions", "state_dir"} <= set(report)
    assert len(report["cdc_topics"]) == 22
