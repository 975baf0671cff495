"""The sink's Prometheus metrics (``/metrics``).

The counts are the sink's status (``streams.sink.stats``) read at scrape time, so the status
file and ``/metrics`` cannot disagree: both are totals across restarts. Label values are
casavi entity types, operations, outcomes, endpoints with their ids replaced (``GET
/jobs/{id}``), HTTP statuses and error codes: never a reference id or anything of a command.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from streams.ops.families import counter, gauge, labelled
from streams.sink.stats import SinkStats

PREFIX = "casavi_bridge_sink"
CASAVI = "casavi_bridge_casavi"

# seconds from the ERP's COMMIT to casavi having applied the command: live edits take about a
# second, a bulk load at casavi's pace minutes to hours
LATENCY_BUCKETS = (0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 14400.0)


class SinkCollector(Collector):
    def __init__(self, stats: SinkStats) -> None:
        self.stats = stats

    def collect(self) -> Iterator[Metric]:
        s = self.stats.snapshot()
        yield counter(f"{PREFIX}_batches", "batches of commands processed", s["batches"])
        yield counter(f"{PREFIX}_records", "records read from the commands topic", s["records"])
        yield labelled(CounterMetricFamily, f"{PREFIX}_commands", "commands finished, by entity, operation and "
                       "outcome (applied; unconfirmed: the import job named no result; failed)",
                       ["entity", "op", "outcome"], s["outcomes"])
        yield labelled(CounterMetricFamily, f"{PREFIX}_dead_letters", "dead letters the sink sent, by error code",
                       ["code"], s["dead_letters_by_code"])
        yield counter(f"{PREFIX}_imports", "casavi imports started", s["imports"])
        yield counter(f"{PREFIX}_import_bisections", "imports split in halves after casavi refused them whole",
                       s["bisections"])
        yield gauge(f"{PREFIX}_deferred_commands", "commands waiting for an entity they reference", s["deferred"])
        if s["lag"] is not None:
            lag = GaugeMetricFamily(f"{PREFIX}_consumer_lag_records", "commands on the topic not finished yet",
                                    labels=["topic"])
            lag.add_metric([s["commands_topic"]], s["lag"])
            yield lag
        if s["committed"] is not None:
            yield gauge(f"{PREFIX}_committed_offset", "commands of the topic finished (committed offsets)",
                         s["committed"])
        if s["end_offset"] is not None:
            yield gauge(f"{PREFIX}_commands_topic_end_offset", "commands on the topic (end offsets)", s["end_offset"])
        yield labelled(CounterMetricFamily, f"{CASAVI}_requests", "requests to casavi, by endpoint and HTTP status "
                       "(transport_error: no answer)", ["endpoint", "status"], s["responses"])
        yield counter(f"{CASAVI}_retries", "requests to casavi sent again (5xx, 429, timeouts, no answer)",
                       s["retries"])
        yield counter(f"{CASAVI}_rate_limited", "answers 429 (too many requests) from casavi", s["rate_limited"])
        yield counter(f"{CASAVI}_rate_limit_wait_seconds", "time requests waited for the client-side pacing "
                       "(BRIDGE_CASAVI__REQUESTS_PER_MINUTE)", s["pacing_wait_s"])
        yield counter(f"{CASAVI}_retry_wait_seconds", "time waited before retries (backoff, Retry-After)",
                       s["retry_wait_s"])
        yield counter(f"{CASAVI}_reauthentications", "new tokens after casavi rejected one", s["reauthentications"])


class SinkMetrics:
    """The sink's registry: the status collector and the COMMIT -> casavi latency histogram."""

    def __init__(self, stats: SinkStats) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(SinkCollector(stats))
        self.commit_to_casavi = Histogram(
            f"{PREFIX}_commit_to_casavi_seconds", "time from the ERP transaction's COMMIT to casavi having applied "
            "the command (live changes; passes and full syncs carry no COMMIT time)",
            buckets=LATENCY_BUCKETS, registry=self.registry)
