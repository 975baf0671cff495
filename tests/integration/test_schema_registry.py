"""Commands in the schema registry's wire format on the real stack: the worker registers the
command schema and writes framed commands, the sink applies them — and a plain Avro command on
the same topic — to the casavi simulator. The registry is an in-process stand-in of its REST API
served over HTTP (no schema registry is published to the package registries the project uses)."""

from __future__ import annotations

import io
import os
import socket
import threading
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import fastavro
import httpx
import psycopg
import pytest
import uvicorn
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from streams.commands.model import encode
from streams.commands.registry import unframe
from streams.demo.generate import generate, load
from streams.demo.services import BridgeServices, wait_for
from streams.demo.verify import compare, expected_from_db
from streams.settings import BridgeSettings
from streams.stack import postgres
from tests.unit.casavi_commands import contact
from tests.unit.registry_fake import FakeRegistry

pytestmark = pytest.mark.integration

TODAY = date.today()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def registry() -> Iterator[tuple[FakeRegistry, str]]:
    fake = FakeRegistry()
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(fake.app(), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    wait_for(lambda: httpx.get(f"{url}/subjects", timeout=2).status_code == 200, 30, "the registry stand-in")
    try:
        yield fake, url
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def _records(bootstrap: str, topic: str) -> list[Any]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        end = consumer.end_offsets(tps)
        records: list[Any] = []
        while any(consumer.position(tp) < end[tp] for tp in tps):
            for batch in consumer.poll(timeout_ms=500).values():
                records.extend(batch)
        return records
    finally:
        consumer.close()


def test_commands_in_the_registry_format_reach_casavi_and_plain_ones_still_do(
        stack: dict[str, Any], registry: tuple[FakeRegistry, str], tmp_path: Path) -> None:
    fake, url = registry
    tag = uuid.uuid4().hex[:8]
    commands_topic = f"casavi.commands.sr-{tag}"
    env = dict(os.environ)
    env.update({
        "BRIDGE_KAFKA__BOOTSTRAP_SERVERS": stack["kafka_bootstrap_servers"],
        "BRIDGE_KAFKA__SCHEMA_REGISTRY_URL": url,
        "BRIDGE_KAFKA__WORKER_APP_ID": f"sr-{tag}",
        "BRIDGE_KAFKA__SINK_GROUP_ID": f"sr-sink-{tag}",
        "BRIDGE_KAFKA__COMMANDS_TOPIC": commands_topic,
        "BRIDGE_KAFKA__RECEIPTS_TOPIC": f"casavi.receipts.sr-{tag}",
        "BRIDGE_KAFKA__DLQ_TOPIC": f"casavi.dlq.sr-{tag}",
        "BRIDGE_KAFKA__TICKS_TOPIC": f"bridge.ticks.sr-{tag}",
        "BRIDGE_CASAVI__REQUESTS_PER_MINUTE": "6000",
        "BRIDGE_CASAVI__BATCH_WAIT_S": "0.2",
        "BRIDGE_CASAVI__JOB_POLL_INTERVAL_S": "0.05",
        "BRIDGE_RECONCILE__INTERVAL_H": "0",
    })
    settings = BridgeSettings()
    services = BridgeServices(env, tmp_path, sim_port=_free_port(), sim_db=tmp_path / "casavi.sqlite")
    with psycopg.connect(postgres.conninfo(settings.stack), autocommit=True) as conn, services:
        load(conn, generate(seed=23, scale=0.01, today=TODAY), replace=True)
        expected = expected_from_db(conn, settings.sync, TODAY)

        def converged() -> dict[str, Any] | None:
            services.check()
            state: dict[str, Any] = httpx.get(f"{services.sim_url}/_sim/state", timeout=10).json()
            return state if compare(expected, state).equal else None

        wait_for(converged, 300, "casavi equal to the projection")

        schema_id, schema = fake.schema_of(f"{commands_topic}-value")
        assert schema["name"] == "CasaviCommand"
        records = _records(stack["kafka_bootstrap_servers"], commands_topic)
        assert records
        parsed = fastavro.parse_schema(schema)
        for record in records:  # what any registry-aware reader (Kafka UI) does with a record
            framed = unframe(record.value)
            assert framed is not None and framed[0] == schema_id
            body = io.BytesIO(framed[1])
            decoded = fastavro.schemaless_reader(body, parsed, parsed)
            assert body.tell() == len(framed[1])
            assert f"{decoded['entity']}:{decoded['reference_id']}" == record.key.decode()

        # a command written without the registry (plain Avro) on the same topic is applied too
        plain = contact("SR-PLAIN")
        producer = KafkaProducer(bootstrap_servers=stack["kafka_bootstrap_servers"])
        producer.send(commands_topic, key=plain.slot.encode(), value=encode(plain)).get(30)
        producer.close()
        wait_for(lambda: "SR-PLAIN" in httpx.get(f"{services.sim_url}/_sim/state", timeout=10).json()["contacts"],
                 120, "the plain command applied")
