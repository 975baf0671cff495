"""From what was gathered to the ``PageModel`` (pure: no I/O, no clock).

``Gathered`` is everything one refresh read — status files, reports, Kafka offsets and groups,
Kafka Connect, and the counts of the topic readers — and ``build_page`` decides what the
operator sees: the state and lag of each stage, the long work still going on and its time left,
the last reconcile and the data-quality report in short.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from pydantic import BaseModel, Field

from streams.projection.quality import QualityReport
from streams.reconcile.progress import ReconcileProgress
from streams.ui.model import (Connector, EntityActivity, Letters, PageModel, Plot, Progress, QualitySummary,
                              ReconcileSummary, Stage, StageState)

RECONCILE_STALE_S = 600.0  # a reconcile whose progress has not moved for this long has died
QUALITY_LINES = 20
RECONCILE_EXAMPLES = 5


class GroupPosition(BaseModel):
    """A consumer group on some topics: offsets summed over their partitions."""

    committed: int  # where the group stands (a partition it never committed counts from its first record kept)
    end: int  # the topics' end offsets
    members: int  # active members of the group in Kafka (processes reading now)

    @property
    def lag(self) -> int:
        return max(self.end - self.committed, 0)


class Gathered(BaseModel):
    now: float
    system: str
    topics: dict[str, str]  # commands, receipts, dlq
    source: str  # the ERP's database: postgresql or sqlserver
    connect_url: str
    kafka_ok: bool = False
    cdc_topics: int = 0  # CDC topics the worker reads
    cdc_found: int = 0  # ... of which exist
    cdc_records: int | None = None  # records the CDC topics ever took (end offsets)
    commands_records: int | None = None
    worker_group: GroupPosition | None = None  # on the CDC topics
    sink_group: GroupPosition | None = None  # on the commands topic
    worker_status: dict[str, Any] | None = None
    sink_status: dict[str, Any] | None = None
    connectors: list[Connector] | None = None  # None: Kafka Connect did not answer
    entities: list[EntityActivity] = Field(default_factory=list)
    letters: Letters
    reconcile_report: dict[str, Any] | None = None
    reconcile_progress: ReconcileProgress | None = None
    reconcile_alive: bool = False  # the process writing the progress lives
    quality: QualityReport | None = None
    rates: dict[str, float | None] = Field(default_factory=dict)  # worker, sink: records per second
    topics_unread: int = 0  # records of the commands, receipts and DLQ topics the page has still to read
    plots: list[Plot] = Field(default_factory=list)
    problems: list[str] = Field(default_factory=list)


def when(epoch_s: float | None) -> str:
    if not epoch_s:
        return "-"
    return datetime.fromtimestamp(epoch_s, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _running(group: GroupPosition | None, status: dict[str, Any] | None) -> bool | None:
    """Whether a process reads: members in its consumer group, else its status file's pid alive."""
    if group is not None and group.members > 0:
        return True
    if status is not None and status.get("running"):
        return True
    if group is None and status is None:
        return None
    return False


def _consumer_state(running: bool | None, lag: int | None) -> StageState:
    if running is None:
        return "unknown"
    if not running:
        return "down"
    return "behind" if lag else "ok"


def _counts(status: dict[str, Any] | None, names: tuple[str, ...]) -> str:
    if not status:
        return "no status file"
    return ", ".join(f"{n.replace('_', ' ')} {status[n]:,}" for n in names if isinstance(status.get(n), int))


def connector_state(connectors: list[Connector] | None) -> StageState:
    if not connectors:
        return "down"
    states = {c.state for c in connectors} | {t for c in connectors for t in c.tasks}
    if "FAILED" in states or not all(c.tasks for c in connectors):
        return "down"
    return "ok" if states == {"RUNNING"} else "behind"


def stages(g: Gathered) -> list[Stage]:
    debezium = connector_state(g.connectors)
    if g.connectors is None:
        debezium_detail = f"Kafka Connect not answering at {g.connect_url}"
    elif not g.connectors:
        debezium_detail = "no connector registered"
    else:
        debezium_detail = "; ".join(f"{c.name} {c.state}, tasks {sum(t == 'RUNNING' for t in c.tasks)}/"
                                    f"{len(c.tasks)} running" for c in g.connectors)
    newest = (g.worker_status or {}).get("newest_source_ts_ms")
    erp_state: StageState = "ok" if debezium == "ok" else "unknown"  # seen only through the connector reading it
    erp = Stage(key="erp", name="ERP", state=erp_state,
                detail=f"{'SQL Server' if g.source == 'sqlserver' else 'PostgreSQL'}; newest change read: "
                       f"{when(newest / 1000) if isinstance(newest, int) else '-'}")
    kafka_state: StageState = "ok" if g.kafka_ok else "down"
    cdc = Stage(key="cdc", name="CDC topics", state=kafka_state if g.cdc_found or not g.kafka_ok else "unknown",
                detail=f"{g.cdc_found} of {g.cdc_topics} topics, {g.cdc_records or 0:,} records"
                if g.kafka_ok else "Kafka not reachable")
    worker_running = _running(g.worker_group, g.worker_status)
    worker_lag = g.worker_group.lag if g.worker_group else None
    worker = Stage(key="worker", name="worker", state=_consumer_state(worker_running, worker_lag), lag=worker_lag,
                   detail=_counts(g.worker_status, ("events", "commands", "dead_letters", "pending_roots")))
    commands = Stage(key="commands", name="commands topic", state=kafka_state,
                     detail=f"{g.topics['commands']}: {g.commands_records or 0:,} records" if g.kafka_ok
                     else "Kafka not reachable")
    sink_running = _running(g.sink_group, g.sink_status)
    sink_lag = g.sink_group.lag if g.sink_group else None
    sink = Stage(key="sink", name="sink", state=_consumer_state(sink_running, sink_lag), lag=sink_lag,
                 detail=_counts(g.sink_status, ("applied", "dead_lettered", "deferred", "retries")))
    applied = sum(e.applied_hour for e in g.entities)
    failed = sum(e.failed_hour for e in g.entities)
    casavi = Stage(key="casavi", name="casavi", state="ok" if sink_running else "unknown",
                   detail=f"{g.system} system; last hour: {applied:,} applied, {failed:,} failed")
    return [erp, Stage(key="debezium", name="Debezium", state=debezium, detail=debezium_detail), cdc, worker,
            commands, sink, casavi]


def eta(done: int, total: int | None, rate: float | None) -> float | None:
    if total is None or not rate or rate <= 0:
        return None
    return round(max(total - done, 0) / rate, 1)


def _work(job: str, done: int, total: int | None, unit: str, rate: float | None) -> Progress:
    return Progress(job=job, done=done, total=total, unit=unit, rate_per_s=None if rate is None else round(rate, 1),
                    eta_s=eta(done, total, rate))


def long_work(g: Gathered) -> list[Progress]:
    """What is still going on: the worker reading a backlog (a bulk load, a replay), the sink
    applying one, a reconcile reading casavi back, the page reading the topics."""
    out = []
    if g.worker_group and g.worker_group.lag:
        out.append(_work("worker: reading the CDC topics", g.worker_group.committed, g.worker_group.end, "records",
                         g.rates.get("worker")))
    if g.sink_group and g.sink_group.lag:
        out.append(_work("sink: applying commands to casavi", g.sink_group.committed, g.sink_group.end, "commands",
                         g.rates.get("sink")))
    p = g.reconcile_progress
    if p is not None and not p.finished and g.reconcile_alive and g.now - p.updated_at < RECONCILE_STALE_S:
        elapsed = p.updated_at - p.started_at
        # reading back is paced by requests: their estimate gives the time left, else the entities expected
        done, total, unit = (p.requests, p.estimate, "requests") if p.estimate else (p.read, p.expected, "entities")
        rate = done / elapsed if elapsed >= 1 and done else None
        out.append(_work(f"reconcile ({p.system}): reading casavi back", done, max(total, done), unit, rate))
    if g.topics_unread:
        out.append(Progress(job="this page: counting the commands, receipts and DLQ topics", done=0,
                            total=g.topics_unread, unit="records still to read"))
    return out


def reconcile_summary(report: dict[str, Any] | None) -> ReconcileSummary | None:
    if not report or not isinstance(report.get("counts"), dict):
        return None

    def slots(name: str) -> list[str]:
        value = report.get(name)
        return [str(s) for s in value] if isinstance(value, list) else []

    drifted = slots("missing") + slots("different") + slots("extra")
    try:
        return ReconcileSummary(
            at=float(report.get("at") or 0), system=str(report.get("system") or ""),
            dry_run=bool(report.get("dry_run")), seconds=float(report.get("seconds") or 0),
            requests=int(report.get("requests") or 0),
            counts={str(e): {str(k): int(v) for k, v in c.items()} for e, c in report["counts"].items()},
            repairs=report.get("repairs"), missing=len(slots("missing")), different=len(slots("different")),
            extra=len(slots("extra")), persisting=len(slots("persisting")), examples=drifted[:RECONCILE_EXAMPLES])
    except (TypeError, ValueError, AttributeError):
        return None


def quality_summary(report: QualityReport | None) -> QualitySummary | None:
    if report is None:
        return None
    return QualitySummary(generated_at=report.generated_at.timestamp(), counts=report.counts(),
                          total=len(report.cases), lines=report.lines()[:QUALITY_LINES])


def build_page(g: Gathered) -> PageModel:
    return PageModel(
        generated_at=g.now, system=g.system, topics=g.topics, stages=stages(g), entities=g.entities,
        letters=g.letters, reconcile=reconcile_summary(g.reconcile_report), quality=quality_summary(g.quality),
        connectors=g.connectors or [], progress=long_work(g), plots=g.plots, problems=g.problems,
    )
