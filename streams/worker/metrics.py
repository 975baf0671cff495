"""The worker's Prometheus metrics (``/metrics``).

The counts are the worker's status (``streams.worker.status``) read at scrape time, so the
status file and ``/metrics`` cannot disagree: both are totals across restarts (a Prometheus
counter that continues after a restart). Label values are topic and table names, casavi
entity types, operations, stages and error codes: never a reference id or anything of a row.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from streams.ops.families import counter, gauge, labelled
from streams.worker.status import WorkerStatus

PREFIX = "casavi_bridge_worker"

# seconds one batch takes (fold, project, deliver): small live batches to bulk-load batches of 5,000 events
BATCH_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

GAUGES = {
    "state_rows": "ERP rows in the worker's state",
    "emitted_slots": "casavi slots (entity and reference id) the worker holds as sent",
    "pending_roots": "roots deferred during a backlog or bulk load, not projected yet",
    "queued_roots": "roots of a pass (tick, full sync, changed settings) still to project",
}


class WorkerCollector(Collector):
    def __init__(self, status: WorkerStatus) -> None:
        self.status = status

    def collect(self) -> Iterator[Metric]:
        s = self.status.snapshot()
        yield counter(f"{PREFIX}_batches", "batches of source records processed", s["batches"])
        yield labelled(CounterMetricFamily, f"{PREFIX}_events", "records read, per source topic (CDC, control, "
                       "receipts)", ["topic"], s["events_by_topic"])
        yield labelled(CounterMetricFamily, f"{PREFIX}_changes", "ERP row changes decoded and folded, per table",
                       ["table"], s["changes_by_table"])
        yield counter(f"{PREFIX}_changes_replayed",
                      "changes not newer than the state's row (a replay, a duplicate): skipped", s["replayed"])
        yield labelled(CounterMetricFamily, f"{PREFIX}_commands", "casavi commands sent to the commands topic",
                       ["entity", "op"], s["commands_by_entity"])
        yield labelled(CounterMetricFamily, f"{PREFIX}_dead_letters", "dead letters the worker sent, by stage and "
                       "code", ["stage", "code"], s["dead_letters_by_code"])
        if s["commands_on_topic"] is not None:
            yield gauge(f"{PREFIX}_commands_topic_end_offset", "records on the commands topic (its end offset)",
                        s["commands_on_topic"])
        yield labelled(GaugeMetricFamily, f"{PREFIX}_consumer_lag_records", "records waiting behind the last batch, "
                       "per topic", ["topic"], s["lag_by_topic"])
        for name, text in GAUGES.items():
            if name in s:
                yield gauge(f"{PREFIX}_{name}", text, s[name])
        if s["newest_source_ts_ms"] is not None:
            yield gauge(f"{PREFIX}_newest_source_timestamp_seconds",
                        "ERP commit time of the newest change folded (Unix time)", s["newest_source_ts_ms"] / 1000)
        yield labelled(GaugeMetricFamily, f"{PREFIX}_data_quality_cases", "data-quality cases per rule", ["rule"],
                       s["quality"])


class WorkerMetrics:
    """The worker's registry: the status collector and the batch-duration histogram."""

    def __init__(self, status: WorkerStatus) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(WorkerCollector(status))
        self.batch_duration = Histogram(f"{PREFIX}_batch_duration_seconds",
                                        "time to process one batch of source records (the worker's tick)",
                                        buckets=BATCH_BUCKETS, registry=self.registry)
