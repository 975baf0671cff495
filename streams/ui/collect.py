"""``Collector``: gathers the page's figures every ``BRIDGE_UI__REFRESH_S`` seconds and keeps the
latest ``PageModel``. Runs in a thread beside the web server; requests only read ``page``.

Each source is read on its own: one that fails (Kafka, Kafka Connect, a file) is named under
``problems`` and the others still show. The topic readers start where the figures need them —
the commands and receipts topics a day back, the DLQ ``DLQ_DAYS`` back — and then follow the
topics; after Kafka was unreachable they start again from there.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from streams.reconcile.progress import ReconcileProgress
from streams.settings import BridgeSettings
from streams.stack.status import _pid_alive
from streams.ui import sources
from streams.ui.activity import DAY_MINUTES, HOUR_MINUTES, MINUTE_MS, Activity
from streams.ui.build import Gathered, build_page
from streams.ui.kafka_io import KafkaView, Tails
from streams.ui.letters import LetterBook
from streams.ui.model import PageModel, Plot, Series
from streams.ui.rates import RateMeter, TopicMinutes
from streams.worker.topics import cdc_topics

log = logging.getLogger(__name__)

DLQ_DAYS = 7


class Collector:
    def __init__(self, settings: BridgeSettings, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.clock = clock
        kafka = settings.kafka
        self.topics = {"commands": kafka.commands_topic, "receipts": kafka.receipts_topic, "dlq": kafka.dlq_topic}
        self.cdc = list(cdc_topics(kafka, settings.source))
        self.meters = {"worker": RateMeter(), "sink": RateMeter()}
        self.page: PageModel | None = None
        self._view: KafkaView | None = None
        self._tails: Tails | None = None
        self._cdc_minutes: TopicMinutes[Any] | None = None
        self._reset_readers()

    def _reset_readers(self) -> None:
        now_ms = int(self.clock() * 1000)
        self.activity = Activity(self.settings.casavi.system)
        self.letters = LetterBook(since_ms=now_ms - DLQ_DAYS * DAY_MINUTES * MINUTE_MS)

    def _kafka(self) -> tuple[KafkaView, Tails]:
        if self._view is None or self._tails is None:
            self._reset_readers()
            now_ms = int(self.clock() * 1000)
            day_back = now_ms - DAY_MINUTES * MINUTE_MS
            self._view = KafkaView(self.settings.kafka)
            view = self._view
            self._cdc_minutes = TopicMinutes(view.offsets_at)
            self._tails = Tails(
                self.settings.kafka,
                since_ms={self.topics["commands"]: day_back, self.topics["receipts"]: day_back,
                          self.topics["dlq"]: self.letters.since_ms},
                handlers={self.topics["commands"]: lambda r: self.activity.command(r.key, r.timestamp),
                          self.topics["receipts"]: lambda r: self.activity.receipt(r.value, r.timestamp),
                          self.topics["dlq"]: lambda r: self.letters.add(r.partition, r.offset, r.value, r.timestamp)})
        return self._view, self._tails

    def _drop_kafka(self) -> None:
        for client in (self._tails, self._view):
            try:
                if client is not None:
                    client.close()
            except Exception:  # noqa: BLE001 - closing a broken client
                pass
        self._view = self._tails = self._cdc_minutes = None

    def close(self) -> None:
        self._drop_kafka()

    def refresh(self) -> PageModel:
        now = self.clock()
        settings = self.settings
        g = Gathered(now=now, system=settings.casavi.system, topics=self.topics, source=settings.source.connector,
                     connect_url=sources.connect_url(settings), cdc_topics=len(self.cdc),
                     letters=self.letters.summary(int(now * 1000)))
        files = sources.status_files(settings)
        g.worker_status, g.sink_status = files.get("worker"), files.get("sink")
        g.reconcile_report = sources.reconcile_report(settings)
        progress: ReconcileProgress | None = sources.reconcile_progress(settings)
        g.reconcile_progress, g.reconcile_alive = progress, bool(progress and _pid_alive(progress.pid))
        g.quality = sources.quality_report(settings)
        g.connectors = sources.connectors(g.connect_url)
        try:
            self._read_kafka(g)
        except Exception as exc:  # noqa: BLE001 - kafka-python raises many kinds; the page shows the rest
            log.warning("reading Kafka for the protocol page failed (%s)", type(exc).__name__)
            g.problems.append(f"Kafka at {settings.kafka.bootstrap_servers} not reachable ({type(exc).__name__})")
            g.kafka_ok = False
            self._drop_kafka()
        if g.connectors is None:
            g.problems.append(f"Kafka Connect at {g.connect_url} not answering")
        self.page = build_page(g)
        return self.page

    def _read_kafka(self, g: Gathered) -> None:
        view, tails = self._kafka()
        tails.poll(budget_s=min(self.settings.ui.refresh_s, 1.0))
        now_ms = int(g.now * 1000)
        self.activity.prune(now_ms)
        g.topics_unread = tails.behind
        g.entities = self.activity.entities(now_ms)
        g.letters = self.letters.summary(now_ms)
        kafka = self.settings.kafka
        cdc_parts = view.partitions(self.cdc)
        cdc_end = view.end_offsets(cdc_parts)
        g.cdc_found = len({tp.topic for tp in cdc_parts})
        g.cdc_records = sum(cdc_end.values())
        command_parts = view.partitions([kafka.commands_topic])
        g.commands_records = sum(view.end_offsets(command_parts).values())
        g.worker_group = view.group(kafka.worker_app_id, cdc_parts)
        g.sink_group = view.group(kafka.sink_group_id, command_parts)
        for name, group in (("worker", g.worker_group), ("sink", g.sink_group)):
            self.meters[name].observe(g.now, group.committed)
            g.rates[name] = self.meters[name].rate()
        g.kafka_ok = True
        assert self._cdc_minutes is not None
        cdc_per_minute = self._cdc_minutes.per_minute(now_ms, HOUR_MINUTES, cdc_parts, cdc_end)
        changes, latency = self.activity.series(now_ms, HOUR_MINUTES)
        start_ms = now_ms - now_ms % MINUTE_MS - (HOUR_MINUTES - 1) * MINUTE_MS
        g.plots = [
            Plot(title="Changes per minute", start_ms=start_ms,
                 series=[Series(name="CDC records", unit="per minute", points=[float(n) for n in cdc_per_minute]),
                         *changes]),
            Plot(title="Latency from the ERP's COMMIT to casavi (s)", start_ms=start_ms, series=latency),
        ]

    def run(self, stop: threading.Event) -> None:
        """Refresh until ``stop`` is set."""
        while not stop.is_set():
            started = time.monotonic()
            try:
                self.refresh()
            except Exception:  # noqa: BLE001 - the page keeps its last snapshot; the next refresh tries again
                log.exception("the protocol page could not be refreshed")
            stop.wait(max(self.settings.ui.refresh_s - (time.monotonic() - started), 0.1))
        self.close()
