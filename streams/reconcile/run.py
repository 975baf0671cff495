"""``bridge reconcile``: read casavi back, compare, report, repair through the normal path.

Repairs: slots casavi lacks or holds differently go to the worker as one ``redrive``
control record per 10,000 slots (it re-projects their roots from the current ERP state and
sends them again); entities casavi holds that the projection does not (owned by this bridge)
are deleted by DELETE commands on the command topic. A contact's delete archives it with its
portal access revoked first (``portalUser`` false: seed 000's way of removing a person;
``streams/casavi/import_contract.py`` rule 5), so if casavi does not honour deletes of master
data (or refuses one), no ended tenant keeps access all the same. Entities still there although the last reconcile deleted
them are reported as ``persisting``. The report names reference ids, entities and counts only.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from kafka import KafkaProducer

from streams.commands.model import CasaviCommand, encode
from streams.commands.wire import command_schema_id
from streams.projection.model import EmittedEntry
from streams.reconcile.compare import ENTITIES, Drift, compare, ownership
from streams.reconcile.expected import read_expected
from streams.reconcile.observe import CasaviView, read_casavi
from streams.reconcile.progress import ProgressFile, progress_path
from streams.settings import BridgeSettings
from streams.sink.client import CasaviClient
from streams.worker.control import redrive_records, send_control

log = logging.getLogger(__name__)

GONE = "R13 reconcile: casavi holds it, the projection does not"


def report_path(settings: BridgeSettings) -> Path:
    return settings.stack.state_dir / "reconcile-report.json"


def _previous_extra(path: Path, system: str) -> frozenset[str]:
    try:
        report = json.loads(path.read_text())
    except (OSError, ValueError):
        return frozenset()
    if report.get("system") != system or report.get("dry_run"):
        return frozenset()
    return frozenset(report.get("extra", []))


def repair_records(drift: Drift, settings: BridgeSettings) -> tuple[list[tuple[bytes, bytes]], list[CasaviCommand]]:
    """Control records (redrive) and commands (deletes) that repair ``drift``."""
    system = settings.casavi.system
    control = redrive_records(drift.missing + drift.different, "reconcile")
    now_ms = int(time.time() * 1000)
    commands = [CasaviCommand.delete(o.entity, o.reference_id, o.parent_ids, reason=GONE,  # type: ignore[arg-type]
                                     system=system, emitted_at_ms=now_ms) for o in drift.extra]
    return control, commands


def _send(settings: BridgeSettings, control: list[tuple[bytes, bytes]], commands: list[CasaviCommand]) -> None:
    kafka = settings.kafka
    producer = KafkaProducer(bootstrap_servers=kafka.bootstrap_servers.split(","), acks="all",
                             client_id="casavi-bridge-reconcile")
    try:
        schema_id = command_schema_id(kafka) if commands else None
        for c in commands:
            producer.send(kafka.commands_topic, key=c.slot.encode(), value=encode(c, schema_id))
        producer.flush(timeout=60)
    finally:
        producer.close()
    send_control(kafka, control, "casavi-bridge-reconcile")


PAGE = 25  # entities per page of casavi's list endpoints


def estimate_requests(expected: Mapping[str, EmittedEntry], entities: frozenset[str] | None = None) -> int:
    """The read requests a reconcile makes when casavi holds what is expected: pages of
    properties, of each property's units (one at least) and of contacts (and the empty page
    that ends them)."""
    want = entities or frozenset(ENTITIES)
    properties = [e.reference_id for e in expected.values() if e.entity == "property"]
    units: Counter[str] = Counter(e.parent_ids[0] for e in expected.values() if e.entity == "unit" and e.parent_ids)
    contacts = sum(1 for e in expected.values() if e.entity == "contact")
    total = 0
    if want & {"property", "unit", "contract"}:
        total += max(1, -(-len(properties) // PAGE))
        if want & {"unit", "contract"}:
            total += sum(max(1, -(-units[p] // PAGE)) for p in properties)
    if "contact" in want:
        total += -(-contacts // PAGE) + 1
    return total


async def reconcile(settings: BridgeSettings, client: CasaviClient, *, dry_run: bool = False,
                    entities: frozenset[str] | None = None,
                    on_progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """``on_progress(requests made, requests expected in all)`` after every read request."""
    system = settings.casavi.system
    started = time.monotonic()
    expected = await asyncio.to_thread(read_expected, settings.kafka, system)
    if entities:
        expected = {k: v for k, v in expected.items() if v.entity in entities}
    estimate = estimate_requests(expected, entities)
    made = 0

    async def read(path: str, params: Mapping[str, Any] | None = None) -> Any:
        nonlocal made
        body = await client.read(path, params)
        made += 1
        if on_progress is not None:
            on_progress(made, max(estimate, made))
        return body

    progress_file = ProgressFile(progress_path(settings.stack.state_dir), system, len(expected), estimate)

    def progress(view: CasaviView) -> None:
        progress_file.update(len(view.entities), view.requests)
        if view.requests % 50 == 0:
            log.info("reconcile: %d casavi entities read with %d of about %d requests", len(view.entities),
                     view.requests, estimate)

    view = await read_casavi(read, entities, progress)
    progress_file.update(len(view.entities), view.requests, finished=True)
    if on_progress is not None:
        on_progress(made, made)  # the estimate counted what casavi should hold; it has been read
    path = report_path(settings)
    owned = ownership(settings.sync.mandanten, settings.sync.id_separator, settings.reconcile.contact_id_pattern)
    drift = compare(expected, view, owned, entities, _previous_extra(path, system))
    control, commands = repair_records(drift, settings)
    if not dry_run and (control or commands):
        await asyncio.to_thread(_send, settings, control, commands)
    report: dict[str, Any] = {
        "at": time.time(), "system": system, "dry_run": dry_run, "seconds": round(time.monotonic() - started, 1),
        "requests": view.requests, "counts": drift.counts(expected, view), "unchanged": drift.unchanged,
        "missing": drift.missing, "different": drift.different, "extra": [o.slot for o in drift.extra],
        "revoked": [o.slot for o in drift.revoke], "persisting": [o.slot for o in drift.persisting],
        "repairs": {"redriven": len(drift.missing) + len(drift.different), "deleted": len(drift.extra),
                    "revoked": len(drift.revoke)} if not dry_run else None,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(report, indent=1))
    tmp.replace(path)
    log.info("reconcile of the %s system: %d missing, %d different, %d extra (%d persisting), %d revoked "
             "(%d requests, %.0f s)%s", system, len(drift.missing), len(drift.different), len(drift.extra),
             len(drift.persisting), len(drift.revoke), view.requests,
             report["seconds"], " — dry run, nothing repaired" if dry_run else "")
    return report


def run(args: Any, settings: BridgeSettings) -> int:
    entities = frozenset(args.entity) if args.entity else None

    from streams.ops.progress import Meter, TerminalProgress

    meter = Meter("reconcile: casavi read requests", "requests")

    async def main() -> dict[str, Any]:
        with TerminalProgress() as terminal:
            async with CasaviClient(settings.casavi) as client:
                return await reconcile(settings, client, dry_run=args.dry_run, entities=entities,
                                       on_progress=lambda done, total: terminal.show(meter.update(done, total)))

    report = asyncio.run(main())
    print(f"reconcile ({report['system']} system{', dry run' if args.dry_run else ''}): "
          f"{report['requests']} casavi requests in {report['seconds']} s")
    print(f"{'entity':<10} {'expected':>9} {'in casavi':>9} {'missing':>8} {'different':>9} {'extra':>6} "
          f"{'persisting':>10} {'revoked':>7}")
    for entity in ENTITIES:
        c = report["counts"][entity]
        print(f"{entity:<10} {c['expected']:>9} {c['observed']:>9} {c['missing']:>8} {c['different']:>9} "
              f"{c['extra']:>6} {c['persisting']:>10} {c['revoked']:>7}")
    print(f"report: {report_path(settings)}")
    return 0
