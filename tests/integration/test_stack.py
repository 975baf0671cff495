"""The local stack end to end: aiokafka against Kafka 4.3, Debezium CDC from PostgreSQL, status, idempotent up."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import psycopg
import pytest

from streams.erp.schema import TABLES


pytestmark = pytest.mark.integration

EVENT_TIMEOUT_S = 10.0


async def test_aiokafka_produces_and_consumes(stack: dict[str, Any]) -> None:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

    bootstrap = stack["kafka_bootstrap_servers"]
    topic = f"stack-test-{uuid.uuid4().hex[:12]}"
    payload = uuid.uuid4().bytes
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        meta = await producer.send_and_wait(topic, payload, key=b"k1")
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=f"g-{topic}", auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        record = await consumer.getone()
        await consumer.commit()
        committed = await consumer.committed(TopicPartition(record.topic, record.partition))
    finally:
        await consumer.stop()
    assert record.value == payload and record.key == b"k1"
    assert record.offset == meta.offset
    assert committed == record.offset + 1


def _key_id(record: Any) -> int | None:
    """The person id of a Debezium key; None for any other record on the topic."""
    try:
        return int(json.loads(record.key)["payload"]["person_id"])
    except (TypeError, ValueError, KeyError):
        return None


def _event(record: Any) -> dict[str, Any] | None:
    if record.value is None:
        return None
    value: dict[str, Any] = json.loads(record.value)
    assert set(value) == {"schema", "payload"}, "JSON converter with schemas enabled"
    payload: dict[str, Any] = value["payload"]
    return payload


async def test_person_changes_arrive_as_debezium_events(
    stack: dict[str, Any], pg_conn: psycopg.Connection[Any], topic_reader: Any
) -> None:
    topic = stack["cdc_topics"]["person"]
    person_id = 1_000_000_000 + time.time_ns() % 1_000_000_000

    def is_op(op: str) -> Any:
        def match(record: Any) -> bool:
            if _key_id(record) != person_id:
                return False
            event = _event(record)
            return event is not None and event["op"] == op

        return match

    pg_conn.execute(
        "INSERT INTO erp.person (person_id, person_no, last_name, email) VALUES (%s, %s, %s, %s)",
        (person_id, "P-TEST", "Muster", "a@example.org"),
    )
    async with topic_reader(topic) as reader:
        created = _event(await reader.wait_for(is_op("c"), EVENT_TIMEOUT_S, f"insert of person {person_id}"))
        assert created is not None and created["before"] is None
        assert created["after"]["last_name"] == "Muster" and created["source"]["table"] == "person"

        pg_conn.execute("UPDATE erp.person SET last_name = %s WHERE person_id = %s", ("Beispiel", person_id))
        updated = _event(await reader.wait_for(is_op("u"), EVENT_TIMEOUT_S, f"update of person {person_id}"))
        assert updated is not None
        assert updated["before"]["last_name"] == "Muster", "REPLICA IDENTITY FULL: full before row"
        assert updated["after"]["last_name"] == "Beispiel"

        pg_conn.execute("DELETE FROM erp.person WHERE person_id = %s", (person_id,))
        deleted_record = await reader.wait_for(is_op("d"), EVENT_TIMEOUT_S, f"delete of person {person_id}")
        deleted = _event(deleted_record)
        assert deleted is not None and deleted["after"] is None
        assert deleted["before"]["email"] == "a@example.org"
        tombstone = await reader.wait_for(
            lambda r: _key_id(r) == person_id and r.value is None and r.offset > deleted_record.offset,
            EVENT_TIMEOUT_S, f"tombstone of person {person_id}",
        )
        assert tombstone.offset == deleted_record.offset + 1


def test_status_lists_topics_and_endpoints(stack: dict[str, Any], settings: Any, bridge_cli: Any) -> None:
    proc = bridge_cli("stack", "status", "--json")
    assert proc.returncode == 0
    report = json.loads(proc.stdout)
    assert report["state"] == "up"
    prefix = settings.kafka.cdc_topic_prefix
    assert report["cdc_topics"] == {t: f"{prefix}.erp.{t}" for t in TABLES}
    assert len(report["cdc_topics"]) == 22
    s = settings.stack
    assert report["kafka_bootstrap_servers"] == f"{s.host}:{s.kafka_port}"
    assert report["connect_url"] == f"http://{s.host}:{s.connect_port}"
    assert report["postgres_dsn"] == f"postgresql://{s.postgres_user}@{s.host}:{s.postgres_port}/{s.postgres_db}"
    assert report["postgres_password_env"] == "BRIDGE_STACK__POSTGRES_PASSWORD"
    for name in ("kafka", "connect", "postgres"):
        assert report["services"][name]["state"] == "running"
        assert isinstance(report["services"][name]["pid"], int)
    assert report["services"]["connect"]["connectors"]["erp-postgres"] == {"state": "RUNNING", "tasks": ["RUNNING"]}
    assert report["versions"]["kafka"] == "4.3.1"
    secret = s.postgres_password.get_secret_value()
    human = bridge_cli("stack", "status")
    assert secret not in proc.stdout + proc.stderr + human.stdout + human.stderr


def test_second_up_is_a_fast_no_op(stack: dict[str, Any], bridge_cli: Any) -> None:
    def stack_status() -> dict[str, Any]:
        result: dict[str, Any] = json.loads(bridge_cli("stack", "status", "--json").stdout)
        return result

    pids = {name: info["pid"] for name, info in stack_status()["services"].items()}
    began = time.monotonic()
    proc = bridge_cli("stack", "up")
    elapsed = time.monotonic() - began
    assert proc.returncode == 0, proc.stderr
    assert "started: nothing (already running)" in proc.stderr
    assert "resolving" not in proc.stderr, "no Maven run on a warm cache"
    assert {name: info["pid"] for name, info in stack_status()["services"].items()} == pids
    assert elapsed < 10.0, f"second up took {elapsed:.1f} s"
