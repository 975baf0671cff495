"""casavi bridge benchmark: one run against the real local stack.

    python bench/run.py [--quick] [--name NAME] [--skip a,b,c,e,p,t] [--rate 50] [--duration 60]
                        [--events 200000] [--scale 1.0] [--requests-per-minute 6000]
                        [--import-model-only] [--stack-down]

Figures (see bench/README.md):
  (a) latency COMMIT in PostgreSQL -> casavi simulator received the import (p50/p95/p99)
      at a steady rate of single-row phone changes
  (b) worker throughput (decode + fold + project + emit) over recorded CDC events, next to
      a plain aiokafka consume + json.loads ceiling
  (c) casavi API calls per 1,000 entity changes during the bulk load of the demo company;
      with ``--requests-per-minute 80`` the initial export at casavi's production pacing, and
      with ``--import-model-only`` of the entities casavi takes in imports alone (no documents
      and tickets, which its API takes one request each)
  (d) peak RSS (VmHWM) of the worker process in (b) and (c)
  (t) (a) with a tick and a full pass over every root requested a third into the changes
  (e) warm restart: kill -9 of the worker after (a), started again, one change -> casavi
  (p) (a) again with the simulator and the sink at casavi's production pacing (80/min)

Prints a table and writes bench/results/<name>.json with a top-level ``summary`` (the keys
the performance targets are stated in; None where a run does not measure one). Never
asserts times.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import socket
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # ``python bench/run.py`` from anywhere
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import psycopg  # noqa: E402
from kafka import KafkaProducer  # noqa: E402

from bench.erp import bulk_update_round, empty_erp, person_ids_by_no  # noqa: E402
from bench.kafka_io import (  # noqa: E402
    commit_group_offsets,
    consume_ceiling,
    copy_records,
    create_topics,
    delete_topics,
    edge_timestamps_ms,
    end_offsets,
    existing_topics,
    group_members,
    group_offsets,
)
from bench.machine import cpu_seconds, machine_info, peak_rss_mib  # noqa: E402
from streams.cdc.topics import topics_by_table  # noqa: E402
from streams.demo.generate import generate, load  # noqa: E402
from streams.demo.services import BridgeServices, Service  # noqa: E402
from streams.demo.verify import compare, expected_from_db  # noqa: E402
from streams.projection.project import effective_today  # noqa: E402
from streams.settings import BridgeSettings  # noqa: E402
from streams.simulator.receipts import value_digest  # noqa: E402
from streams.stack import postgres  # noqa: E402
from streams.stack.commands import bring_down, bring_up  # noqa: E402
from streams.stack.kafka import bootstrap_servers  # noqa: E402

RESULTS_DIR = ROOT / "bench" / "results"
PRODUCTION_REQUESTS_PER_MINUTE = 80
PHASES = ("a", "b", "c", "e", "p", "t")


@dataclass(frozen=True)
class Config:
    rate: float  # (a) changes per second
    duration_s: float  # (a)
    events: int  # (b) recorded CDC events
    record_scale: float  # (b) dataset scale for recording
    scale: float  # (c) bulk load scale (1.0: 100 properties, 3,000 units, 5,000 persons, 4,000 contracts)
    seed: int
    requests_per_minute: int
    quick: bool
    import_model_only: bool = False  # (c) without documents and tickets


FULL = {"rate": 50.0, "duration_s": 60.0, "events": 200_000, "record_scale": 1.0, "scale": 1.0}
QUICK = {"rate": 20.0, "duration_s": 10.0, "events": 20_000, "record_scale": 0.2, "scale": 0.1}


def say(msg: str = "") -> None:
    print(msg, flush=True)


def now_ms() -> float:
    return time.time() * 1000.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None, "p99": None, "min": None, "max": None, "mean": None}
    if len(values) == 1:
        v = values[0]
        return {"p50": v, "p95": v, "p99": v, "min": v, "max": v, "mean": v}
    q = statistics.quantiles(values, n=100, method="inclusive")
    return {"p50": q[49], "p95": q[94], "p99": q[98], "min": min(values), "max": max(values),
            "mean": statistics.fmean(values)}


def _round(value: float | None, digits: int = 1) -> float | None:
    return round(value, digits) if value is not None else None


def calls(stats: dict[str, Any]) -> int:
    return sum(int(n) for n in stats["requests"].values())


QUIET_S = 3.0  # no write call for this long: compare casavi with the projection
RECHECK_S = 15.0  # compare again after this long even without a write (jobs applied late)


def stats_delta(before: dict[str, Any], after: dict[str, Any]) -> dict[str, int]:
    return {"requests": calls(after) - calls(before),
            "write_calls": int(after["write_calls"]) - int(before["write_calls"]),
            "import_items": int(after["import_items"]) - int(before["import_items"])}


class Bench:
    """State of one run: settings, ids, the processes it started, what it measured."""

    def __init__(self, settings: BridgeSettings, config: Config, name: str) -> None:
        self.settings = settings
        self.config = config
        self.name = name
        self.run_id = "bench-" + time.strftime("%Y%m%d-%H%M%S") + f"-{random.randrange(16**4):04x}"
        self.bootstrap = bootstrap_servers(settings.stack)
        self.cdc_prefix = settings.kafka.cdc_topic_prefix
        self.log_dir = settings.stack.state_dir / "logs" / self.run_id
        self.today: date = effective_today(settings.sync)
        self.results: dict[str, Any] = {}
        self.bulk_worker_pid: int | None = None  # the worker of (c), until (e) starts another
        self.notes: list[str] = []
        self.services: BridgeServices | None = None
        self.bench_worker: Service | None = None
        self.app_ids: list[str] = []
        self.topics: list[str] = []  # created by this run, deleted at the end
        self.files: list[Path] = []

    # --- environment ------------------------------------------------------------------

    def env(self, tag: str, cdc_prefix: str) -> dict[str, str]:
        """Environment of the bridge's processes: this run's own groups, topics and store."""
        app_id = f"{self.run_id}-{tag}"
        self.app_ids.append(app_id)
        env = dict(os.environ)
        env.update({
            "BRIDGE_STACK__HOME": str(self.settings.stack.home),
            "BRIDGE_KAFKA__BOOTSTRAP_SERVERS": self.bootstrap,
            "BRIDGE_KAFKA__CDC_TOPIC_PREFIX": cdc_prefix,
            "BRIDGE_KAFKA__WORKER_APP_ID": app_id,
            "BRIDGE_KAFKA__SINK_GROUP_ID": f"{app_id}-sink",
            "BRIDGE_KAFKA__COMMANDS_TOPIC": f"casavi.commands.{app_id}",
            "BRIDGE_KAFKA__DLQ_TOPIC": f"casavi.dlq.{app_id}",
            "BRIDGE_KAFKA__TICKS_TOPIC": f"bridge.ticks.{app_id}",
            # receipts and content of this run only: a new worker reads the receipts topic from
            # its beginning, and earlier runs would leave it hundreds of thousands of receipts
            "BRIDGE_KAFKA__RECEIPTS_TOPIC": f"casavi.receipts.{app_id}",
            "BRIDGE_KAFKA__CONTENT_TOPIC": f"casavi.content.{app_id}",
            "BRIDGE_KAFKA__STORE": "rocksdb://",
            "BRIDGE_CASAVI__SYSTEM": "test",
            "BRIDGE_CASAVI__REQUESTS_PER_MINUTE": str(self.config.requests_per_minute),
            "BRIDGE_LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "WARNING"),
        })
        self.topics += [env["BRIDGE_KAFKA__COMMANDS_TOPIC"], env["BRIDGE_KAFKA__DLQ_TOPIC"],
                        env["BRIDGE_KAFKA__TICKS_TOPIC"], env["BRIDGE_KAFKA__RECEIPTS_TOPIC"],
                        env["BRIDGE_KAFKA__CONTENT_TOPIC"]]
        return env

    def connect(self) -> psycopg.Connection[Any]:
        return psycopg.connect(postgres.conninfo(self.settings.stack), autocommit=True)

    def sim_get(self, path: str) -> Any:
        assert self.services is not None
        return httpx.get(f"{self.services.sim_url}{path}", timeout=60).json()

    # --- (c) bulk load, and the running pipeline (a) needs -----------------------------

    def start_pipeline(self, conn: psycopg.Connection[Any]) -> None:
        """Empty ERP, a worker that starts at the current end of the CDC topics, sink, simulator."""
        offsets = empty_erp(conn, self.bootstrap, self.cdc_prefix)
        env = self.env("live", self.cdc_prefix)
        app_id = env["BRIDGE_KAFKA__WORKER_APP_ID"]
        commit_group_offsets(self.bootstrap, app_id, offsets)
        committed = group_offsets(self.bootstrap, app_id)
        if any(committed.get(t, 0) != o for t, o in offsets.items() if o > 0):
            raise RuntimeError("could not set the worker's start offsets; it would replay the CDC history")
        sim_db = self.settings.stack.state_dir / f"casavi-sim-{self.run_id}.sqlite"
        self.files.append(sim_db)
        self.services = BridgeServices(env, self.log_dir, sim_port=free_port(), sim_db=sim_db)
        self.services.start()
        services = self.services
        for group in (app_id, env["BRIDGE_KAFKA__SINK_GROUP_ID"]):
            deadline = time.monotonic() + 120
            while group_members(self.bootstrap, group) == 0:
                services.check()
                if time.monotonic() > deadline:
                    raise TimeoutError(f"consumer group {group} did not become stable")
                time.sleep(0.5)

    def wait_converged(self, conn: psycopg.Connection[Any], timeout_s: float) -> float:
        """Until casavi equals the projection of the ERP; returns the seconds until the last
        write call before that. Polls the simulator's counters (cheap) and reads its whole
        state only once the writes have been quiet for ``QUIET_S`` (again after further
        writes, or ``RECHECK_S`` later): at a million rows a state dump every second would
        take the machine from what it measures."""
        assert self.services is not None
        started = time.monotonic()
        expected = expected_from_db(conn, self.settings.sync, self.today)
        last_line, last_verdict, writes, last_write = "", "", -1, started
        compared: tuple[int, float] | None = None  # write calls and time of the last full comparison
        while True:
            self.services.check()
            stats = self.sim_get("/_sim/stats")
            now = time.monotonic()
            if int(stats["write_calls"]) != writes:
                writes, last_write = int(stats["write_calls"]), now
            line = "    casavi: " + ", ".join(f"{e} {n}" for e, n in sorted(stats.get("entities", {}).items()))
            if line != last_line:
                say(line)
                last_line = line
            quiet = now - last_write >= QUIET_S
            if quiet and (compared is None or compared[0] != writes or now - compared[1] >= RECHECK_S):
                result = compare(expected, self.sim_get("/_sim/state"))
                compared = (writes, time.monotonic())
                if result.equal:
                    return last_write - started
                verdict = f"    not equal yet: {result.summary()}"
                if verdict != last_verdict:
                    say(verdict)
                    last_verdict = verdict
            if now - started > timeout_s:
                raise TimeoutError(f"casavi not equal to the projection after {timeout_s:.0f}s")
            time.sleep(0.5)

    def phase_c(self, conn: psycopg.Connection[Any], report: bool) -> None:
        cfg = self.config
        say(f"(c) bulk load of the demo housing company (scale {cfg.scale}) with simulator, worker, sink ...")
        self.start_pipeline(conn)
        assert self.services is not None
        before = self.sim_get("/_sim/stats")
        dataset = generate(cfg.seed, cfg.scale, self.today)
        if cfg.import_model_only:
            for table in ONE_CALL_TABLES:
                dataset.tables[table] = []
        started = time.monotonic()
        loaded = load(conn, dataset)
        load_s = time.monotonic() - started
        sync_s = self.wait_converged(conn, timeout_s=3600)
        after = self.sim_get("/_sim/stats")
        worker_pid = self.bulk_worker_pid = self.services.worker.proc.pid if self.services.worker.proc else None
        rss = peak_rss_mib(worker_pid) if worker_pid else None
        if not report:
            say(f"    synced in {sync_s:.1f}s (setup for (a))")
            return
        delta = stats_delta(before, after)
        rows = sum(loaded.values())
        self.results["c_bulk_load"] = {
            "scale": cfg.scale,
            "import_model_only": cfg.import_model_only,
            "requests_per_minute": cfg.requests_per_minute,
            "rows_loaded": {t: n for t, n in loaded.items() if n},
            "cdc_row_changes": rows,
            "entities_in_casavi": after.get("entities", {}),
            "load_commit_s": round(load_s, 3),
            "commit_to_casavi_equal_s": round(sync_s, 1),
            "casavi_calls": delta["requests"],
            "write_calls": delta["write_calls"],
            "import_items": delta["import_items"],
            "requests_by_endpoint": after["requests"],
            "items_by_entity_and_status": after["items"],
            "calls_per_1000_entity_changes": round(1000 * delta["requests"] / max(delta["import_items"], 1), 2),
            "calls_per_1000_cdc_row_changes": round(1000 * delta["requests"] / max(rows, 1), 2),
            "minutes_at_80_requests_per_minute": round(delta["requests"] / PRODUCTION_REQUESTS_PER_MINUTE, 1),
            "write_minutes_at_80_requests_per_minute": round(delta["write_calls"] / PRODUCTION_REQUESTS_PER_MINUTE, 1),
        }
        self.results.setdefault("d_peak_rss_mib", {})["worker_c_bulk_load"] = _round(rss)

    # --- (a) latency ------------------------------------------------------------------

    def phase_a(self, conn: psycopg.Connection[Any], key: str = "a_latency",
                at_third: Callable[[], None] | None = None) -> None:
        cfg = self.config
        assert self.services is not None
        n = max(1, round(cfg.rate * cfg.duration_s))
        say(f"({key[0]}) latency: {n} phone changes at {cfg.rate:g}/s for {cfg.duration_s:g}s ...")
        state = self.sim_get("/_sim/state")
        persons = person_ids_by_no(conn)
        synced = sorted(ref for ref, doc in state["contacts"].items() if not doc.get("archived") and ref in persons)
        if not synced:
            raise RuntimeError("no synced contacts to change")
        salt = random.randrange(1000)
        before = self.sim_get("/_sim/stats")
        since_ms = int(now_ms()) - 1000
        changes: list[tuple[str, str, float]] = []  # (contact ref, digest of the new phone, commit ms)
        started = time.monotonic()
        behind = 0
        for i in range(n):
            slot = started + i / cfg.rate
            delay = slot - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            elif delay < -1.0 / cfg.rate:
                behind += 1
            if at_third is not None and i == n // 3:
                at_third()
            ref = synced[i % len(synced)]
            phone = f"+49 30 9{salt:03d}{i:06d}"
            with conn.transaction():
                conn.execute("UPDATE erp.person SET phone = %s WHERE person_id = %s", (phone, persons[ref]))
            changes.append((ref, value_digest(phone), now_ms()))
        schedule_s = time.monotonic() - started
        received = self.wait_receipts(changes, since_ms, timeout_s=120)
        after = self.sim_get("/_sim/stats")
        worker = self.services.worker.proc
        if worker is not None and "d_peak_rss_mib" in self.results:
            # the worker of the bulk load, or the one started again in (e) on the state it left
            which = "worker_c_bulk_load_then_a_latency" if worker.pid == self.bulk_worker_pid else \
                "worker_restarted_then_p_latency"
            self.results["d_peak_rss_mib"][which] = _round(peak_rss_mib(worker.pid))
        latencies = [received[i] - changes[i][2] for i in sorted(received)]
        delta = stats_delta(before, after)
        self.results[key] = {
            "rate_per_s": cfg.rate,
            "duration_s": cfg.duration_s,
            "changes": n,
            "achieved_rate_per_s": round(n / schedule_s, 2) if schedule_s > 0 else None,
            "changes_behind_schedule": behind,
            "matched": len(received),
            "latency_ms": {k: (round(v, 1) if v is not None else None) for k, v in percentiles(latencies).items()},
            "casavi_calls": delta["requests"],
            "write_calls": delta["write_calls"],
            "import_items": delta["import_items"],
            "distinct_contacts": min(n, len(synced)),
        }

    def wait_receipts(self, changes: list[tuple[str, str, float]], since_ms: int, timeout_s: float,
                      interval_s: float = 1.0) -> dict[int, int]:
        """``{index of a change: ms casavi received it}`` for the phone changes ``(contact ref,
        digest of the new phone, commit ms)``, from the simulator's receipts."""
        assert self.services is not None
        pending = {digest: (index, ref) for index, (ref, digest, _) in enumerate(changes)}
        received: dict[int, int] = {}
        deadline = time.monotonic() + timeout_s
        while pending and time.monotonic() < deadline:
            time.sleep(interval_s)
            self.services.check()
            for receipt in self.sim_get(f"/_sim/receipts?since_ms={since_ms}")["receipts"]:
                if receipt["entity"] != "contact" or receipt["status"] == "failed":
                    continue
                hit = pending.get(receipt["fields"].get("telephone", ""))
                if hit is not None and hit[1] == receipt["id"]:
                    index = hit[0]
                    received[index] = min(received.get(index, receipt["received_at_ms"]), receipt["received_at_ms"])
            for index in received:
                pending.pop(changes[index][1], None)
        return received

    # --- (t) a pass over every root while changes stream --------------------------------------

    def phase_t(self, conn: psycopg.Connection[Any]) -> None:
        """(a) with a tick and a pass over every root (``reproject``: every root projected again
        in chunks between the live changes; only what differs is sent) requested a third into
        the changes."""
        assert self.services is not None
        topic = self.services.env["BRIDGE_KAFKA__TICKS_TOPIC"]

        def request_pass() -> None:
            producer = KafkaProducer(bootstrap_servers=self.bootstrap, acks="all")
            for kind in ("tick", "reproject"):
                producer.send(topic, key=kind.encode(), value=json.dumps({"kind": kind, "at": time.time()}).encode())
            producer.flush()
            producer.close()

        say("(t) a tick and a full pass over every root while changes stream")
        self.phase_a(conn, key="t_latency_during_pass", at_third=request_pass)

    # --- (p) latency at production pacing ---------------------------------------------------

    def phase_p(self, conn: psycopg.Connection[Any]) -> None:
        """(a) again with casavi's production pacing: the simulator refuses more than 80
        requests/min (429) and the sink paces itself at 80/min."""
        assert self.services is not None
        services = self.services
        services.sink.stop()
        services.sim.stop()
        rate = str(PRODUCTION_REQUESTS_PER_MINUTE)
        services.sim.args = [rate if prev == "--rate-limit" else a
                             for prev, a in zip(["", *services.sim.args], services.sim.args)]
        services.sink.env["BRIDGE_CASAVI__REQUESTS_PER_MINUTE"] = rate
        services.start_sim()
        services.sink.start()
        say(f"(p) production pacing: simulator and sink at {rate} requests/min")
        self.phase_a(conn, key="p_latency_production_pacing")
        self.results["p_latency_production_pacing"]["requests_per_minute"] = PRODUCTION_REQUESTS_PER_MINUTE

    # --- (e) warm restart --------------------------------------------------------------------

    def phase_e(self, conn: psycopg.Connection[Any]) -> None:
        """kill -9 of the worker on its state, started again at once (as a supervisor does), one
        ERP change committed right after the start: seconds until casavi has that change."""
        assert self.services is not None
        worker = self.services.worker
        say("(e) warm restart: kill -9 of the worker, started again, one change ...")
        state = self.sim_get("/_sim/state")
        persons = person_ids_by_no(conn)
        ref = next(r for r, doc in sorted(state["contacts"].items()) if not doc.get("archived") and r in persons)
        if worker.proc is None:
            raise RuntimeError("the worker is not running")
        app_id = worker.env["BRIDGE_KAFKA__WORKER_APP_ID"]
        images = list(self.settings.stack.home.glob(f"**/{app_id}/**/state-image-*.pickle"))
        worker.proc.kill()
        worker.proc.wait()
        since_ms = int(now_ms()) - 1000
        started = now_ms()
        worker.start()
        phone = f"+49 30 8{random.randrange(10**6):06d}"
        with conn.transaction():
            conn.execute("UPDATE erp.person SET phone = %s WHERE person_id = %s", (phone, persons[ref]))
        committed = now_ms()
        received = self.wait_receipts([(ref, value_digest(phone), committed)], since_ms, timeout_s=300,
                                      interval_s=0.2)
        at = received.get(0)
        self.results["e_warm_restart"] = {
            "rows": self.results.get("c_bulk_load", {}).get("cdc_row_changes"),
            "first_change_in_casavi_s": None if at is None else round((at - started) / 1000, 1),
            "commit_to_casavi_s": None if at is None else round((at - committed) / 1000, 1),
            # a state image was on disk when the worker was killed (BRIDGE_WORKER__IMAGE_INTERVAL_S)
            "state_image": bool(images),
        }

    # --- (b) throughput ------------------------------------------------------------------

    def record_events(self, conn: psycopg.Connection[Any]) -> dict[str, tuple[int, int]]:
        """Capture real Debezium events: empty ERP, load a dataset, then bulk update rounds
        until at least ``events`` records; returns the first ``events`` of them as ranges."""
        cfg = self.config
        start = empty_erp(conn, self.bootstrap, self.cdc_prefix)
        topics = topics_by_table(self.cdc_prefix)
        dataset = generate(cfg.seed, cfg.record_scale, self.today)
        segments: list[tuple[str, int]] = [(t, n) for t, n in load(conn, dataset).items() if n]
        total = sum(n for _, n in segments)
        round_no = 0
        while total < cfg.events:
            done = bulk_update_round(conn, round_no)
            round_no += 1
            if done.rows:
                segments.append((done.table, done.rows))
                total += done.rows
            elif round_no > 8:
                raise RuntimeError("bulk updates change no rows")
        expected: dict[str, int] = {}
        for table, n in segments:
            expected[topics[table]] = expected.get(topics[table], 0) + n
        deadline = time.monotonic() + 1800
        while True:
            ends = end_offsets(self.bootstrap, expected)
            missing = sum(max(0, start.get(t, 0) + n - ends[t]) for t, n in expected.items())
            if not missing:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"Debezium did not capture {missing} of {total} events")
            time.sleep(0.5)
        extra = sum(ends[t] - start.get(t, 0) - n for t, n in expected.items())
        if extra:
            self.notes.append(f"(b) {extra} CDC records beyond the expected ones were captured meanwhile")
        take: dict[str, int] = {}
        left = cfg.events
        for table, n in segments:  # the first ``events`` in commit order: a prefix of every topic
            part = min(n, left)
            take[topics[table]] = take.get(topics[table], 0) + part
            left -= part
        self.results.setdefault("b_throughput", {}).update({
            "dataset_scale": cfg.record_scale, "dataset_rows": dataset.total_rows, "update_rounds": round_no,
            "captured_events": total,
        })
        return {t: (start.get(t, 0), start.get(t, 0) + n) for t, n in take.items() if n}

    def phase_b(self, conn: psycopg.Connection[Any]) -> None:
        cfg = self.config
        say(f"(b) worker throughput over {cfg.events:,} recorded CDC events ...")
        started = time.monotonic()
        ranges = self.record_events(conn)
        say(f"    recorded in {time.monotonic() - started:.0f}s; copying into bench topics ...")
        bench_prefix = self.run_id
        self.topics += list(topics_by_table(bench_prefix).values())
        target_of = {src: f"{bench_prefix}{src[len(self.cdc_prefix):]}" for src in ranges}
        create_topics(self.bootstrap, topics_by_table(bench_prefix).values())
        copied = asyncio.run(copy_records(self.bootstrap, ranges, target_of))
        if copied.records != cfg.events:
            raise RuntimeError(f"copied {copied.records} records, expected {cfg.events}")
        say(f"    copied {copied.records:,} records ({copied.bytes / 2**20:.0f} MiB) in {copied.seconds:.0f}s;"
            " reference ceiling ...")
        ceiling = asyncio.run(consume_ceiling(self.bootstrap, list(target_of.values()), cfg.events, 1800))
        say(f"    ceiling {ceiling.per_s:,.0f} events/s; worker ...")
        worker_result, rss = self.run_bench_worker(bench_prefix, target_of)
        worker_eps = worker_result.get("events_per_s")
        self.results["b_throughput"].update({
            "events": cfg.events,
            "events_by_table": {src.rsplit(".", 1)[-1]: end - begin for src, (begin, end) in ranges.items()},
            "bytes": copied.bytes,
            **worker_result,
            "ceiling_events_per_s": round(ceiling.per_s, 1),
            "ceiling_events": ceiling.records,
            "ratio_worker_to_ceiling": round(worker_eps / ceiling.per_s, 3) if worker_eps and ceiling.per_s else None,
        })
        self.results.setdefault("d_peak_rss_mib", {})["worker_b_throughput"] = _round(rss)

    def run_bench_worker(self, bench_prefix: str, target_of: dict[str, str]) -> tuple[dict[str, Any], float | None]:
        cfg = self.config
        env = self.env("replay", bench_prefix)
        app_id = env["BRIDGE_KAFKA__WORKER_APP_ID"]
        status_path = self.settings.stack.home / "state" / "worker-status.json"
        wanted = {dst: n for dst, n in end_offsets(self.bootstrap, target_of.values()).items() if n}
        worker = Service("bench-worker", ["worker"], env, self.log_dir)
        self.bench_worker = worker
        spawned = time.time()
        worker.start()
        assert worker.proc is not None
        pid = worker.proc.pid
        first: dict[str, Any] | None = None
        last: dict[str, Any] | None = None
        cpu_first: tuple[float, float] | None = None
        rss: float | None = None
        next_offsets_check = 0.0
        consumed_at: float | None = None
        deadline = time.monotonic() + 3600
        while True:
            worker.check()
            if time.monotonic() > deadline:
                raise TimeoutError("the bench worker did not consume every event")
            try:
                status = json.loads(status_path.read_text())
            except (OSError, ValueError):
                status = None
            if status and status.get("pid") == pid:
                if first is None:
                    first, cpu_first = status, cpu_seconds(pid)
                last = status
            rss = max(filter(None, (rss, peak_rss_mib(pid))), default=None)
            if consumed_at is None and time.monotonic() >= next_offsets_check:
                next_offsets_check = time.monotonic() + 1.0
                committed = group_offsets(self.bootstrap, app_id)
                if all(committed.get(t, 0) >= n for t, n in wanted.items()):
                    consumed_at = time.time()
            # every event read, and the roots it deferred (a backlog) projected, as a status written
            # after that tells
            if consumed_at is not None and last is not None and float(last["updated_at"]) >= consumed_at \
                    and not last.get("pending_roots") and not last.get("queued_roots"):
                break
            time.sleep(0.1)
        rss = max(filter(None, (rss, peak_rss_mib(pid))), default=None)
        cpu_last = cpu_seconds(pid)
        worker.stop()
        commands_topic = env["BRIDGE_KAFKA__COMMANDS_TOPIC"]
        edges = edge_timestamps_ms(self.bootstrap, commands_topic)
        if first is None or edges is None:
            raise RuntimeError("the bench worker wrote no status or no commands")
        n_commands, first_cmd_ms, last_cmd_ms = edges
        end_s = last_cmd_ms / 1000
        if last is not None and int(last["events"]) >= cfg.events:
            end_s = max(end_s, float(last["updated_at"]))
        begin_s = float(first["updated_at"])
        measured_events = cfg.events - int(first["events"])
        seconds = end_s - begin_s
        return {
            "events_per_s": round(measured_events / seconds, 1) if seconds > 0 else None,
            "measured_events": measured_events,
            "measured_s": round(seconds, 2),
            "startup_s": round(begin_s - spawned, 2),
            "events_per_s_including_startup": round(cfg.events / (end_s - spawned), 1),
            "commands_emitted": n_commands,
            "worker_status_last": {k: last.get(k) for k in ("batches", "events", "changes", "commands", "dead_letters")}
            if last else None,
            "first_command_after_spawn_s": round(first_cmd_ms / 1000 - spawned, 2),
            # CPU per measured event (from the first status update until the worker is stopped):
            # the main thread (the event loop: batches, Faust's delivery) and the others (Faust's
            # consumer thread: fetching and unpacking records)
            "cpu_us_per_event": None if cpu_first is None or cpu_last is None or not measured_events else {
                "main_thread": round((cpu_last[0] - cpu_first[0]) / measured_events * 1e6, 1),
                "other_threads": round((cpu_last[1] - cpu_first[1]) / measured_events * 1e6, 1)},
        }, rss

    # --- cleanup ---------------------------------------------------------------------------

    def stop_processes(self) -> None:
        if self.bench_worker is not None:
            self.bench_worker.stop()
        if self.services is not None:
            self.services.stop()
            self.services = None

    def cleanup(self, keep_topics: bool) -> None:
        self.stop_processes()
        for path in self.files:
            for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
                p.unlink(missing_ok=True)
        for app_id in self.app_ids:
            shutil.rmtree(self.settings.stack.state_dir / "worker" / app_id, ignore_errors=True)
        if keep_topics:
            return
        try:
            present = existing_topics(self.bootstrap)
            changelogs = [t for t in present if any(t.startswith(f"{a}-") for a in self.app_ids)]
            delete_topics(self.bootstrap, [*self.topics, *changelogs])
        except Exception as exc:  # noqa: BLE001 - cleanup is best effort
            say(f"could not delete this run's topics: {type(exc).__name__}")


# --- output -------------------------------------------------------------------------------------


BULK_ENTITIES = 100_000  # the bulk load the summary prices at production pacing
IMPORT_MODEL_ENTITIES = frozenset({"contact", "property", "unit", "contract", "responsibility", "staff"})
# ERP tables whose casavi entities (documents, files, tickets, comments, posts) take a request each
ONE_CALL_TABLES = ("document", "ticket", "ticket_note", "ticket_document")


def summary(results: dict[str, Any]) -> dict[str, Any]:
    """The figures the performance targets are stated in (README: "Benchmark"); None where the
    run did not measure them."""
    c, a, b = results.get("c_bulk_load", {}), results.get("a_latency", {}), results.get("b_throughput", {})
    d = results.get("d_peak_rss_mib", {})
    rss = [v for v in d.values() if v is not None]
    in_casavi: dict[str, int] = c.get("entities_in_casavi", {})
    entities = sum(in_casavi.values())
    # import items are counted for the entities of the import model and documents; tickets, posts,
    # comments and files are one call each (their endpoints take one at a time)
    itemised = sum(n for e, n in in_casavi.items() if e in c.get("items_by_entity_and_status", {}))
    calls: dict[str, int] = c.get("requests_by_endpoint", {})
    imports = calls.get("POST /import", 0)
    import_model_calls = (imports + max(calls.get("GET /jobs/{id}", 0) - calls.get("POST /documents", 0), imports)
                          + calls.get("POST /staff", 0) + calls.get("POST /authenticate", 0))
    import_model_entities = sum(n for e, n in in_casavi.items() if e in IMPORT_MODEL_ENTITIES)
    return {
        "rows": max(c.get("cdc_row_changes", 0), b.get("dataset_rows", 0)) or None,
        # a worker with the state loaded and streaming: the one started again on it in (e), through
        # (p); without (e), the highest peak of the run
        "worker_rss_mib": d.get("worker_restarted_then_p_latency") or (max(rss) if rss else None),
        # the worker that built the state from the bulk load of (c), its peak during the load
        "worker_rss_mib_bulk_load": d.get("worker_c_bulk_load"),
        "warm_restart_s": results.get("e_warm_restart", {}).get("first_change_in_casavi_s"),
        "p99_ms": a.get("latency_ms", {}).get("p99"),
        "p99_ms_production_pacing": results.get("p_latency_production_pacing", {}).get("latency_ms", {}).get("p99"),
        "throughput_ratio": b.get("ratio_worker_to_ceiling"),
        "items_per_entity": round(c["import_items"] / itemised, 2) if itemised else None,
        "bulk_minutes_at_80_per_min": round(c["casavi_calls"] * BULK_ENTITIES / entities / PRODUCTION_REQUESTS_PER_MINUTE,
                                            1) if entities else None,
        # the same for the import model alone (contacts, properties, units, contracts, staff,
        # responsibilities: POST /import and its job polls, /staff); the rest is one call per entity
        "bulk_minutes_import_model_at_80_per_min": round(
            import_model_calls * BULK_ENTITIES / import_model_entities / PRODUCTION_REQUESTS_PER_MINUTE, 1)
        if import_model_entities else None,
        "one_call_entities": entities - import_model_entities if entities else None,
        "tick_max_pause_ms": _pause(a, results.get("t_latency_during_pass", {})),
        # measured, not counted: COMMIT of the bulk load until casavi equals the projection, with
        # the simulator and the sink at casavi's production pacing, per 100,000 entities
        "initial_export_minutes_at_production_pacing": round(
            c["commit_to_casavi_equal_s"] / 60 * BULK_ENTITIES / entities, 1)
        if entities and c.get("requests_per_minute") == PRODUCTION_REQUESTS_PER_MINUTE else None,
    }


def _pause(steady: dict[str, Any], during: dict[str, Any]) -> float | None:
    """How much longer a change waited while a pass ran than it waits in steady state: the
    largest latency of (t) minus the median of (a)."""
    worst, median = during.get("latency_ms", {}).get("max"), steady.get("latency_ms", {}).get("p50")
    return None if worst is None or median is None else round(max(worst - median, 0.0), 1)


def _fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        text = f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.1f}" if abs(value) >= 10 else f"{value:,.2f}"
    else:
        text = f"{value:,}" if isinstance(value, int) else str(value)
    return f"{text} {unit}".rstrip()


def table_rows(results: dict[str, Any], config: Config) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    a = results.get("a_latency")
    if a:
        lat = a["latency_ms"]
        rows += [
            ("(a) latency COMMIT -> casavi p50 / p95 / p99",
             f"{_fmt(lat['p50'])} / {_fmt(lat['p95'])} / {_fmt(lat['p99'])} ms"),
            ("(a) changes matched", f"{a['matched']:,} of {a['changes']:,} at {_fmt(a['achieved_rate_per_s'])}/s"
                                    f" for {a['duration_s']:g}s"),
            ("(a) casavi calls during the phase", f"{a['casavi_calls']:,} ({a['write_calls']:,} imports,"
                                                  f" {a['import_items']:,} items)"),
        ]
    b = results.get("b_throughput")
    if b and "events_per_s" in b:
        rows += [
            ("(b) worker throughput", f"{_fmt(b['events_per_s'])} events/s over {b['measured_events']:,} events"
                                      f" in {b['measured_s']:.1f}s"),
            ("(b) worker start-up (spawn -> first batch)", f"{b['startup_s']:.1f} s"),
            ("(b) worker incl. start-up", f"{_fmt(b['events_per_s_including_startup'])} events/s"),
            ("(b) ceiling: aiokafka + json.loads", f"{_fmt(b['ceiling_events_per_s'])} events/s"),
            ("(b) ratio worker / ceiling", _fmt(b["ratio_worker_to_ceiling"])),
        ]
        cpu = b.get("cpu_us_per_event")
        if cpu:
            rows.append(("(b) worker CPU per event", f"{cpu['main_thread']:.1f} µs main thread, "
                                                     f"{cpu['other_threads']:.1f} µs other threads"))
    c = results.get("c_bulk_load")
    if c:
        rows += [
            ("(c) bulk load", f"{c['cdc_row_changes']:,} rows -> {c['import_items']:,} entity changes"
                              f" in {c['commit_to_casavi_equal_s']:.1f}s"
                              f" at {c.get('requests_per_minute', '?')} requests/min"
                              + (" (import model only)" if c.get("import_model_only") else "")),
            ("(c) casavi calls", f"{c['casavi_calls']:,} ({c['write_calls']:,} imports)"),
            ("(c) calls per 1,000 entity changes", _fmt(c["calls_per_1000_entity_changes"])),
            ("(c) calls per 1,000 CDC row changes", _fmt(c["calls_per_1000_cdc_row_changes"])),
            (f"(c) at {PRODUCTION_REQUESTS_PER_MINUTE} requests/min (production pacing)",
             f"{_fmt(c['minutes_at_80_requests_per_minute'])} min"
             f" (imports alone {_fmt(c['write_minutes_at_80_requests_per_minute'])} min)"),
        ]
    d = results.get("d_peak_rss_mib")
    if d:
        for key, label in (("worker_b_throughput", "(d) worker peak RSS during (b)"),
                           ("worker_c_bulk_load", "(d) worker peak RSS during (c)"),
                           ("worker_restarted_then_p_latency", "(d) worker started again in (e), peak RSS through (p)")):
            if key in d:
                rows.append((label, _fmt(d[key], "MiB")))
    for key, label in (("t_latency_during_pass", "(t) COMMIT -> casavi during a full pass"),
                       ("p_latency_production_pacing", "(p) COMMIT -> casavi at 80 requests/min")):
        lat = results.get(key)
        if lat:
            ms = lat["latency_ms"]
            rows.append((label, f"p50 {_fmt(ms['p50'], 'ms')}, p99 {_fmt(ms['p99'], 'ms')}, max {_fmt(ms['max'], 'ms')}"
                               f" ({lat['matched']}/{lat['changes']} matched)"))
    e = results.get("e_warm_restart")
    if e:
        rows.append(("(e) kill -9 of the worker -> a new change in casavi", _fmt(e["first_change_in_casavi_s"], "s")))
    return rows


def print_table(rows: list[tuple[str, str]]) -> None:
    width = max((len(k) for k, _ in rows), default=10)
    say(f"{'figure':<{width}}  value")
    say(f"{'-' * width}  {'-' * 40}")
    for key, value in rows:
        say(f"{key:<{width}}  {value}")


# --- main ---------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--name", help="results file bench/results/<name>.json (default: a timestamp)")
    p.add_argument("--quick", action="store_true", help="small scale, short phases: a smoke run")
    p.add_argument("--skip", default="", help="phases to skip, comma-separated: a,b,c,e,p,t")
    p.add_argument("--rate", type=float, help="(a) changes per second (default 50)")
    p.add_argument("--duration", type=float, help="(a) seconds (default 60)")
    p.add_argument("--events", type=int, help="(b) recorded CDC events (default 200000)")
    p.add_argument("--scale", type=float, help="(c) bulk load scale (default 1.0)")
    p.add_argument("--record-scale", type=float, help="(b) dataset scale for recording (default 1.0)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--requests-per-minute", type=int, default=6000,
                   help="BRIDGE_CASAVI__REQUESTS_PER_MINUTE for the local simulator (production: 80)")
    p.add_argument("--import-model-only", action="store_true",
                   help="(c) load the company without documents and tickets: only what casavi takes in imports")
    p.add_argument("--keep-topics", action="store_true", help="keep this run's Kafka topics")
    p.add_argument("--stack-down", action="store_true", help="stop the local stack at the end")
    return p.parse_args(argv)


def make_config(args: argparse.Namespace) -> Config:
    base = QUICK if args.quick else FULL
    return Config(
        rate=args.rate or base["rate"], duration_s=args.duration or base["duration_s"],
        events=args.events or int(base["events"]), record_scale=args.record_scale or base["record_scale"],
        scale=args.scale or base["scale"], seed=args.seed, requests_per_minute=args.requests_per_minute,
        quick=args.quick, import_model_only=args.import_model_only,
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    skip = {s.strip().lower() for s in args.skip.split(",") if s.strip()}
    unknown = skip - set(PHASES) - {"d"}
    if unknown:
        raise SystemExit(f"unknown phase(s) in --skip: {', '.join(sorted(unknown))}")
    config = make_config(args)
    name = args.name or time.strftime("%Y%m%d-%H%M%S") + ("-quick" if args.quick else "")
    settings = BridgeSettings()
    started_at = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    say(f"benchmark {name} ({'quick' if config.quick else 'full'}); stack home {settings.stack.home}")
    say("local stack (Kafka, Kafka Connect + Debezium, PostgreSQL) ...")
    bring_up(settings)
    bench = Bench(settings, config, name)
    status_versions = _stack_versions(settings)
    say(f"casavi pacing: BRIDGE_CASAVI__REQUESTS_PER_MINUTE={config.requests_per_minute} for the local simulator"
        f" (production pacing is {PRODUCTION_REQUESTS_PER_MINUTE}/min)")
    failed: str | None = None
    wall = time.monotonic()
    out = RESULTS_DIR / f"{name}.json"

    def save() -> None:
        """The results measured so far: written after every phase, so a run that stops
        keeps what it measured."""
        results = bench.results
        if "d" in skip:
            results.pop("d_peak_rss_mib", None)
        document = {
            "name": name,
            "started_at": started_at,
            "mode": "quick" if config.quick else "full",
            "elapsed_s": round(time.monotonic() - wall, 1),
            "config": {**config.__dict__, "production_requests_per_minute": PRODUCTION_REQUESTS_PER_MINUTE,
                       "skipped": sorted(skip)},
            "machine": machine_info(status_versions),
            "summary": summary(results),
            "results": results,
            "notes": bench.notes,
            "failed": failed,
        }
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(document, indent=2, sort_keys=False) + "\n")

    on_company = {"a": bench.phase_a, "t": bench.phase_t, "e": bench.phase_e, "p": bench.phase_p}
    try:
        with bench.connect() as conn:
            if ({"c"} | on_company.keys()) - skip:  # (c) builds the company and pipeline the others measure on
                bench.phase_c(conn, report="c" not in skip)
                save()
            for phase, run_phase in on_company.items():
                if phase not in skip:
                    run_phase(conn)
                    save()
            bench.stop_processes()
            if "b" not in skip:
                bench.phase_b(conn)
    except KeyboardInterrupt:
        failed = "interrupted"
    except (Exception, asyncio.CancelledError) as exc:  # noqa: BLE001 - report what was measured so far, then fail
        failed = f"{type(exc).__name__}: {exc}"
    finally:
        bench.cleanup(args.keep_topics)
        if args.stack_down:
            bring_down(settings)
    save()
    say()
    print_table(table_rows(bench.results, config))
    say()
    for note in bench.notes:
        say(f"note: {note}")
    say(f"casavi pacing {config.requests_per_minute}/min (local simulator); production pacing"
        f" {PRODUCTION_REQUESTS_PER_MINUTE}/min")
    say(f"results: {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
    if failed:
        say(f"FAILED: {failed}")
        return 1
    return 0


def _stack_versions(settings: BridgeSettings) -> dict[str, str]:
    try:
        from streams.stack.status import collect

        versions = collect(settings).get("versions", {})
        return {str(k): str(v) for k, v in versions.items()}
    except Exception:  # noqa: BLE001 - versions are informative only
        return {}


if __name__ == "__main__":
    sys.exit(main())
