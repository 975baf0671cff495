"""``bridge sink``: apply the casavi commands of the outbound topic to casavi."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal

from streams.settings import BridgeSettings
from streams.sink.client import CasaviClient
from streams.sink.runner import SinkRunner

log = logging.getLogger(__name__)


async def serve(settings: BridgeSettings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with CasaviClient(settings.casavi, stop=stop) as client:
        runner = SinkRunner(settings, client, stop_event=stop)
        scheduled = asyncio.create_task(reconcile_every(settings, client, stop))
        log.info("sink: %s -> casavi %s system at %s (group %s, DLQ %s, %.0f requests/min)",
                 settings.kafka.commands_topic, settings.casavi.system, settings.casavi.active.url,
                 settings.kafka.sink_group_id, settings.kafka.dlq_topic, settings.casavi.requests_per_minute)
        try:
            await runner.run()
        finally:
            scheduled.cancel()
    log.info("sink stopped: %d batches, %d commands, %d dead letters", runner.stats.batches,
             runner.stats.commands, runner.stats.dead_lettered)


async def reconcile_every(settings: BridgeSettings, client: CasaviClient, stop: asyncio.Event) -> None:
    """The scheduled reconcile (``BRIDGE_RECONCILE__INTERVAL_H``), sharing the sink's client and so
    its pacing: reading casavi back never pushes the sink over casavi's request limit."""
    interval_s = settings.reconcile.interval_h * 3600
    if interval_s <= 0:
        return
    from streams.reconcile.run import reconcile

    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), timeout=interval_s)
            return
        except asyncio.TimeoutError:
            pass
        try:
            await reconcile(settings, client)
        except Exception as exc:  # noqa: BLE001 - the next run tries again; the sink goes on
            log.warning("scheduled reconcile failed (%s); next run in %.1f h", type(exc).__name__,
                        settings.reconcile.interval_h)


def run(args: argparse.Namespace, settings: BridgeSettings) -> int:
    try:
        asyncio.run(serve(settings))
    except KeyboardInterrupt:
        return 130
    return 0
