"""The whole chain on the real stack: PostgreSQL -> Debezium -> Kafka -> worker -> sink ->
casavi simulator. Every test ends with casavi equal to the projection of the ERP."""

from __future__ import annotations

import json
import os
import socket
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from streams.demo.generate import generate, load
from streams.demo.services import BridgeServices, wait_for
from streams.demo.verify import compare, expected_from_db
from streams.settings import BridgeSettings
from streams.stack import postgres

pytestmark = pytest.mark.integration

TODAY = date.today()
MANDANT = 7001


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Bridge:
    def __init__(self, services: BridgeServices, settings: BridgeSettings, conn: Any, env: dict[str, str]) -> None:
        self.services = services
        self.settings = settings
        self.conn = conn
        self.env = env

    def casavi(self) -> dict[str, Any]:
        state: dict[str, Any] = httpx.get(f"{self.services.sim_url}/_sim/state", timeout=10).json()
        return state

    def stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = httpx.get(f"{self.services.sim_url}/_sim/stats", timeout=10).json()
        return stats

    def sql(self, statement: str, *params: Any) -> None:
        with self.conn.transaction():
            self.conn.execute(statement, params)

    def wait_converged(self, timeout_s: float = 90, today: date = TODAY) -> dict[str, Any]:
        """Until casavi equals the projection of the ERP as it is now; returns casavi's state."""
        expected = expected_from_db(self.conn, self.settings.sync, today)
        last: list[str] = []

        def equal() -> dict[str, Any] | None:
            self.services.check()
            state = self.casavi()
            result = compare(expected, state)
            last[:] = [result.summary()]
            return state if result.equal else None

        try:
            return wait_for(equal, timeout_s, "casavi equal to the projection", interval_s=0.3)
        except TimeoutError as exc:
            raise AssertionError(f"{exc}: {last[0] if last else ''}\nworker log:\n{self.services.worker.tail()}"
                                 f"\nsink log:\n{self.services.sink.tail()}") from None


@pytest.fixture(scope="module")
def chain(stack: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bridge]:
    settings = BridgeSettings()
    run = uuid.uuid4().hex[:8]
    env = dict(os.environ)
    env.update({
        "BRIDGE_KAFKA__BOOTSTRAP_SERVERS": stack["kafka_bootstrap_servers"],
        "BRIDGE_KAFKA__WORKER_APP_ID": f"e2e-{run}",
        "BRIDGE_KAFKA__SINK_GROUP_ID": f"e2e-sink-{run}",
        "BRIDGE_KAFKA__COMMANDS_TOPIC": f"casavi.commands.e2e-{run}",
        "BRIDGE_KAFKA__DLQ_TOPIC": f"casavi.dlq.e2e-{run}",
        "BRIDGE_KAFKA__TICKS_TOPIC": f"bridge.ticks.e2e-{run}",
        "BRIDGE_CASAVI__REQUESTS_PER_MINUTE": "6000",
        "BRIDGE_CASAVI__BATCH_WAIT_S": "0.2",
        "BRIDGE_CASAVI__JOB_POLL_INTERVAL_S": "0.05",
    })
    tmp = tmp_path_factory.mktemp("e2e")
    services = BridgeServices(env, Path(tmp), sim_port=_free_port(), sim_db=Path(tmp) / "casavi.sqlite")
    with psycopg.connect(postgres.conninfo(settings.stack), autocommit=True) as conn:
        chain = Bridge(services, settings, conn, env)
        for pid in (801, 802, 803):  # rows of an earlier run of this module
            _delete_property(chain, pid)
        services.start()
        try:
            yield chain
        finally:
            services.stop()


def _insert_property(b: Bridge, pid: int, reverse: bool = False) -> None:
    """A property with two buildings, three units, three persons and three contracts."""
    start = TODAY - timedelta(days=400)
    statements: list[tuple[str, tuple[Any, ...]]] = [
        ("INSERT INTO erp.mandant (mandant_no, name) VALUES (%s, %s) ON CONFLICT DO NOTHING", (MANDANT, "E2E")),
        ("INSERT INTO erp.property (property_id, mandant_no, property_no, name, property_group, street, postal_code,"
         " city, country, management_start) VALUES (%s, %s, %s, 'Lindenhof', 'WEG', 'Lindenallee 1', '10115',"
         " 'Berlin', 'DE', %s)", (pid, MANDANT, f"E{pid}", start)),
        *[("INSERT INTO erp.building (building_id, property_id, street, house_no, postal_code, city)"
           " VALUES (%s, %s, 'Lindenallee', %s, '10115', 'Berlin')", (pid * 10 + i, pid, str(i))) for i in (1, 2)],
        *[("INSERT INTO erp.unit (unit_id, property_id, building_id, unit_no, name, usage, area, floor, rooms,"
           " valid_from, is_phantom) VALUES (%s, %s, %s, %s, %s, 'RESIDENTIAL', 61.50, '2', 2.5, %s, false)",
           (pid * 10 + i, pid, pid * 10 + 1 + i % 2, f"{i:04d}", f"Wohnung {i}", start)) for i in (1, 2, 3)],
        *[("INSERT INTO erp.person (person_id, person_no, person_type_code, salutation, first_name, last_name,"
           " email, phone) VALUES (%s, %s, 'TENANT', 'Frau', 'Erika', 'Muster', %s, '+49 30 1')",
           (pid * 10 + i, f"E{pid}-{i}", f"mieter{pid}-{i}@example.org")) for i in (1, 2, 3)],
        *[("INSERT INTO erp.contract (contract_id, contract_no, contract_type, property_id, unit_id, person_id,"
           " start_date, rent_amount, deposit_amount) VALUES (%s, %s, 'TENANT', %s, %s, %s, %s, 612.40, 1800.00)",
           (pid * 10 + i, f"V{i}", pid, pid * 10 + i, pid * 10 + i, start)) for i in (1, 2, 3)],
    ]
    for statement, params in (reversed(statements) if reverse else statements):
        b.sql(statement, *params)


def _delete_property(b: Bridge, pid: int) -> None:
    for table, col in (("contract", "property_id"), ("unit", "property_id"), ("building", "property_id"),
                       ("property", "property_id")):
        b.sql(f"DELETE FROM erp.{table} WHERE {col} = %s", pid)
    b.sql("DELETE FROM erp.person WHERE person_id BETWEEN %s AND %s", pid * 10, pid * 10 + 9)


def test_r14_property_with_units_persons_contracts_reaches_casavi_as_projected(chain: Bridge) -> None:
    _insert_property(chain, 801)
    state = chain.wait_converged(timeout_s=180)
    ref = f"{MANDANT}-E801"
    assert state["properties"][ref]["name"] == "Lindenhof"
    assert len(state["properties"][ref]["addresses"]) == 2
    assert {f"{ref}-000{i}" for i in (1, 2, 3)} <= set(state["units"])
    assert {f"{ref}-000{i}-V{i}" for i in (1, 2, 3)} <= set(state["contracts"])
    assert {"E801-1", "E801-2", "E801-3"} <= set(state["contacts"])


def test_changed_email_is_updated(chain: Bridge) -> None:
    chain.sql("UPDATE erp.person SET email = 'neu801@example.org' WHERE person_id = 8011")
    state = chain.wait_converged()
    assert state["contacts"]["E801-1"]["email"] == "neu801@example.org"


def test_r09_contract_ended_beyond_grace_removes_person(chain: Bridge) -> None:
    chain.sql("UPDATE erp.contract SET end_date = %s WHERE contract_id = 8012", TODAY - timedelta(days=31))
    state = chain.wait_converged()
    assert "E801-2" not in state["contacts"]
    assert f"{MANDANT}-E801-0002-V2" not in state["contracts"]


def test_r13_deleted_unit_removes_unit_and_its_contracts(chain: Bridge) -> None:
    chain.sql("DELETE FROM erp.unit WHERE unit_id = 8013")
    state = chain.wait_converged()
    assert f"{MANDANT}-E801-0003" not in state["units"]
    assert f"{MANDANT}-E801-0003-V3" not in state["contracts"]
    assert "E801-3" not in state["contacts"]  # no synced contract left


def test_r21_reverse_dependency_order_gives_same_state(chain: Bridge) -> None:
    _insert_property(chain, 802)
    forward = chain.wait_converged()
    _delete_property(chain, 802)
    gone = chain.wait_converged()
    assert f"{MANDANT}-E802" not in gone["properties"]
    _insert_property(chain, 802, reverse=True)
    backward = chain.wait_converged()
    for kind in ("properties", "units", "contracts", "contacts"):
        mine = {k: v for k, v in forward[kind].items() if "E802" in k}
        assert mine and mine == {k: v for k, v in backward[kind].items() if "E802" in k}


def test_restart_of_worker_and_sink_sends_no_write_calls(chain: Bridge) -> None:
    chain.wait_converged()
    # the worker writes an image of its state once it has caught up; the restart reads it and
    # the table writes after it instead of every row
    home = Path(os.environ["BRIDGE_STACK__HOME"])
    app_id = chain.env["BRIDGE_KAFKA__WORKER_APP_ID"]
    wait_for(lambda: any(home.glob(f"**/{app_id}/**/state-image-*.pickle")), 30, "the worker's state image")
    worker_log = chain.services.worker.log_path
    images_read = worker_log.read_text(errors="replace").count("state from the image")
    chain.services.worker.stop()
    assert "Crashed" not in worker_log.read_text(errors="replace")  # a stop ends the worker's intake cleanly
    chain.services.sink.stop()
    before = chain.stats()["write_calls"]
    chain.services.worker.start()
    chain.services.sink.start()
    # one synced change after the restart: exactly its import reaches casavi, nothing else
    chain.sql("UPDATE erp.person SET phone = '+49 30 999' WHERE person_id = 8011")
    state = chain.wait_converged()
    assert state["contacts"]["E801-1"]["telephone"] == "+49 30 999"
    assert chain.stats()["write_calls"] - before == 1
    assert worker_log.read_text(errors="replace").count("state from the image") == images_read + 1


def _worker_group_offsets(chain: Bridge, stack: dict[str, Any]) -> dict[Any, tuple[int, int]]:
    """(committed, end) offset of every CDC partition for the worker's consumer group."""
    consumer = KafkaConsumer(bootstrap_servers=stack["kafka_bootstrap_servers"],
                             group_id=chain.env["BRIDGE_KAFKA__WORKER_APP_ID"], enable_auto_commit=False)
    try:
        parts = [TopicPartition(t, p) for t in stack["cdc_topics"].values()
                 for p in sorted(consumer.partitions_for_topic(t) or ())]
        ends = consumer.end_offsets(parts)
        return {tp: (consumer.committed(tp) or 0, ends[tp]) for tp in parts}
    finally:
        consumer.close()


def test_r21_replay_from_offset_zero_sends_nothing(chain: Bridge, stack: dict[str, Any]) -> None:
    """The worker reads every CDC topic again from the start over its kept tables: casavi
    already has all of it, so not one write call goes out."""
    import subprocess
    import sys

    def replay(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "streams.cli", "replay", "--from-beginning", "--target", "worker",
                               *args], capture_output=True, text=True, timeout=120, env=chain.services.env)

    chain.wait_converged()
    refused = replay()
    assert refused.returncode == 2 and "worker is running" in refused.stderr
    chain.services.worker.stop()
    before = chain.stats()["write_calls"]
    try:
        done = replay()
        assert done.returncode == 0, done.stderr[-2000:]
        offsets = _worker_group_offsets(chain, stack)
    finally:
        chain.services.worker.start()
    # the rows of the tests above (at least one property with all that belongs to it)
    assert sum(end for _, end in offsets.values()) > 15 and all(c == 0 for c, _ in offsets.values())

    def caught_up() -> bool:
        chain.services.check()
        return all(committed >= end for committed, end in _worker_group_offsets(chain, stack).values())

    wait_for(caught_up, 120, "the worker re-reading every CDC topic")
    chain.wait_converged()
    assert chain.stats()["write_calls"] == before


def test_malformed_cdc_event_goes_to_dlq_and_stream_goes_on(chain: Bridge, stack: dict[str, Any]) -> None:
    topic = stack["cdc_topics"]["person"]
    producer = KafkaProducer(bootstrap_servers=stack["kafka_bootstrap_servers"])
    producer.send(topic, key=b"malformed", value=b'{"payload": {"op": "x", "after": {"email": "a@b.c"}}}')
    producer.flush()
    producer.close()
    chain.sql("UPDATE erp.person SET phone = '+49 30 1000' WHERE person_id = 8011")
    state = chain.wait_converged()
    assert state["contacts"]["E801-1"]["telephone"] == "+49 30 1000"

    consumer = KafkaConsumer(chain.env["BRIDGE_KAFKA__DLQ_TOPIC"], bootstrap_servers=stack["kafka_bootstrap_servers"],
                             auto_offset_reset="earliest", consumer_timeout_ms=20000)
    try:
        letter = next(json.loads(m.value) for m in consumer if m.value)
    finally:
        consumer.close()
    assert letter["stage"] == "decode" and letter["topic"] == topic
    assert "a@b.c" not in json.dumps(letter)


def test_r09_grace_period_ends_on_its_day_without_a_row_change(chain: Bridge) -> None:
    """The worker re-projects on its timer (and at start): a contract that ended 30 days ago
    is on the last day of its 30-day grace period today and out of it tomorrow, with no ERP
    change in between."""
    chain.sql("UPDATE erp.contract SET end_date = %s WHERE contract_id = 8011", TODAY - timedelta(days=30))
    assert "E801-1" in chain.wait_converged()["contacts"]
    worker = chain.services.worker
    later = TODAY + timedelta(days=1)
    worker.stop()
    worker.env["BRIDGE_SYNC__TODAY"] = later.isoformat()
    worker.start()
    try:
        state = chain.wait_converged(today=later)
        assert "E801-1" not in state["contacts"]
        assert f"{MANDANT}-E801-0001-V1" not in state["contracts"]
    finally:
        worker.stop()
        del worker.env["BRIDGE_SYNC__TODAY"]
        worker.start()
    assert "E801-1" in chain.wait_converged()["contacts"]  # today it is still in its grace period


def test_kill_9_of_worker_and_sink_mid_load_loses_nothing(chain: Bridge) -> None:
    """Guarantee 'no loss on crash': SIGKILL both while a bulk load streams, restart, and
    casavi still ends equal to the projection."""
    dataset = generate(seed=3, scale=0.1, today=TODAY)
    load(chain.conn, dataset, replace=True)  # also removes the rows of the tests above
    wait_for(lambda: chain.stats()["write_calls"] >= 1 or None, 120, "the first import of the bulk load")
    chain.services.worker.stop(hard=True)
    chain.services.sink.stop(hard=True)
    chain.services.worker.start()
    chain.services.sink.start()
    state = chain.wait_converged(timeout_s=300)
    assert len(state["units"]) > 100 and len(state["contacts"]) > 100


def test_casavi_rejection_goes_to_dlq_and_the_stream_goes_on(chain: Bridge, stack: dict[str, Any]) -> None:
    """A contact casavi refuses (its e-mail is not an address) lands in the DLQ with casavi's
    reason and without the value; later changes still reach casavi."""
    _insert_property(chain, 803)
    chain.sql("UPDATE erp.person SET email = 'kein-at-zeichen.example.org' WHERE person_id = 8031")
    chain.sql("UPDATE erp.person SET phone = '+49 30 4242' WHERE person_id = 8032")
    wait_for(lambda: chain.casavi()["contacts"].get("E803-2", {}).get("telephone") == "+49 30 4242", 120,
             "a change after the rejected one")

    consumer = KafkaConsumer(chain.env["BRIDGE_KAFKA__DLQ_TOPIC"], bootstrap_servers=stack["kafka_bootstrap_servers"],
                             auto_offset_reset="earliest", consumer_timeout_ms=60000)
    try:
        letter = next(json.loads(m.value) for m in consumer
                      if m.value and json.loads(m.value).get("reference_id") == "E803-1")
    finally:
        consumer.close()
    assert letter["stage"] == "sink" and letter["error_code"] == "INVALID_FIELD"
    assert "kein-at-zeichen" not in json.dumps(letter)


def test_dlq_commands_list_show_and_redrive_the_rejection(chain: Bridge) -> None:
    import subprocess
    import sys

    def dlq(*args: str) -> str:
        proc = subprocess.run([sys.executable, "-m", "streams.cli", "dlq", *args], capture_output=True, text=True,
                              timeout=120, env=chain.services.env)
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert "kein-at-zeichen" not in proc.stdout + proc.stderr
        return proc.stdout

    listed = json.loads(dlq("list", "--json", "--since", "1d"))
    assert any(g["stage"] == "sink" and g["reason"] == "INVALID_FIELD" for g in listed["groups"]), listed
    assert "contact:E803-1" in dlq("show", "--reason", "invalid_field")
    assert "would redrive" in (out := dlq("redrive", "--reason", "INVALID_FIELD", "--dry-run")) and "contact:E803-1" in out


def test_after_the_rejected_value_is_fixed_casavi_converges_by_itself(chain: Bridge) -> None:
    """The contact casavi refused above, and the contract that names it (refused with
    MISSING_REFERENCE), reach casavi once the e-mail is fixed in the ERP: the sink's receipts
    told the worker they were not applied, so the fix sends the contact and casavi applying it
    sends the contract. No restart, no redrive."""
    fixed = "mieter803-1.neu@example.org"
    # casavi holds the contact as first inserted (if that reached it before the bad e-mail), or not at all
    assert chain.casavi()["contacts"].get("E803-1", {}).get("email") != fixed
    chain.sql("UPDATE erp.person SET email = %s WHERE person_id = 8031", fixed)
    state = chain.wait_converged()
    assert state["contacts"]["E803-1"]["email"] == fixed
    assert f"{MANDANT}-E803-0001-V1" in state["contracts"]


def _casavi_directly(chain: Bridge, *commands: Any) -> None:
    """Change casavi behind the bridge's back (as a portal user or another tool would)."""
    import asyncio

    from streams.settings import CasaviSettings
    from streams.sink.apply import Sourced, apply_batch
    from streams.sink.client import CasaviClient

    async def go() -> None:
        s = CasaviSettings(requests_per_minute=6000)
        s = s.model_copy(update={"test": s.test.model_copy(update={"url": chain.services.sim_url})})
        async with CasaviClient(s) as client:
            result = await apply_batch(client, [Sourced(c, "direct", 0, i) for i, c in enumerate(commands)])
            assert not result.failed, [f.error_code for f in result.failed]

    asyncio.run(go())


def test_reconcile_repairs_drift_made_directly_in_casavi(chain: Bridge) -> None:
    from streams.commands.model import CasaviCommand

    state = chain.wait_converged()
    ref = f"{MANDANT}-E803"
    changed = {**state["contacts"]["E803-2"], "firstName": "Drift"}
    extra = {k: None for k in changed} | {"id": "X-EXTRA", "lastName": "Fremd", "bankAccounts": [],
                                          "portalUser": True}
    _casavi_directly(
        chain,
        CasaviCommand.upsert("contact", "E803-2", {k: v for k, v in changed.items() if k != "archived"}),
        CasaviCommand.upsert("contact", "X-EXTRA", {k: v for k, v in extra.items() if k != "archived"}),
        CasaviCommand.delete("unit", f"{ref}-0002", (ref,)),  # casavi deletes its contract with it
    )
    env = chain.services.env  # the sink's settings: casavi is the simulator

    def reconcile(*args: str) -> dict[str, Any]:
        import subprocess
        import sys

        proc = subprocess.run([sys.executable, "-m", "streams.cli", "reconcile", *args], capture_output=True,
                              text=True, timeout=120, env=env)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert "Drift" not in proc.stdout + proc.stderr and "Fremd" not in proc.stdout + proc.stderr
        report_file = BridgeSettings().stack.state_dir / "reconcile-report.json"
        report: dict[str, Any] = json.loads(report_file.read_text())
        assert "Drift" not in report_file.read_text()
        return report

    dry = reconcile("--dry-run")
    assert dry["different"] == ["contact:E803-2"], {k: dry[k] for k in ("counts", "missing", "extra")}
    assert set(dry["missing"]) == {f"unit:{ref}-0002", f"contract:{ref}-0002-V2"}
    assert dry["extra"] == ["contact:X-EXTRA"] and dry["repairs"] is None
    assert "X-EXTRA" in chain.casavi()["contacts"]  # a dry run repairs nothing

    done = reconcile()
    assert done["repairs"] == {"redriven": 3, "deleted": 1, "revoked": 1}
    state = chain.wait_converged()
    assert state["contacts"]["E803-2"]["firstName"] == "Erika" and f"{ref}-0002" in state["units"]
    assert reconcile("--dry-run")["counts"]["contact"]["different"] == 0
