"""``bridge worker``: run the Faust worker until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from faust.worker import Worker

from streams import gaps
from streams.commands.registry import RegistryError
from streams.mapping import MappingError
from streams.mapping.topics import mapping_of
from streams.settings import BridgeSettings
from streams.ops.server import OpsServer
from streams.worker.app import WorkerOps, build_app
from streams.worker.image import image_path
from streams.worker.control import resync_record, send_control
from streams.worker.stores import remove_stores_ahead
from streams.worker.topics import TopicLayoutError, bridge_topics, check_single_partition, ensure_topics

log = logging.getLogger(__name__)


def run(args: argparse.Namespace, settings: BridgeSettings) -> int:
    try:
        mapping = mapping_of(settings.source)
    except MappingError as exc:
        log.error("%s", exc)
        return 2
    ensure_topics(settings.kafka, source=settings.source)
    try:
        check_single_partition(settings.kafka, settings.source)
    except TopicLayoutError as exc:
        log.error("%s", exc)
        return 2
    kafka = settings.kafka
    read = [t for t in bridge_topics(kafka, settings.source)
            if t not in (kafka.commands_topic, kafka.dlq_topic, kafka.content_topic, kafka.inbound_topic)]
    if gaps.check(kafka, kafka.worker_app_id, read, "worker"):
        _request_full_sync(settings)
    ops = WorkerOps(settings)
    try:
        app = build_app(settings, ops=ops)
    except RegistryError as exc:
        log.error("%s: the command schema could not be registered (BRIDGE_KAFKA__SCHEMA_REGISTRY_URL)", exc)
        return 1
    removed = remove_stores_ahead(Path(app.conf.tabledir), settings.kafka.worker_app_id,
                                  [t.name for t in app.tables.values()], settings.kafka.bootstrap_servers)
    if removed:
        log.info("rebuilding %s from the changelog", ", ".join(removed))
        image_path(Path(app.conf.tabledir), settings.casavi.system).unlink(missing_ok=True)  # an image of those stores
    log.info("worker %s reading %d CDC topics of %s (%s mapping: %s) from %s, writing %s",
             settings.kafka.worker_app_id, len(mapping.tables), settings.source.connector,
             "identity" if mapping.is_identity else "ERP", mapping.origin, settings.kafka.bootstrap_servers,
             settings.kafka.commands_topic)
    server = OpsServer(settings.ops.host, settings.ops.worker_port, ops.metrics.registry, ops.health)
    if settings.ops.worker_port:
        server.start()
    worker = Worker(app, loglevel=settings.log_level.lower(), quiet=True, redirect_stdouts=False,
                    override_logging=False)
    try:
        worker.execute_from_commandline()
    finally:
        server.stop()
    return 0


def _request_full_sync(settings: BridgeSettings) -> None:
    """A ``resync`` control record: the worker re-projects every root once it runs. Changes of
    CDC records deleted before they were read are not in the worker's state; the connector's
    snapshot brings them back (README: "Durable topics"), the sink's reconcile finds the rest."""
    send_control(settings.kafka, [resync_record("gap")], "casavi-bridge-worker-start")
