"""``bridge hooks``: the hook receiver and the polling fallback, until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from streams.inbound.hooks import Credentials, Poller, public_url, receiver, subscribed
from streams.inbound.intake import Intake, KafkaPublisher
from streams.settings import BridgeSettings
from streams.sink.client import CasaviClient
from streams.worker.topics import ensure_topics

log = logging.getLogger(__name__)


async def serve(settings: BridgeSettings) -> None:
    import uvicorn

    inbound, kafka = settings.inbound, settings.kafka
    state = settings.stack.state_dir
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    publisher = KafkaPublisher(kafka.bootstrap_servers, kafka.inbound_topic,
                               state / "inbound" / f"{kafka.sink_group_id}.sqlite")
    await publisher.start()
    intake = Intake(publisher, settings.sync.id_separator, settings.sync.erp_user)
    status_path = state / "hooks-status.json"
    credentials = Credentials(inbound)
    async with CasaviClient(settings.casavi, stop=stop) as client, contextlib.AsyncExitStack() as stack:
        server = _Server(uvicorn.Config(receiver(client, intake, credentials), host=inbound.host,
                                        port=inbound.port, log_level="warning", lifespan="off"))
        serving = asyncio.create_task(server.serve())
        while not server.started and not serving.done():
            await asyncio.sleep(0.05)
        if inbound.subscribe:
            ids = await stack.enter_async_context(subscribed(client, credentials.hook_url(public_url(inbound))))
            intake.stats.subscriptions = [f"hook {i}" for i in ids]
        log.info("hooks: receiving casavi's ticket events at %s (subscribed: %s), polling every %.0f s, "
                 "writing %s", public_url(inbound), inbound.subscribe, inbound.poll_interval_s, kafka.inbound_topic)
        poller = Poller(client, intake, state / "inbound" / f"{kafka.sink_group_id}-poll.json",
                        timedelta(hours=inbound.poll_lookback_h))
        try:
            while not stop.is_set():
                if inbound.poll_interval_s > 0:
                    try:
                        await poller.poll()
                    except Exception as exc:  # noqa: BLE001 - the next poll tries again
                        log.warning("poll failed (%s)", type(exc).__name__)
                intake.stats.write(status_path)
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=inbound.poll_interval_s or 5.0)
        finally:
            server.should_exit = True
            await serving
            intake.stats.write(status_path)
    await publisher.stop()
    log.info("hooks stopped: %d published, %d duplicates", intake.stats.published, intake.stats.duplicates)


def _server_class() -> type[Any]:
    import uvicorn

    class Server(uvicorn.Server):
        """uvicorn in this process's loop: SIGTERM/SIGINT are the process's, not uvicorn's."""

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    return Server


def _Server(config: Any) -> Any:  # noqa: N802 - a class made on first use (uvicorn loads lazily)
    return _server_class()(config)


def run(args: argparse.Namespace, settings: BridgeSettings) -> int:
    ensure_topics(settings.kafka, source=settings.source)
    try:
        asyncio.run(serve(settings))
    except KeyboardInterrupt:
        return 130
    return 0
