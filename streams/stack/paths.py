"""Where the stack keeps things: the shared download cache and the per-home state directory."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from streams import resources
from streams.settings import StackSettings
from streams.stack.versions import KAFKA_VERSION

SERVICES: tuple[str, ...] = ("kafka", "connect", "postgres")

# connect/: pom.xml, connector configs, DDL, mappings (packaged or of the checkout)
CONNECT_DIR = resources.CONNECT_DIR


@dataclass(frozen=True)
class StackPaths:
    cache_dir: Path
    state_dir: Path

    @classmethod
    def of(cls, stack: StackSettings) -> StackPaths:
        return cls(cache_dir=stack.cache_dir.expanduser().resolve(), state_dir=stack.state_dir.expanduser().resolve())

    # download cache (shared by every stack home)
    @property
    def kafka_home(self) -> Path:
        return self.cache_dir / f"kafka-{KAFKA_VERSION}"

    @property
    def kafka_libs(self) -> Path:
        return self.kafka_home / "libs"

    @property
    def plugin_path(self) -> Path:
        return self.cache_dir / "plugins"

    @property
    def artifacts_marker(self) -> Path:
        return self.cache_dir / "artifacts.json"

    @property
    def cache_lock(self) -> Path:
        return self.cache_dir / ".lock"

    # state (data, logs, PID files, generated configuration)
    @property
    def log_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def run_dir(self) -> Path:
        return self.state_dir / "run"

    @property
    def config_dir(self) -> Path:
        return self.state_dir / "config"

    @property
    def worker_dir(self) -> Path:
        """The worker's local table stores (RocksDB), one directory per application id."""
        return self.state_dir / "worker"

    @property
    def state_lock(self) -> Path:
        return self.state_dir / ".lock"

    def log_file(self, service: str) -> Path:
        return self.log_dir / f"{service}.log"

    def pid_file(self, service: str) -> Path:
        return self.run_dir / f"{service}.pid"

    @property
    def kafka_data(self) -> Path:
        return self.state_dir / "kafka" / "data"

    @property
    def postgres_root(self) -> Path:
        return self.state_dir / "postgres"

    @property
    def postgres_data(self) -> Path:
        return self.postgres_root / "data"
