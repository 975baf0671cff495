"""``bridge worker``: run the Faust worker until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import logging

from faust.worker import Worker

from streams.settings import BridgeSettings
from streams.worker.app import build_app
from streams.worker.topics import TopicLayoutError, check_single_partition, ensure_topics

log = logging.getLogger(__name__)


def run(args: argparse.Namespace, settings: BridgeSettings) -> int:
    ensure_topics(settings.kafka)
    try:
        check_single_partition(settings.kafka)
    except TopicLayoutError as exc:
        log.error("%s", exc)
        return 2
    app = build_app(settings)
    log.info("worker %s reading %s.erp.* from %s, writing %s", settings.kafka.worker_app_id,
             settings.kafka.cdc_topic_prefix, settings.kafka.bootstrap_servers, settings.kafka.commands_topic)
    worker = Worker(app, loglevel=settings.log_level.lower(), quiet=True, redirect_stdouts=False,
                    override_logging=False)
    worker.execute_from_commandline()
    return 0
