"""The protocol page in a browser (Playwright with Debian's Chromium) during a real run: the
stack, the simulator, worker, sink and ``bridge ui`` as processes. The page follows a load of a
small generated housing company, a poison CDC event and a reconcile, and every figure checked
agrees with the topics and the simulator. A screenshot goes to ``bench/results/``."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
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

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "bench" / "results"
CHROMIUM = os.environ.get("BRIDGE_TEST_CHROMIUM", "/usr/bin/chromium")
TODAY = date.today()
SIM_KINDS = {"property": "properties", "unit": "units", "contract": "contracts", "contact": "contacts"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Run:
    services: BridgeServices
    env: dict[str, str]
    conn: Any
    settings: BridgeSettings
    bootstrap: str
    url: str

    def casavi(self) -> dict[str, Any]:
        state: dict[str, Any] = httpx.get(f"{self.services.sim_url}/_sim/state", timeout=10).json()
        return state

    def api(self) -> dict[str, Any]:
        page: dict[str, Any] = httpx.get(f"{self.url}api/page", timeout=10).json()
        return page

    def topic(self, name: str) -> list[Any]:
        """Every record of one of this run's topics, read from its start to its end now."""
        consumer = KafkaConsumer(bootstrap_servers=self.bootstrap, group_id=None, enable_auto_commit=False)
        try:
            tps = [TopicPartition(self.env[name], p) for p in sorted(consumer.partitions_for_topic(self.env[name]) or ())]
            if not tps:
                return []
            consumer.assign(tps)
            consumer.seek_to_beginning(*tps)
            end = consumer.end_offsets(tps)
            records: list[Any] = []
            deadline = time.monotonic() + 60
            while any(consumer.position(tp) < end[tp] for tp in tps) and time.monotonic() < deadline:
                for batch in consumer.poll(timeout_ms=500).values():
                    records.extend(batch)
            return records
        finally:
            consumer.close()


@pytest.fixture(scope="module")
def run(stack: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    if not shutil.which(CHROMIUM):
        pytest.fail(f"Chromium not found at {CHROMIUM}: apt-get install chromium (.ci/run does)")
    settings = BridgeSettings()
    tag = uuid.uuid4().hex[:8]
    env = dict(os.environ)
    env.update({
        "BRIDGE_KAFKA__BOOTSTRAP_SERVERS": stack["kafka_bootstrap_servers"],
        "BRIDGE_KAFKA__WORKER_APP_ID": f"ui-{tag}",
        "BRIDGE_KAFKA__SINK_GROUP_ID": f"ui-sink-{tag}",
        "BRIDGE_KAFKA__COMMANDS_TOPIC": f"casavi.commands.ui-{tag}",
        "BRIDGE_KAFKA__RECEIPTS_TOPIC": f"casavi.receipts.ui-{tag}",
        "BRIDGE_KAFKA__DLQ_TOPIC": f"casavi.dlq.ui-{tag}",
        "BRIDGE_KAFKA__TICKS_TOPIC": f"bridge.ticks.ui-{tag}",
        "BRIDGE_CASAVI__REQUESTS_PER_MINUTE": "6000",
        "BRIDGE_CASAVI__BATCH_WAIT_S": "0.2",
        "BRIDGE_CASAVI__JOB_POLL_INTERVAL_S": "0.05",
        "BRIDGE_RECONCILE__INTERVAL_H": "0",
        "BRIDGE_UI__REFRESH_S": "1",
    })
    tmp = Path(tmp_path_factory.mktemp("ui"))
    services = BridgeServices(env, tmp, sim_port=_free_port(), sim_db=tmp / "casavi.sqlite", ui_port=_free_port())
    assert services.ui is not None and services.ui_url is not None
    with psycopg.connect(postgres.conninfo(settings.stack), autocommit=True) as conn:
        services.start()
        try:
            wait_for(lambda: httpx.get(f"{services.ui_url}api/page", timeout=2).status_code == 200, 60,
                     "the protocol page's first figures")
            yield Run(services, services.env, conn, settings, stack["kafka_bootstrap_servers"], services.ui_url)
        finally:
            services.stop()
            print(f"ui log:\n{services.ui.tail()}")


def _wait_converged(run: Run, timeout_s: float) -> dict[str, Any]:
    expected = expected_from_db(run.conn, run.settings.sync, TODAY)

    def equal() -> dict[str, Any] | None:
        run.services.check()
        state = run.casavi()
        return state if compare(expected, state).equal else None

    try:
        return wait_for(equal, timeout_s, "casavi equal to the projection", interval_s=0.5)
    except TimeoutError as exc:
        raise AssertionError(f"{exc}\nworker log:\n{run.services.worker.tail()}\nsink log:\n"
                             f"{run.services.sink.tail()}") from None


def _row(page: Any, entity: str) -> dict[str, int]:
    row = page.locator(f'tr[data-entity="{entity}"]')
    return {name: int(row.get_attribute(f"data-{name}") or -1) for name in ("commands-day", "applied-day",
                                                                             "failed-day")}


def _stage(page: Any, key: str) -> tuple[str | None, str | None]:
    box = page.locator(f'.stage[data-stage="{key}"]')
    return box.get_attribute("data-state"), box.get_attribute("data-lag")


def _quality(run: Run, since: float) -> dict[str, Any] | None:
    from streams.report import quality_path, read_report

    report = read_report(quality_path(run.settings))
    return report.model_dump(mode="json") if report and report.generated_at.timestamp() >= since else None


def _quality_shown(page: Any) -> tuple[int, float] | None:
    shown = page.locator("[data-quality-total]")
    if not shown.count():
        return None
    return int(shown.get_attribute("data-quality-total") or -1), float(shown.get_attribute("data-quality-at") or 0)


def _until(what: str, check: Any, timeout_s: float = 90) -> Any:
    return wait_for(lambda: check() or None, timeout_s, what, interval_s=0.5)


def test_protocol_page_follows_a_load_a_poison_event_a_reconcile_and_the_lag(run: Run, stack: dict[str, Any]) -> None:
    from playwright.sync_api import sync_playwright

    dataset = generate(seed=11, scale=0.03, today=TODAY)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 1100})
            page.goto(run.url)
            page.wait_for_selector('.stage[data-stage="worker"]')
            assert [page.locator(".stage").nth(i).get_attribute("data-stage") for i in range(7)] == [
                "erp", "debezium", "cdc", "worker", "commands", "sink", "casavi"]

            # a load of a small generated housing company: the page's counts follow it
            loaded_at = time.time()
            load(run.conn, dataset, replace=True)
            casavi = _wait_converged(run, 300)
            held = {e: len(casavi[kind]) for e, kind in SIM_KINDS.items()}
            _until("the page's applied counts reflecting the load",
                   lambda: all(_row(page, e)["applied-day"] >= n for e, n in held.items()))
            _until("worker and sink caught up on the page (lag 0)",
                   lambda: _stage(page, "worker") == ("ok", "0") and _stage(page, "sink") == ("ok", "0"))

            # every figure agrees with the topics: commands per entity, receipts per entity and outcome
            commands = Counter(r.key.decode().split(":", 1)[0] for r in run.topic("BRIDGE_KAFKA__COMMANDS_TOPIC"))
            outcomes = Counter((json.loads(r.value)["entity"], json.loads(r.value)["status"] == "failed")
                               for r in run.topic("BRIDGE_KAFKA__RECEIPTS_TOPIC") if r.value)

            def agrees() -> bool:
                return all(_row(page, e) == {"commands-day": commands[e], "applied-day": outcomes[(e, False)],
                                             "failed-day": outcomes[(e, True)]}
                           for e in ("property", "unit", "contract", "contact", "staff", "responsibility"))

            _until("the page's entity counts equal to the topics", agrees, 30)
            assert sum(commands.values()) > 0 and all(_row(page, e)["applied-day"] >= n for e, n in held.items())
            api = run.api()
            assert api["stages"][4]["detail"].endswith(f"{sum(commands.values()):,} records")  # commands topic
            assert _stage(page, "debezium")[0] == "ok" and _stage(page, "erp")[0] == "ok"
            connector = page.locator('tr[data-connector="erp-postgres"]').inner_text()
            assert "RUNNING" in connector
            assert page.locator("svg.plot").count() == 2

            # a poison event: a dead letter on the page, with the command to copy; the lag returns to 0
            # (the CDC topics may hold poison of earlier runs: this run's worker read them too)
            before = len(run.topic("BRIDGE_KAFKA__DLQ_TOPIC"))
            topic = stack["cdc_topics"]["person"]
            producer = KafkaProducer(bootstrap_servers=run.bootstrap)
            sent = producer.send(topic, key=b"poison",
                                 value=b'{"payload": {"op": "x", "after": {"email": "gift@example.org"}}}').get(30)
            producer.close()
            source = f"{topic}[{sent.partition}]@{sent.offset}"
            # the group of this reason: the topics may hold dead letters of other reasons too
            letters = page.locator('tr[data-letter-stage="decode"][data-reason="unsupported op \'x\'"]')
            _until("the poison event's dead letter on the page", lambda: source in letters.inner_text())
            dlq = [json.loads(r.value) for r in run.topic("BRIDGE_KAFKA__DLQ_TOPIC")]
            assert len(dlq) == before + 1
            assert (dlq[-1]["stage"], dlq[-1]["topic"], dlq[-1]["offset"]) == ("decode", topic, sent.offset)
            assert letters.get_attribute("data-count") == str(sum(
                x["stage"] == "decode" and (x.get("error_code") or x["reason"][:80]) == "unsupported op 'x'" for x in dlq))
            assert page.locator("[data-letters-total]").get_attribute("data-letters-total") == str(len(dlq))
            command = letters.locator("button[data-copy]").get_attribute("data-copy")
            assert command is not None and command.startswith("bridge dlq show --stage decode --reason ")
            shown = subprocess.run([sys.executable, "-m", "streams.cli", *shlex.split(command)[1:]],
                                   capture_output=True, text=True, timeout=120, env=run.env, cwd=REPO)
            assert shown.returncode == 0 and source in shown.stdout, shown.stderr[-2000:]
            _until("the worker's lag back at 0 after the poison event", lambda: _stage(page, "worker") == ("ok", "0"))

            # long work: with the sink stopped, changes wait on the commands topic; the page shows the
            # sink's lag and the commands still to apply, and both are gone once it caught up again
            run.services.sink.stop()
            contacts = sorted(run.casavi()["contacts"])[:20]
            number = {p["person_no"]: p["person_id"] for p in dataset.tables["person"]}
            with run.conn.transaction():
                for i, ref in enumerate(contacts):
                    run.conn.execute("UPDATE erp.person SET phone = %s WHERE person_id = %s",
                                     (f"+49 30 7{i:05d}", number[ref]))
            work = page.locator('li[data-job^="sink:"]')
            _until("the sink's backlog on the page", lambda: work.count() == 1 and _stage(page, "sink")[1] not in (None, "0"))
            waiting = int(_stage(page, "sink")[1] or 0)
            sink_work = next(w for w in run.api()["progress"] if w["job"].startswith("sink:"))
            assert sink_work["total"] - sink_work["done"] > 0 and waiting > 0
            assert re.search(r"[\d,]+ of [\d,]+ commands", work.inner_text())
            run.services.sink.start()
            _until("the sink caught up: lag 0, no long work left",
                   lambda: _stage(page, "sink") == ("ok", "0") and work.count() == 0, 120)
            _wait_converged(run, 120)

            # a reconcile: its result on the page, what it read back equal to the simulator's entities
            proc = subprocess.run([sys.executable, "-m", "streams.cli", "reconcile"], capture_output=True, text=True,
                                  timeout=180, env=run.env, cwd=REPO)
            assert proc.returncode == 0, proc.stderr[-3000:]
            report = json.loads((run.settings.stack.state_dir / "reconcile-report.json").read_text())
            _until("the reconcile on the page", lambda: page.locator(f'[data-reconcile-at="{report["at"]:.0f}"]').count())
            casavi = run.casavi()
            reconciled = run.api()["reconcile"]
            assert {e: reconciled["counts"][e]["observed"] for e in SIM_KINDS} == {
                e: len(casavi[kind]) for e, kind in SIM_KINDS.items()}
            assert reconciled["missing"] == reconciled["different"] == reconciled["extra"] == 0

            quality = _until("the worker's data-quality report of this load", lambda: _quality(run, loaded_at))
            _until("the data-quality report on the page", lambda: _quality_shown(page) == (
                len(quality["cases"]), round(datetime.fromisoformat(quality["generated_at"]).timestamp(), 3)))

            RESULTS.mkdir(parents=True, exist_ok=True)
            shot = RESULTS / f"protocol-page-{time.strftime('%Y%m%d-%H%M%S')}.png"
            page.screenshot(path=str(shot), full_page=True)
            html = page.content()
        finally:
            browser.close()

    # reference ids, counts and reasons: no name, e-mail address or phone number of a person
    assert "gift@example.org" not in html
    for person in dataset.tables["person"]:
        for field in ("email", "phone", "last_name"):
            value = person.get(field)
            assert not value or len(str(value)) < 5 or str(value) not in html, field
    print(f"screenshot: {shot}")
