"""``PageModel``: one snapshot of everything the protocol page shows.

It holds reference ids, ERP numbers, counts, times, states and reasons — never a name, an
address, an e-mail address or a document: the page shows nothing the DLQ, the receipts and
the reports do not already keep free of personal data. ``GET /api/page`` serves it as JSON.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

StageState = Literal["ok", "behind", "down", "unknown"]
STAGE_KEYS = ("erp", "debezium", "cdc", "worker", "commands", "sink", "casavi")


class Stage(BaseModel):
    """One box of the pipeline picture."""

    key: str  # one of STAGE_KEYS
    name: str
    state: StageState
    lag: int | None = None  # records waiting for this stage (consumer-group lag); None: not a consumer or unknown
    detail: str = ""


class EntityActivity(BaseModel):
    """What happened to one casavi entity type in the last hour and day: commands written to the
    commands topic, and the sink's receipts (applied — confirmed or not — and failed)."""

    entity: str
    commands_hour: int = 0
    commands_day: int = 0
    applied_hour: int = 0
    applied_day: int = 0
    failed_hour: int = 0
    failed_day: int = 0


class LetterGroup(BaseModel):
    """Dead letters of one stage and reason (casavi's error code, else the reason's start)."""

    stage: str
    reason: str
    count: int
    first_ms: int
    last_ms: int
    latest: list[str] = Field(default_factory=list)  # what the newest letters name (slot, table and key), newest first
    redrivable: bool = False  # the letters name casavi slots: a redrive re-projects them
    command: str = ""  # the command to copy: the redrive, or ``bridge dlq show`` for letters naming a CDC record


class Letters(BaseModel):
    since_ms: int  # the DLQ is counted from this time on
    total: int = 0
    last_hour: int = 0
    last_day: int = 0
    unreadable: int = 0
    groups: list[LetterGroup] = Field(default_factory=list)  # newest first; beyond 50 reasons: "(other reasons)"


class ReconcileSummary(BaseModel):
    at: float
    system: str
    dry_run: bool
    seconds: float
    requests: int
    counts: dict[str, dict[str, int]]  # entity -> expected, observed, missing, different, extra, persisting, revoked
    repairs: dict[str, int] | None
    missing: int
    different: int
    extra: int
    persisting: int
    examples: list[str] = Field(default_factory=list)  # the first reference ids that drifted


class QualitySummary(BaseModel):
    generated_at: float
    counts: dict[str, int]
    total: int
    lines: list[str]  # rule and ERP numbers only


class Connector(BaseModel):
    name: str
    state: str
    tasks: list[str]


class Progress(BaseModel):
    """Long work going on: counts, rate and an estimate of the remaining time."""

    job: str
    done: int
    total: int | None = None
    unit: str = "records"
    rate_per_s: float | None = None
    eta_s: float | None = None


class Series(BaseModel):
    """Per-minute values over the last hour, oldest first (``None``: no value for that minute)."""

    name: str
    unit: str
    points: list[float | None]


class Plot(BaseModel):
    title: str
    start_ms: int  # the first minute
    series: list[Series]


class PageModel(BaseModel):
    generated_at: float
    system: str  # the casavi system (R22)
    topics: dict[str, str]  # commands, receipts, dlq
    stages: list[Stage]
    entities: list[EntityActivity]
    letters: Letters
    reconcile: ReconcileSummary | None = None
    quality: QualitySummary | None = None
    connectors: list[Connector] = Field(default_factory=list)
    progress: list[Progress] = Field(default_factory=list)
    plots: list[Plot] = Field(default_factory=list)
    problems: list[str] = Field(default_factory=list)  # sources that could not be read this time

    def stage(self, key: str) -> Stage:
        return next(s for s in self.stages if s.key == key)
