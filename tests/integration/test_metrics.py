"""Operating the bridge on the real stack: the figures of /metrics and of the status files
agree with the topics and with casavi (the simulator), also across a restart of worker and
sink; /metrics has every series operators chart, with plausible values and no reference id or
personal data as a label value; /healthz and /readyz answer."""

from __future__ import annotations

import json
import os
import re
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
from prometheus_client.parser import text_string_to_metric_families

from streams.demo.services import BridgeServices, wait_for
from streams.demo.verify import compare, expected_from_db
from streams.settings import BridgeSettings, SyncSettings
from streams.stack import postgres

pytestmark = pytest.mark.integration

TODAY = date.today()
MANDANT = 7011
PID = 811
PERSONAL = ("Erika", "Muster", "example.org", "+49 30", "Lindenallee", "Berlin")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Run:
    def __init__(self, services: BridgeServices, conn: Any, env: dict[str, str], stack: dict[str, Any]) -> None:
        self.services = services
        self.bootstrap: str = stack["kafka_bootstrap_servers"]
        self.person_topic: str = stack["cdc_topics"]["person"]
        self.conn = conn
        self.env = env
        self.sync = SyncSettings(mandanten=[MANDANT])
        self.worker_url = f"http://127.0.0.1:{env['BRIDGE_OPS__WORKER_PORT']}"
        self.sink_url = f"http://127.0.0.1:{env['BRIDGE_OPS__SINK_PORT']}"
        self.state_dir = BridgeSettings().stack.state_dir

    def sql(self, statement: str, *params: Any) -> None:
        with self.conn.transaction():
            self.conn.execute(statement, params)

    def sim(self, path: str) -> dict[str, Any]:
        result: dict[str, Any] = httpx.get(f"{self.services.sim_url}{path}", timeout=10).json()
        return result

    def converged(self, timeout_s: float = 180) -> dict[str, Any]:
        expected = expected_from_db(self.conn, self.sync, TODAY)

        def equal() -> dict[str, Any] | None:
            self.services.check()
            state = self.sim("/_sim/state")
            return state if compare(expected, state).equal else None

        return wait_for(equal, timeout_s, "casavi equal to the projection", interval_s=0.3)

    def status(self, name: str) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.state_dir / f"{name}-status.json").read_text())
        return data

    def records(self, topic: str) -> list[Any]:
        """Every record of ``topic`` (none is compacted away within a test: min.compaction.lag.ms is a day)."""
        consumer = KafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False)
        try:
            tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
            if not tps:
                return []
            consumer.assign(tps)
            consumer.seek_to_beginning(*tps)
            ends = consumer.end_offsets(tps)
            out: list[Any] = []
            while any(consumer.position(tp) < ends[tp] for tp in tps):
                for batch in consumer.poll(timeout_ms=1000).values():
                    out.extend(batch)
            return out
        finally:
            consumer.close()

    def end_offset(self, topic: str) -> int:
        consumer = KafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False)
        try:
            tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
            return sum(consumer.end_offsets(tps).values()) if tps else 0
        finally:
            consumer.close()

    def scrape(self, url: str) -> dict[str, list[tuple[str, dict[str, str], float]]]:
        text = httpx.get(f"{url}/metrics", timeout=10).text
        return {f.name: [(s.name, s.labels, s.value) for s in f.samples] for f in text_string_to_metric_families(text)}


@pytest.fixture(scope="module")
def run(stack: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    tag = uuid.uuid4().hex[:8]
    env = dict(os.environ)
    env.update({
        "BRIDGE_KAFKA__BOOTSTRAP_SERVERS": stack["kafka_bootstrap_servers"],
        "BRIDGE_KAFKA__WORKER_APP_ID": f"ops-{tag}",
        "BRIDGE_KAFKA__SINK_GROUP_ID": f"ops-sink-{tag}",
        "BRIDGE_KAFKA__COMMANDS_TOPIC": f"casavi.commands.ops-{tag}",
        "BRIDGE_KAFKA__DLQ_TOPIC": f"casavi.dlq.ops-{tag}",
        "BRIDGE_KAFKA__TICKS_TOPIC": f"bridge.ticks.ops-{tag}",
        "BRIDGE_KAFKA__RECEIPTS_TOPIC": f"casavi.receipts.ops-{tag}",
        "BRIDGE_SYNC__MANDANTEN": str(MANDANT),
        "BRIDGE_CASAVI__REQUESTS_PER_MINUTE": "6000",
        "BRIDGE_CASAVI__BATCH_WAIT_S": "0.2",
        "BRIDGE_CASAVI__JOB_POLL_INTERVAL_S": "0.05",
        "BRIDGE_OPS__WORKER_PORT": str(_free_port()),
        "BRIDGE_OPS__SINK_PORT": str(_free_port()),
        "BRIDGE_LOG_FORMAT": "json",
    })
    tmp = Path(tmp_path_factory.mktemp("ops"))
    services = BridgeServices(env, tmp, sim_port=_free_port(), sim_db=tmp / "casavi.sqlite")
    with psycopg.connect(postgres.conninfo(BridgeSettings().stack), autocommit=True) as conn:
        r = Run(services, conn, env, stack)
        _delete_property(r)
        services.start()
        try:
            yield r
        finally:
            services.stop()
            _delete_property(r)


def _insert_property(r: Run) -> None:
    start = TODAY - timedelta(days=400)
    r.sql("INSERT INTO erp.mandant (mandant_no, name) VALUES (%s, 'OPS') ON CONFLICT DO NOTHING", MANDANT)
    r.sql("INSERT INTO erp.property (property_id, mandant_no, property_no, name, property_group, street, postal_code,"
          " city, country, management_start) VALUES (%s, %s, %s, 'Lindenhof', 'WEG', 'Lindenallee 1', '10115',"
          " 'Berlin', 'DE', %s)", PID, MANDANT, f"E{PID}", start)
    for i in (1, 2, 3):
        r.sql("INSERT INTO erp.unit (unit_id, property_id, unit_no, name, usage, area, floor, rooms, valid_from,"
              " is_phantom) VALUES (%s, %s, %s, %s, 'RESIDENTIAL', 61.50, '2', 2.5, %s, false)",
              PID * 10 + i, PID, f"{i:04d}", f"Wohnung {i}", start)
        r.sql("INSERT INTO erp.person (person_id, person_no, person_type_code, salutation, first_name, last_name,"
              " email, phone) VALUES (%s, %s, 'TENANT', 'Frau', 'Erika', 'Muster', %s, '+49 30 1')",
              PID * 10 + i, f"E{PID}-{i}", f"mieter{PID}-{i}@example.org")
        r.sql("INSERT INTO erp.contract (contract_id, contract_no, contract_type, property_id, unit_id, person_id,"
              " start_date, rent_amount, deposit_amount) VALUES (%s, %s, 'TENANT', %s, %s, %s, %s, 612.40, 1800.00)",
              PID * 10 + i, f"V{i}", PID, PID * 10 + i, PID * 10 + i, start)


def _delete_property(r: Run) -> None:
    for table in ("contract", "unit", "property"):
        r.sql(f"DELETE FROM erp.{table} WHERE property_id = %s", PID)
    r.sql("DELETE FROM erp.person WHERE person_id BETWEEN %s AND %s", PID * 10, PID * 10 + 9)


def _sum(samples: list[tuple[str, dict[str, str], float]], name: str | None = None, **labels: str) -> float:
    return sum(v for n, ls, v in samples if (name is None or n == name)
               and all(ls.get(k) == want for k, want in labels.items()))


def _agree(r: Run) -> None:
    """Every count of worker and sink against the topics and the simulator (waits for the
    processes to be idle: the figures of a run still working are on their way)."""
    commands_topic = r.env["BRIDGE_KAFKA__COMMANDS_TOPIC"]

    def settled() -> tuple[dict[str, Any], dict[str, Any]] | None:
        worker, sink = r.status("worker"), r.status("sink")
        on_topic = r.end_offset(commands_topic)
        done = sink.get("committed") == sink.get("end_offset") == on_topic == worker.get("commands")
        return (worker, sink) if done and sink.get("deferred") == 0 else None

    worker, sink = wait_for(settled, 60, "worker and sink status at the commands topic's end")
    records = r.records(commands_topic)
    assert worker["commands"] == worker["commands_on_topic"] == len(records)
    assert sum(n for ops in worker["commands_by_entity"].values() for n in ops.values()) == len(records)
    assert sum(n for ops in sink["outcomes"].values() for o in ops.values() for n in o.values()) == sink["commands"]
    letters = [json.loads(m.value) for m in r.records(r.env["BRIDGE_KAFKA__DLQ_TOPIC"]) if m.value]
    assert worker["dead_letters"] == sum(1 for d in letters if d["stage"] != "sink")
    assert sink["dead_lettered"] == sum(1 for d in letters if d["stage"] == "sink")
    for topic, n in worker["events_by_topic"].items():
        if topic in r.env.values() or topic.startswith("casavi."):
            continue  # control and receipts records keep coming
        assert n == r.end_offset(topic), topic  # a CDC topic: read once, from its beginning
    sim = r.sim("/_sim/stats")
    casavi_calls = {k: v for k, v in sim["requests"].items() if not k.split(" ", 1)[1].startswith("/_sim")}
    assert {e: sum(s.values()) for e, s in sink["responses"].items()} == casavi_calls
    assert sum(sink["requests"].values()) == sum(casavi_calls.values())
    assert sink["rate_limited"] == sim["responses"].get("429", 0)

    # /metrics says the same as the status files
    w, s = r.scrape(r.worker_url), r.scrape(r.sink_url)
    assert _sum(w["casavi_bridge_worker_commands"], "casavi_bridge_worker_commands_total") == len(records)
    assert _sum(s["casavi_bridge_casavi_requests"], "casavi_bridge_casavi_requests_total") == sum(casavi_calls.values())
    assert _sum(s["casavi_bridge_sink_commands_topic_end_offset"]) == len(records)


def _no_ids_or_personal_data(r: Run, scraped: dict[str, list[tuple[str, dict[str, str], float]]]) -> None:
    ids = re.compile(rf"{MANDANT}|E{PID}|V\d|[0-9a-f]{{8}}-[0-9a-f]{{4}}")
    for family, samples in scraped.items():
        for _, labels, _ in samples:
            for key, value in labels.items():
                if key in ("topic",):  # the bridge's topic names (this run's carry a random tag)
                    continue
                assert not ids.search(value), (family, key, value)
                assert not any(p.lower() in value.lower() for p in PERSONAL), (family, key, value)


def test_metrics_and_status_files_agree_with_topics_and_casavi_across_a_restart(run: Run) -> None:
    _insert_property(run)
    run.converged()
    # a CDC event the worker cannot read, and a change of a contact casavi refuses: a dead letter each
    producer = KafkaProducer(bootstrap_servers=run.bootstrap)
    producer.send(run.person_topic, key=b"broken", value=b'{"payload": {"op": "x", "after": {"email": "a@b.c"}}}')
    producer.flush()
    producer.close()
    run.sql("UPDATE erp.person SET email = 'kein-at-zeichen' WHERE person_id = %s", PID * 10 + 3)
    wait_for(lambda: run.status("sink")["dead_lettered"] >= 1, 60, "the refused contact in the DLQ")
    run.sql("UPDATE erp.person SET email = 'mieter811-3.neu@example.org' WHERE person_id = %s", PID * 10 + 3)
    run.converged()

    for url in (run.worker_url, run.sink_url):
        assert httpx.get(f"{url}/healthz", timeout=5).status_code == 200
        ready = wait_for(lambda url=url: httpx.get(f"{url}/readyz", timeout=5).status_code == 200, 30, f"{url} ready")
        assert ready

    w, s = run.scrape(run.worker_url), run.scrape(run.sink_url)
    # the series operators chart, with plausible values
    assert _sum(w["casavi_bridge_worker_events"]) > 10
    assert _sum(w["casavi_bridge_worker_changes"], table="person") >= 3
    assert _sum(w["casavi_bridge_worker_commands"], entity="contact", op="UPSERT") >= 2
    assert _sum(w["casavi_bridge_worker_commands"], entity="property", op="UPSERT") >= 1
    assert _sum(w["casavi_bridge_worker_dead_letters"], stage="decode") >= 1
    assert "casavi_bridge_worker_consumer_lag_records" in w and _sum(w["casavi_bridge_worker_state_rows"]) >= 10
    assert _sum(w["casavi_bridge_worker_batch_duration_seconds"], "casavi_bridge_worker_batch_duration_seconds_count") >= 1
    assert _sum(s["casavi_bridge_sink_commands"], outcome="applied") >= 5
    assert _sum(s["casavi_bridge_casavi_requests"], endpoint="POST /import", status="200") >= 1
    assert _sum(s["casavi_bridge_casavi_requests"], endpoint="GET /jobs/{id}") >= 1
    assert _sum(s["casavi_bridge_sink_dead_letters"], code="INVALID_FIELD") >= 1
    assert "casavi_bridge_casavi_retries" in s and "casavi_bridge_casavi_rate_limit_wait_seconds" in s
    assert _sum(s["casavi_bridge_sink_consumer_lag_records"]) == 0
    # measured for commands projected with the change that caused them (live edits such as the e-mail fix);
    # a bulk load's deferred projection carries no COMMIT time
    latency = s["casavi_bridge_sink_commit_to_casavi_seconds"]
    count = _sum(latency, "casavi_bridge_sink_commit_to_casavi_seconds_count")
    assert count >= 1 and 0 < _sum(latency, "casavi_bridge_sink_commit_to_casavi_seconds_sum") / count < 120
    _no_ids_or_personal_data(run, w)
    _no_ids_or_personal_data(run, s)
    _agree(run)

    before = run.status("worker")["commands"]
    run.services.worker.stop()
    run.services.sink.stop()
    run.services.worker.start()
    run.services.sink.start()
    run.sql("UPDATE erp.person SET phone = '+49 30 777' WHERE person_id = %s", PID * 10 + 1)
    state = run.converged()
    assert state["contacts"][f"E{PID}-1"]["telephone"] == "+49 30 777"
    wait_for(lambda: run.status("worker")["since_start"]["commands"] >= 1, 60, "the restarted worker's command")
    _agree(run)
    worker = run.status("worker")
    assert worker["commands"] > before > worker["since_start"]["commands"]  # totals, not counts since the restart

    status = json.loads(_cli(run, "stack", "status", "--json"))
    assert status["bridge"]["worker"]["commands"] == worker["commands"] and status["bridge"]["sink"]["running"]
    _no_ids_or_personal_data(run, run.scrape(run.worker_url))
    _no_ids_or_personal_data(run, run.scrape(run.sink_url))
    # a crash (SIGKILL) loses at most the last second of counts, never the figures taken from the topic
    run.services.worker.stop(hard=True)
    run.services.sink.stop(hard=True)
    run.services.worker.start()
    run.services.sink.start()
    run.sql("UPDATE erp.person SET phone = '+49 30 778' WHERE person_id = %s", PID * 10 + 1)
    assert run.converged()["contacts"][f"E{PID}-1"]["telephone"] == "+49 30 778"
    topic = run.env["BRIDGE_KAFKA__COMMANDS_TOPIC"]

    def at_topic_end() -> bool:
        worker, sink, end = run.status("worker"), run.status("sink"), run.end_offset(topic)
        return worker["commands"] == end == sink["committed"] == sink["end_offset"] and sink["lag"] == 0

    wait_for(at_topic_end, 60, "the restarted worker and sink at the commands topic's end")
    assert _sum(run.scrape(run.worker_url)["casavi_bridge_worker_commands_topic_end_offset"]) == run.end_offset(topic)

    logs = run.services.sink.log_path.read_text().splitlines()
    assert logs and all(json.loads(line)["level"] for line in logs if line.startswith("{"))
    assert "kein-at-zeichen" not in "\n".join(logs)


def _cli(r: Run, *args: str) -> str:
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "streams.cli", *args], capture_output=True, text=True, timeout=120,
                          env=r.env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def _explain(r: Run, entity: str, key: str) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(_cli(r, "explain", entity, key, "--json"))
    assert not any(p.lower() in json.dumps(out).lower() for p in PERSONAL if p != "+49 30"), out
    return out


def test_explain_an_included_an_excluded_and_a_dead_lettered_entity(run: Run) -> None:
    with run.conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM erp.property WHERE property_id = %s", (PID,))
        row = cur.fetchone()
    if not row or not row[0]:
        _insert_property(run)
    run.converged()

    # included: every decision passed, the last command applied by casavi
    def applied(key: str) -> dict[str, Any] | None:
        (m,) = _explain(run, "contact", key)["matches"]
        h = m["history"]
        return m if h["receipt"] and h["receipt"]["status"] == "applied" and h["receipt"]["matches_last_command"] \
            else None

    included = wait_for(lambda: applied(f"E{PID}-1"), 60, "the contact's receipt")
    assert included["included"] and all(d["passed"] for d in included["decisions"])
    assert included["history"]["last_command"]["op"] == "UPSERT" and included["history"]["dead_letters"] == []
    assert _explain(run, "contact", f"E{PID}-1")["worker_settings"] is True  # the worker's recorded settings
    (prop,) = _explain(run, "property", f"E{PID}")["matches"]
    assert prop["included"] and prop["reference_id"] == f"{MANDANT}-E{PID}"

    # dead-lettered: casavi refuses the contact's new e-mail address
    run.sql("UPDATE erp.person SET email = 'kein-at-zeichen-2' WHERE person_id = %s", PID * 10 + 2)

    def refused() -> dict[str, Any] | None:
        (m,) = _explain(run, "contact", f"E{PID}-2")["matches"]
        letters = m["history"]["dead_letters"]
        return m if letters and m["history"]["receipt"]["status"] == "failed" else None

    lettered = wait_for(refused, 90, "the refused contact's dead letter")
    assert lettered["included"]  # the projection wants it; casavi refused it
    assert {(d["stage"], d["error_code"]) for d in lettered["history"]["dead_letters"]} == {("sink", "INVALID_FIELD")}
    assert lettered["history"]["receipt"]["error_code"] == "INVALID_FIELD"

    # excluded (R07, R09): no e-mail, and a contract that ended beyond its grace period
    run.sql("UPDATE erp.person SET email = NULL WHERE person_id = %s", PID * 10 + 2)
    ended = TODAY - timedelta(days=60)
    run.sql("UPDATE erp.contract SET end_date = %s WHERE contract_id = %s", ended, PID * 10 + 3)

    def excluded() -> tuple[dict[str, Any], dict[str, Any]] | None:
        (contact,) = _explain(run, "contact", f"E{PID}-2")["matches"]
        (contract,) = _explain(run, "contract", f"{MANDANT}-E{PID}-0003-V3")["matches"]
        return (contact, contract) if not contact["included"] and not contract["included"] else None

    contact, contract = wait_for(excluded, 90, "both out of the projection")
    assert contact["reason"] == "R05 no synced valid contract"
    assert contact["decisions"][-1]["text"].endswith("which is not synced (R07 tenant without e-mail)")
    assert contract["reason"] == "R09 contract ended"
    grace = ended + timedelta(days=30)
    assert contract["decisions"][-1] == {"rule": "R09", "passed": False,
                                         "text": f"contract ended {ended}, grace until {grace}"}
    (contract_e2,) = _explain(run, "contract", "V2")["matches"]
    assert contract_e2["reason"] == "R07 tenant without e-mail"
    assert any(d["text"] == "tenant party without e-mail" for d in contract_e2["decisions"])
    run.converged()
    (gone,) = _explain(run, "contract", f"{MANDANT}-E{PID}-0003-V3")["matches"]
    assert gone["history"]["last_command"]["op"] == "DELETE"

    text = _cli(run, "explain", "contract", "V2")
    assert f"contract {MANDANT}-E{PID}-0002-V2" in text and "- R07: tenant party without e-mail" in text
    assert "Muster" not in text and "example.org" not in text


def test_topics_tail_decodes_the_commands_and_masks_personal_data(run: Run) -> None:
    topic = run.env["BRIDGE_KAFKA__COMMANDS_TOPIC"]
    wait_for(lambda: run.end_offset(topic) > 0, 60, "commands on the topic")
    masked = [json.loads(line) for line in _cli(run, "topics", "tail", topic, "-n", "1000", "--json").splitlines()]
    contacts = [m for m in masked if m["entity"] == "contact" and m["op"] == "UPSERT"]
    assert len(masked) == run.end_offset(topic) and contacts
    assert all(m["document"]["lastName"] == "***" for m in contacts)
    assert not any(p in json.dumps(masked) for p in ("Muster", "example.org"))
    shown = _cli(run, "topics", "tail", topic, "-n", "1000", "--show-personal-data")
    assert "Muster" in shown and f"UPSERT property {MANDANT}-E{PID}" in shown


def test_progress_of_the_catch_up_and_of_a_reconcile(run: Run) -> None:
    import subprocess
    import sys

    run.converged()

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "streams.cli", *args], capture_output=True, text=True,
                              timeout=180, env=run.services.env)

    done = cli("progress", "--timeout", "120", "--interval", "0.5")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "worker: records read" in done.stderr and "sink: commands applied" in done.stderr
    sink = run.status("sink")
    assert f"{sink['committed']}/{sink['end_offset']}" in done.stderr

    reconciled = cli("reconcile", "--dry-run")
    assert reconciled.returncode == 0, reconciled.stderr[-2000:]
    assert "reconcile: casavi read requests" in reconciled.stderr and "left 0:00" in reconciled.stderr
    assert "Muster" not in reconciled.stdout + reconciled.stderr
