"""``bridge sink``: apply the casavi commands of the outbound topic to casavi."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from pathlib import Path

from streams import gaps
from streams.commands.registry import RegistryError
from streams.ops.health import Check, Health, Heartbeat, flag
from streams.ops.server import OpsServer
from streams.settings import BridgeSettings
from streams.sink.client import CasaviClient, CasaviError, Stopped
from streams.sink.runner import SinkRunner

log = logging.getLogger(__name__)


async def serve(settings: BridgeSettings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with CasaviClient(settings.casavi, stop=stop) as client:
        runner = SinkRunner(settings, client, stop_event=stop)
        heartbeat = Heartbeat(settings.ops.stall_s)
        health = Health(heartbeat, {
            "consumer_assigned": lambda: flag("consumer_assigned", runner.assigned > 0,
                                              f"{runner.assigned} partitions assigned",
                                              "no partitions assigned (starting or rebalancing)"),
            "casavi_reachable": lambda: casavi_check(client),
        })
        server = OpsServer(settings.ops.host, settings.ops.sink_port, runner.metrics.registry, health)
        if settings.ops.sink_port:
            server.start()
        beating = asyncio.create_task(beat(heartbeat, stop))
        probing = asyncio.create_task(probe_casavi(client))
        found = gaps.check(settings.kafka, settings.kafka.sink_group_id, [settings.kafka.commands_topic], "sink")
        runner.stats.gaps = [str(g) for g in found]
        reasons = [*(["commands deleted before they were read"] if found else []),
                   *([f"casavi system switched to {settings.casavi.system}"] if system_switched(settings) else [])]
        scheduled = asyncio.create_task(reconcile_every(settings, client, stop, runner.idle if reasons else None,
                                                        "; ".join(reasons)))
        log.info("sink: %s -> casavi %s system at %s (group %s, DLQ %s, %.0f requests/min)",
                 settings.kafka.commands_topic, settings.casavi.system, settings.casavi.active.url,
                 settings.kafka.sink_group_id, settings.kafka.dlq_topic, settings.casavi.requests_per_minute)
        try:
            await runner.run()
        finally:
            scheduled.cancel()
            beating.cancel()
            probing.cancel()
            server.stop()
    log.info("sink stopped: %d batches, %d commands, %d dead letters", runner.stats.batches,
             runner.stats.commands, runner.stats.dead_lettered)


async def beat(heartbeat: Heartbeat, stop: asyncio.Event) -> None:
    """The event loop's heartbeat (``/healthz``)."""
    while not stop.is_set():
        heartbeat.beat()
        await asyncio.sleep(1.0)


async def probe_casavi(client: CasaviClient) -> None:
    """Authenticate once at start, so ``/readyz`` knows whether casavi answers before the first
    command comes."""
    try:
        await client.authenticate()
    except (CasaviError, Stopped):
        pass  # the client's reachability tells


def casavi_check(client: CasaviClient) -> Check:
    seen = client.reachability
    if seen is None:
        return Check(name="casavi_reachable", ok=False, detail="no answer from casavi yet")
    return Check(name="casavi_reachable", ok=seen.ok, detail=seen.detail)


def _system_file(settings: BridgeSettings) -> Path:
    return settings.stack.state_dir / "sink-casavi-system"


def system_switched(settings: BridgeSettings) -> bool:
    """Whether the casavi system differs from the one the last reconcile ran against (R22).
    A sink that never reconciled has nothing to compare with: no switch."""
    try:
        return _system_file(settings).read_text().strip() != settings.casavi.system
    except OSError:
        _system_file(settings).parent.mkdir(parents=True, exist_ok=True)
        _system_file(settings).write_text(settings.casavi.system)
        return False


async def reconcile_every(settings: BridgeSettings, client: CasaviClient, stop: asyncio.Event,
                          first_when: asyncio.Event | None = None, reason: str = "") -> None:
    """The scheduled reconcile (``BRIDGE_RECONCILE__INTERVAL_H``), sharing the sink's client and so
    its pacing: reading casavi back never pushes the sink over casavi's request limit.
    ``first_when``: reconcile once as soon as it is set (the sink caught up after a gap or a
    switch of casavi system, so the full sync has been applied), then on the schedule."""
    from streams.reconcile.run import reconcile

    if first_when is not None:
        waiter = asyncio.create_task(first_when.wait())
        stopper = asyncio.create_task(stop.wait())
        await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        stopper.cancel()
        if stop.is_set():
            return
        log.info("reconcile now: %s", reason)
        try:
            await reconcile(settings, client)
            _system_file(settings).write_text(settings.casavi.system)
        except Exception as exc:  # noqa: BLE001 - the scheduled runs try again
            log.warning("reconcile after start failed (%s)", type(exc).__name__)
    interval_s = settings.reconcile.interval_h * 3600
    if interval_s <= 0:
        return
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), timeout=interval_s)
            return
        except asyncio.TimeoutError:
            pass
        try:
            await reconcile(settings, client)
            _system_file(settings).write_text(settings.casavi.system)
        except Exception as exc:  # noqa: BLE001 - the next run tries again; the sink goes on
            log.warning("scheduled reconcile failed (%s); next run in %.1f h", type(exc).__name__,
                        settings.reconcile.interval_h)


def run(args: argparse.Namespace, settings: BridgeSettings) -> int:
    try:
        asyncio.run(serve(settings))
    except KeyboardInterrupt:
        return 130
    except RegistryError as exc:
        log.error("%s: the command schema could not be read (BRIDGE_KAFKA__SCHEMA_REGISTRY_URL)", exc)
        return 1
    return 0
