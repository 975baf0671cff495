"""``bridge demo``: the whole bridge on this machine with a generated housing company.

0. the local stack's data is purged, so casavi sees one housing company, not the CDC
   history of earlier runs (``--no-reset`` keeps it; the worker then replays that history)
1. ``bridge stack up`` (Kafka, Kafka Connect + Debezium, PostgreSQL)
2. casavi simulator, worker and sink as child processes (logs under <stack home>/state/logs)
3. a deterministic housing company loaded into PostgreSQL
4. progress until casavi holds exactly the projection of the ERP, then a summary
5. probe edits (latency from COMMIT to casavi) and a burst of live changes

The demo turns on the owner and caretaker licences and enables the person types TENANT and
OWNER (prospects stay out), unless ``BRIDGE_SYNC__…`` says otherwise, so the summary shows
owners, caretakers, staff with their property responsibilities and the data-quality report.
It also runs ``bridge hooks``; the summary shows the documents, tickets, pinboard posts,
comments and attachments in casavi, and a ticket and a comment written in the simulator's
portal arriving on the inbound topic for the ERP.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from datetime import date
from typing import Any

import httpx
import psycopg

from streams.demo.generate import apply_changes, generate, live_changes, load
from streams.demo.services import BridgeServices, wait_for
from streams.demo.verify import Comparison, compare, expected_from_db
from streams.ops.progress import Meter, duration
from streams.projection.project import effective_today
from streams.report import quality_path, read_report
from streams.settings import BridgeSettings, SyncSettings
from streams.stack import postgres
from streams.stack.commands import bring_down, bring_up
from streams.stack.kafka import bootstrap_servers


def _say(msg: str) -> None:
    print(msg, flush=True)


# What the demo turns on, unless the environment sets it (BRIDGE_SYNC__<NAME>)
DEMO_SYNC: dict[str, object] = {"owner_licence": True, "caretaker_licence": True, "person_types": ["TENANT", "OWNER"]}


def demo_sync(sync: SyncSettings) -> SyncSettings:
    return sync.model_copy(update={k: v for k, v in DEMO_SYNC.items() if f"BRIDGE_SYNC__{k.upper()}" not in os.environ})


def run_env(settings: BridgeSettings, run_id: str) -> dict[str, str]:
    """Environment for the bridge's processes: this run's own consumer groups and topics,
    so every demo starts from a clean casavi and replays the CDC topics from the start."""
    env = dict(os.environ)
    sync = settings.sync
    env.update({
        "BRIDGE_SYNC__OWNER_LICENCE": str(sync.owner_licence).lower(),
        "BRIDGE_SYNC__CARETAKER_LICENCE": str(sync.caretaker_licence).lower(),
        **({"BRIDGE_SYNC__PERSON_TYPES": ",".join(sync.person_types)} if sync.person_types else {}),
        "BRIDGE_STACK__HOME": str(settings.stack.home),
        "BRIDGE_KAFKA__BOOTSTRAP_SERVERS": bootstrap_servers(settings.stack),
        "BRIDGE_KAFKA__WORKER_APP_ID": f"casavi-bridge-{run_id}",
        "BRIDGE_KAFKA__SINK_GROUP_ID": f"casavi-bridge-sink-{run_id}",
        "BRIDGE_KAFKA__COMMANDS_TOPIC": f"casavi.commands.{run_id}",
        "BRIDGE_KAFKA__DLQ_TOPIC": f"casavi.dlq.{run_id}",
        "BRIDGE_KAFKA__TICKS_TOPIC": f"bridge.ticks.{run_id}",
        "BRIDGE_KAFKA__RECEIPTS_TOPIC": f"casavi.receipts.{run_id}",
        "BRIDGE_KAFKA__CONTENT_TOPIC": f"casavi.content.{run_id}",
        "BRIDGE_KAFKA__INBOUND_TOPIC": f"casavi.inbound.{run_id}",
        "BRIDGE_INBOUND__POLL_INTERVAL_S": env.get("BRIDGE_INBOUND__POLL_INTERVAL_S", "30"),
        **({"BRIDGE_SYNC__ERP_USER": sync.erp_user} if sync.erp_user else {}),
        "BRIDGE_CASAVI__REQUESTS_PER_MINUTE": env.get("BRIDGE_CASAVI__REQUESTS_PER_MINUTE", "6000"),
    })
    return env


def sim_get(url: str, path: str) -> Any:
    return httpx.get(f"{url}{path}", timeout=10).json()


def wait_converged(conn: Any, services: BridgeServices, settings: BridgeSettings, today: date,
                   timeout_s: float, progress: bool = True, interval_s: float = 2.0) -> Comparison:
    expected = expected_from_db(conn, settings.sync, today)
    want: dict[str, int] = {}
    for key in expected:
        entity = key.split(":", 1)[0]
        want[entity] = want.get(entity, 0) + 1
    last_line = ""
    meter = Meter("casavi", "entities")

    def converged() -> Comparison | None:
        services.check()
        result = compare(expected, sim_get(services.sim_url, "/_sim/state"))
        nonlocal last_line
        done = sum(min(result.counts.get(e, 0), n) for e, n in want.items())
        seen = meter.update(done, sum(want.values()))
        pace = "" if seen.rate_per_s is None else f" ({seen.rate_per_s:,.0f} entities/s, {duration(seen.eta_s)} left)"
        line = "  casavi: " + ", ".join(f"{e} {result.counts.get(e, 0)}/{n}" for e, n in sorted(want.items())) + pace
        if progress and line != last_line:
            _say(line)
            last_line = line
        return result if result.equal else None

    return wait_for(converged, timeout_s, "casavi equal to the projection", interval_s=interval_s)


def run(args: argparse.Namespace, settings: BridgeSettings) -> int:
    started = time.monotonic()
    settings = settings.model_copy(update={"sync": demo_sync(settings.sync)})
    if args.reset:
        _say("0/5 emptying the local stack (data and CDC history; the download cache stays) ...")
        bring_down(settings, purge=True)
    _say("1/5 local stack (Kafka, Kafka Connect + Debezium, PostgreSQL) ...")
    bring_up(settings)
    run_id = time.strftime("demo-%Y%m%d-%H%M%S")
    log_dir = settings.stack.state_dir / "logs"
    sim_db = settings.stack.state_dir / f"casavi-sim-{run_id}.sqlite"
    today = effective_today(settings.sync)
    dataset = generate(args.seed, args.scale, today)
    if settings.sync.erp_user is None:  # portal tickets come into the ERP under the first staff user
        erp_user = dataset.tables["staff_user"][0]["user_no"]
        settings = settings.model_copy(update={"sync": settings.sync.model_copy(update={"erp_user": erp_user})})
    services = BridgeServices(run_env(settings, run_id), log_dir, sim_db=sim_db, hooks=True, ui_port=settings.ui.port)
    try:
        _say(f"2/5 casavi simulator on {services.sim_url}, worker, sink (logs in {log_dir}) ...")
        services.start()
        _say(f"    protocol page: {services.ui_url} (bridge ui; log {log_dir / 'ui.log'})")
        with psycopg.connect(postgres.conninfo(settings.stack), autocommit=True) as conn:
            load_started = time.monotonic()
            loaded = load(conn, dataset, replace=True)
            _say(f"3/5 housing company loaded in {time.monotonic() - load_started:.1f}s: "
                 + ", ".join(f"{t} {n}" for t, n in loaded.items() if n))
            _say("4/5 streaming into casavi ...")
            sync_started = time.monotonic()
            wait_converged(conn, services, settings, today, timeout_s=1800)
            sync_s = time.monotonic() - sync_started
            stats = sim_get(services.sim_url, "/_sim/stats")
            _say(f"    casavi equals the projection after {sync_s:.1f}s: "
                 + ", ".join(f"{e} {n}" for e, n in sorted(stats.get("entities", {}).items())))
            _say(f"    casavi calls: {sum(stats['requests'].values())} "
                 f"({stats['write_calls']} writes, {stats['import_items']} items)")
            people = people_summary(sim_get(services.sim_url, "/_sim/state"), dataset, settings, sync_started)
            people += portal_summary(sim_get(services.sim_url, "/_sim/state"), dataset)
            people += inbound_summary(services, settings, f"casavi.inbound.{run_id}")

            _say("5/5 live changes ...")
            latencies = probe_latencies(conn, services, dataset, n=20)
            burst = live_changes(dataset, args.seed, 50, today)
            burst_started = time.monotonic()
            apply_changes(conn, burst)
            wait_converged(conn, services, settings, today, timeout_s=300, progress=False, interval_s=0.2)
            events: dict[str, int] = {}
            for ch in burst:
                events[ch.event] = events.get(ch.event, 0) + 1
            _say(f"    burst of {len(burst)} row changes ({', '.join(f'{k} {v}' for k, v in sorted(events.items()))})"
                 f" in casavi after {time.monotonic() - burst_started:.1f}s")
            q = statistics.quantiles(latencies, n=100, method="inclusive")
            _say("")
            _say("summary")
            _say(f"  entities in casavi     {stats.get('entities')}")
            _say(f"  casavi calls           {sum(stats['requests'].values())} for the initial load")
            _say(f"  initial sync           {sync_s:.1f}s")
            for line in people:
                _say(f"  {line}")
            _say(f"  latency COMMIT->casavi p50 {q[49] * 1000:.0f} ms, p99 {q[98] * 1000:.0f} ms "
                 f"({len(latencies)} probe edits)")
            _say(f"  elapsed                {time.monotonic() - started:.1f}s")
        if args.keep_running:
            _say(f"running on; stop with Ctrl-C (simulator {services.sim_url}, protocol page {services.ui_url})")
            while True:
                services.check()
                time.sleep(5)
    except KeyboardInterrupt:
        pass
    finally:
        services.stop()
    return 0


def people_summary(state: dict[str, dict[str, Any]], dataset: Any, settings: BridgeSettings,
                   since: float) -> list[str]:
    """Owners, caretakers, staff and the data-quality report, as casavi and the worker have them."""
    sync = settings.sync
    contacts = {ref for ref, c in state["contacts"].items() if not c.get("archived")}
    number = {p["person_id"]: p["person_no"] for p in dataset.tables["person"]}
    owner_contracts = [c for c in state["contracts"].values() if c["type"] == "OWNER"]
    owners = {p["contactId"] for c in owner_contracts for p in c["contacts"] if p["role"] == "MAIN"}
    owners |= {number[o["person_id"]] for o in dataset.tables["property_owner"]} & contacts
    caretakers = {number[c["person_id"]] for c in dataset.tables["caretaker"]} & contacts
    responsible = sum(1 for r in state["responsibilities"].values() if r["responsible"])
    path = quality_path(settings)
    wall_since = time.time() - (time.monotonic() - since)

    def written() -> Any:
        report = read_report(path)
        return report if report is not None and report.generated_at.timestamp() >= wall_since else None

    try:
        report = wait_for(written, 60, "the data-quality report")
        counts = ", ".join(f"{rule} {n}" for rule, n in report.counts().items()) or "none"
        quality = f"{len(report.cases)} cases ({counts}): bridge report quality"
    except TimeoutError:
        quality = f"not written yet ({path})"
    return [
        f"owners                 {len(owners)} contacts, {len(owner_contracts)} OWNER contracts "
        f"(owner licence {'on' if sync.owner_licence else 'off'})",
        f"caretakers             {len(caretakers)} contacts (caretaker licence {'on' if sync.caretaker_licence else 'off'})",
        f"staff                  {len(state['staff'])} staff members, {len(state['responsibilities'])} property "
        f"responsibilities ({responsible} responsible)",
        f"data quality           {quality}",
    ]


def portal_summary(state: dict[str, dict[str, Any]], dataset: Any) -> list[str]:
    """Documents (R16), tickets, posts, comments and attachments (R17–R19) in casavi; and what
    must not be there: internal notes, tickets of BLOCKED types."""
    tickets = [t for t in state["tickets"].values() if t["status"] != "CLOSED"]
    shared = sum(1 for t in tickets if t["sharedWithProperty"])
    comments = [c for c in state["comments"].values() if not c["isInternal"] and not c.get("contactId")]
    attachments = sum(1 for c in comments if c["attachments"])
    kinds: dict[str, int] = {}
    for d in state["documents"].values():
        key = next(iter(d["sharedWith"][0]))
        kinds[key] = kinds.get(key, 0) + 1
    by = ", ".join(f"{n} by {k.removesuffix('Id')}" for k, n in sorted(kinds.items()))
    internal = {n["content"] for n in dataset.tables["ticket_note"] if n["is_internal"]}
    leaked = sum(1 for c in state["comments"].values() if any(text in c["text"] for text in internal))
    blocked_types = {t["name"] for t in dataset.tables["ticket_type"] if t["portal_mode"] == "BLOCKED"}
    blocked = sum(1 for t in state["tickets"].values() if t["type"] in blocked_types)
    return [
        f"documents              {len(state['documents'])} released documents with their content ({by})",
        f"tickets                {len(tickets)} open ({shared} shared with the property, the others with the "
        f"reporter), {len(state['tickets']) - len(tickets)} closed; {len(state['posts'])} pinboard posts",
        f"comments               {len(comments) - attachments} public notes, {attachments} attachments "
        f"(internal notes in casavi: {leaked}, tickets of BLOCKED types: {blocked})",
    ]


def inbound_summary(services: BridgeServices, settings: BridgeSettings, topic: str) -> list[str]:
    """A ticket and a comment written in the simulator's portal, as the ERP reads them from the
    inbound topic (ids and kinds only)."""
    from kafka import KafkaConsumer

    from streams.inbound.model import decode

    state = sim_get(services.sim_url, "/_sim/state")
    contracts = sorted(state["contracts"].values(), key=lambda c: c["id"])
    open_tickets = sorted(ref for ref, t in state["tickets"].items() if t["status"] != "CLOSED")
    if not contracts or not open_tickets:
        return ["inbound                nothing to write in the portal"]
    contract = contracts[0]
    unit = state["units"][contract["unitId"]]
    tenant = contract["contacts"][0]["contactId"]
    httpx.post(f"{services.sim_url}/_sim/portal/tickets", timeout=10, json={
        "propertyId": unit["propertyId"], "unitId": contract["unitId"], "contactId": tenant,
        "title": "Rauchmelder piept", "description": "Seit gestern Abend."}).raise_for_status()
    ticket = state["tickets"][open_tickets[0]]
    author = ticket.get("contactId") or tenant
    httpx.post(f"{services.sim_url}/_sim/portal/tickets/{open_tickets[0]}/comments", timeout=10,
               json={"contactId": author, "text": "Danke für die schnelle Hilfe."})
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap_servers(settings.stack).split(","),
                             auto_offset_reset="earliest", enable_auto_commit=False, group_id=None,
                             consumer_timeout_ms=1000)
    events: list[Any] = []
    try:
        def arrived() -> bool:
            events.extend(decode(r.value) for r in consumer)
            return len({e.event_id for e in events}) >= 2
        wait_for(arrived, 90, "the portal ticket and comment on the inbound topic")
    except TimeoutError:
        pass
    finally:
        consumer.close()
    lines = [f"inbound                {len(events)} events on {topic} for the ERP (bridge hooks):"]
    lines += [f"  {e.kind:<16} ticket {e.ticket_id}" + (f" (ERP ticket {e.erp_ticket_no})" if e.erp_ticket_no else "")
              + f", property {e.property_id}, contact {e.contact_id}, ERP user {e.erp_user}, via {e.source}"
              for e in events]
    return lines


def probe_latencies(conn: Any, services: BridgeServices, dataset: Any, n: int) -> list[float]:
    """Edit the phone number of synced contacts one at a time; time COMMIT -> casavi."""
    state = sim_get(services.sim_url, "/_sim/state")
    contacts = sorted(ref for ref, c in state["contacts"].items() if not c.get("archived"))
    person_by_no = {p["person_no"]: p["person_id"] for p in dataset.tables["person"]}
    latencies: list[float] = []
    for i, ref in enumerate(contacts[:n]):
        phone = f"+49 30 {900000 + i}"
        with conn.transaction():
            conn.execute("UPDATE erp.person SET phone = %s WHERE person_id = %s", (phone, person_by_no[ref]))
        committed = time.monotonic()

        def arrived(ref: str = ref, phone: str = phone) -> bool:
            return bool(sim_get(services.sim_url, "/_sim/state")["contacts"].get(ref, {}).get("telephone") == phone)

        wait_for(arrived, 60, f"probe edit {i} in casavi", interval_s=0.02)
        latencies.append(time.monotonic() - committed)
    return latencies
