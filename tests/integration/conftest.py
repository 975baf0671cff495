"""The real local stack for integration tests: Kafka 4.3 (KRaft), Kafka Connect + Debezium, PostgreSQL.

The session fixture ``stack`` runs ``bridge stack up`` in an isolated home
(``<repo>/.state/test-stack``) on ports apart from the default ones, so a developer's own stack
keeps running. It yields the parsed ``bridge stack status --json`` and stops the stack at the end
only if it started it. The download cache (jars) is the shared default one.

Helpers: ``wait_until`` polls a condition with a deadline (no fixed sleeps), ``TopicReader``
collects the records of one topic with aiokafka.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import psycopg
import pytest

REPO = Path(__file__).resolve().parents[2]
TEST_HOME = REPO / ".state" / "test-stack"

# Settings of the test stack; anything already set in the environment wins.
TEST_ENV: dict[str, str] = {
    "BRIDGE_STACK__HOME": str(TEST_HOME),
    "BRIDGE_STACK__KAFKA_PORT": "39092",
    "BRIDGE_STACK__KAFKA_CONTROLLER_PORT": "39093",
    "BRIDGE_STACK__CONNECT_PORT": "38083",
    "BRIDGE_STACK__POSTGRES_PORT": "35432",
    "BRIDGE_STACK__POSTGRES_PASSWORD": "bridge-integration-secret",
    # the worker writes its state image whenever its state changed (every restart of a test
    # starts from an image and the table writes after it)
    "BRIDGE_WORKER__IMAGE_INTERVAL_S": "1",
}
for _key, _value in TEST_ENV.items():
    os.environ.setdefault(_key, _value)
os.environ.setdefault(
    "BRIDGE_KAFKA__BOOTSTRAP_SERVERS", f"127.0.0.1:{os.environ['BRIDGE_STACK__KAFKA_PORT']}"
)

UP_TIMEOUT_S = 900.0  # a cold cache downloads the jars first

T = TypeVar("T")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.fspath)).is_relative_to(here):
            item.add_marker(pytest.mark.integration)


def bridge(*args: str, timeout_s: float = 120.0) -> subprocess.CompletedProcess[str]:
    """Run the ``bridge`` CLI of this checkout in a subprocess with the test stack's settings."""
    return subprocess.run(
        [sys.executable, "-m", "streams.cli", *args], capture_output=True, text=True, timeout=timeout_s,
        cwd=REPO, env=dict(os.environ),
    )


def stack_status() -> dict[str, Any]:
    proc = bridge("stack", "status", "--json")
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def wait_until(condition: Callable[[], T | None], timeout_s: float, what: str, interval_s: float = 0.1) -> T:
    """Poll ``condition`` until it returns something other than None/False; fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = condition()
        if result is not None and result is not False:
            return result
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(interval_s)


async def async_wait_until(
    condition: Callable[[], Awaitable[T | None]], timeout_s: float, what: str, interval_s: float = 0.1
) -> T:
    """``wait_until`` for coroutines."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = await condition()
        if result is not None and result is not False:
            return result
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out after {timeout_s} s waiting for {what}")
        await asyncio.sleep(interval_s)


class TopicReader:
    """Reads one topic from its beginning with aiokafka and keeps every record seen."""

    def __init__(self, bootstrap_servers: str, topic: str) -> None:
        from aiokafka import AIOKafkaConsumer

        self.topic = topic
        self.records: list[Any] = []
        self._consumer = AIOKafkaConsumer(
            topic, bootstrap_servers=bootstrap_servers, group_id=None, auto_offset_reset="earliest",
            enable_auto_commit=False, metadata_max_age_ms=500,
        )

    async def __aenter__(self) -> TopicReader:
        await self._consumer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._consumer.stop()

    async def wait_for(self, match: Callable[[Any], bool], timeout_s: float, what: str) -> Any:
        """The first record (seen so far or arriving within ``timeout_s``) for which ``match`` is true."""
        deadline = time.monotonic() + timeout_s
        checked = 0
        while True:
            for record in self.records[checked:]:
                checked += 1
                if match(record):
                    return record
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                pytest.fail(f"timed out after {timeout_s} s waiting for {what} on {self.topic}")
            batches = await self._consumer.getmany(timeout_ms=int(min(remaining, 0.5) * 1000))
            for records in batches.values():
                self.records.extend(records)


@pytest.fixture(scope="session")
def stack() -> Iterator[dict[str, Any]]:
    """The running test stack: the parsed ``bridge stack status --json``."""
    before = stack_status()
    started = before["state"] != "up"
    if started:
        proc = bridge("stack", "up", timeout_s=UP_TIMEOUT_S)
        if proc.returncode != 0:
            pytest.fail(f"bridge stack up failed ({proc.returncode}):\n{proc.stderr[-6000:]}\n{proc.stdout[-2000:]}")
    report = stack_status()
    assert report["state"] == "up", report
    try:
        yield report
    finally:
        if started:
            bridge("stack", "down", timeout_s=180.0)


@pytest.fixture(scope="session")
def settings(stack: dict[str, Any]) -> Any:
    """BridgeSettings of the test stack."""
    from streams.settings import load_settings

    return load_settings()


@pytest.fixture
def pg_conn(settings: Any) -> Iterator[psycopg.Connection[Any]]:
    """An autocommit connection to the ERP database of the test stack (as the bridge's login role)."""
    from streams.stack.postgres import conninfo

    with psycopg.connect(conninfo(settings.stack), autocommit=True) as conn:
        yield conn


@pytest.fixture(scope="session")
def bridge_cli() -> Callable[..., subprocess.CompletedProcess[str]]:
    """``bridge_cli("stack", "status", "--json")``: the CLI in a subprocess with the test stack's settings."""
    return bridge


@pytest.fixture(scope="session")
def topic_reader(stack: dict[str, Any]) -> Callable[[str], TopicReader]:
    """``async with topic_reader(topic) as reader: await reader.wait_for(match, timeout_s, what)``."""
    return lambda topic: TopicReader(stack["kafka_bootstrap_servers"], topic)


@pytest.fixture(name="wait_until", scope="session")
def wait_until_fixture() -> Callable[..., Any]:
    """``wait_until(condition, timeout_s, what)``: poll with a deadline, fail the test when it passes."""
    return wait_until


@pytest.fixture(name="async_wait_until", scope="session")
def async_wait_until_fixture() -> Callable[..., Any]:
    return async_wait_until
