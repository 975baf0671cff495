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
        log.info("sink: %s -> casavi %s system at %s (group %s, DLQ %s, %.0f requests/min)",
                 settings.kafka.commands_topic, settings.casavi.system, settings.casavi.active.url,
                 settings.kafka.sink_group_id, settings.kafka.dlq_topic, settings.casavi.requests_per_minute)
        await runner.run()
    log.info("sink stopped: %d batches, %d commands, %d dead letters", runner.stats.batches,
             runner.stats.commands, runner.stats.dead_lettered)


def run(args: argparse.Namespace, settings: BridgeSettings) -> int:
    try:
        asyncio.run(serve(settings))
    except KeyboardInterrupt:
        return 130
    return 0
