"""Apply one batch of decoded commands to casavi: plan, import phase by phase, read the results.

``apply_batch`` is the sink without Kafka: it takes commands with their source position
and tells, per command, whether casavi applied it or why not. The runner turns failures
into dead letters (or retries them later) and commits offsets.

casavi's error texts may quote the values it rejected (a name, an e-mail address), so a
failure's ``reason`` keeps only casavi's error code, the entity, its reference id (an ERP
number) and the words of the message that cannot be personal data (``safe_text``).
"""

from __future__ import annotations

import base64
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from streams.casavi.import_contract import CONTENT_TOO_LARGE, MAX_CONTENT_BYTES, delete_item
from streams.casavi.models import CONTENT_REF, ContentRef, ImportItemResult, Job
from streams.commands.model import CasaviCommand, DeadLetter
from streams.projection.diff import UPSERT_NEW
from streams.sink.client import CasaviClient, CasaviError, JobTimeout
from streams.sink.content import ContentSource, MemoryContent
from streams.sink.plan import (
    DOCUMENT_PHASES,
    STAFF_PHASES,
    TICKET_PHASES,
    ImportPhase,
    ItemKey,
    PlannedCommand,
    build_phase,
    plan_batch,
)
from streams.sink.policy import Action

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Sourced:
    """A decoded command and where it sits in Kafka."""

    command: CasaviCommand
    topic: str
    partition: int
    offset: int


@dataclass(frozen=True)
class Failure:
    source: Sourced
    error_code: str
    reason: str

    def dead_letter(self, at_ms: int) -> DeadLetter:
        return DeadLetter(stage="sink", reason=self.reason, error_code=self.error_code, topic=self.source.topic,
                          partition=self.source.partition, offset=self.source.offset,
                          entity=self.source.command.entity, reference_id=self.source.command.reference_id, at_ms=at_ms)


@dataclass
class BatchResult:
    applied: list[Sourced] = field(default_factory=list)  # includes commands superseded within the batch
    # of ``applied``: the job completed without a result for them (casavi's API text shows
    # ``"results": {}``): taken as applied, confirmed only by reading casavi back (reconcile)
    unconfirmed: list[Sourced] = field(default_factory=list)
    failed: list[Failure] = field(default_factory=list)
    imports: int = 0
    bisections: int = 0


_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"|`[^`]*`|«[^»]*»|„[^“”]*[“”]")
_SAFE_WORD = re.compile(r"^(?:[a-z][A-Za-z_]*|[A-Z][A-Z_]+)[.,:;()]*$")


def safe_text(message: str | None, limit: int = 160) -> str:
    """The words of an error message that cannot carry personal data.

    Quoted parts are dropped; of the rest only lower-case words (field names, verbs) and
    upper-case codes are kept. Names, numbers, addresses and e-mail addresses never pass.
    """
    if not message:
        return ""
    words = [w for w in _QUOTED.sub(" ", message).split() if _SAFE_WORD.match(w)]
    return " ".join(words)[:limit]


def _reason(result: ImportItemResult, code: str) -> str:
    text = safe_text(result.error)
    return f"casavi {code} on {result.entity} {result.id}" + (f": {text}" if text else "")


def resolve(phase: ImportPhase, job: Job, sources: Sequence[Sourced]) -> BatchResult:
    """Map a completed job's item results back to the phase's commands.

    casavi's per-item results are a hint: an item reported failed (or under a failed
    container) is a failure; an item without any result counts as applied, unconfirmed."""
    results: dict[ItemKey, list[ImportItemResult]] = {}
    for item in job.results.items:
        results.setdefault((item.entity, item.id), []).append(item)
    out = BatchResult()
    for planned in phase.commands:
        target = phase.targets[planned.index]
        own = results.get(target.own, [])
        failed = [r for r in own if r.status == "failed"] or [
            r for key in target.ancestors for r in results.get(key, []) if r.status == "failed"
        ]
        source = sources[planned.index]
        if failed:
            code = failed[0].error_code or "FAILED"
            out.failed.append(Failure(source, code, _reason(failed[0], code)))
        else:
            done = [source, *(sources[i] for i in planned.superseded)]
            out.applied.extend(done)
            if not own:  # no per-item result: a hint is missing, not a failure
                out.unconfirmed.extend(done)
    return out


async def _run_staff_phase(client: CasaviClient, phase: ImportPhase, sources: Sequence[Sourced]) -> BatchResult:
    """One ``/staff`` call per command: each one applied or refused on its own."""
    out = BatchResult()
    for planned in phase.commands:
        cmd = planned.command
        source = sources[planned.index]
        try:
            if cmd.op == "UPSERT":
                assert cmd.document is not None
                await client.put_staff({**cmd.document, "id": cmd.reference_id})
            else:
                await client.delete_staff(cmd.reference_id)
        except CasaviError as exc:
            verb = "write" if cmd.op == "UPSERT" else "delete"
            out.failed.append(Failure(source, exc.code, f"casavi {exc.code} on staff {cmd.reference_id}: refused the "
                                                        f"{verb} (HTTP {exc.status})"))
            continue
        out.applied.extend([source, *(sources[i] for i in planned.superseded)])
    return out


CONTENT_MISSING = "CONTENT_MISSING"  # the content a document command names is not on the content topic (yet)
MISSING_REFERENCE = "MISSING_REFERENCE"


async def _document_body(cmd: CasaviCommand, content: ContentSource) -> dict[str, Any] | None:
    """The ``/documents`` body of a document command: its fields with ``content`` instead of
    ``contentRef``; a delete is ``{"id", "delete": true}``. None when the content is missing."""
    if cmd.op != "UPSERT":
        return delete_item(cmd.reference_id)
    assert cmd.document is not None
    ref = ContentRef.model_validate(cmd.document[CONTENT_REF])
    data = await content.read(ref)
    if data is None:
        return None
    body = {k: v for k, v in cmd.document.items() if k != CONTENT_REF}
    body.update(id=cmd.reference_id, content=base64.b64encode(data).decode("ascii"))
    return body


async def _run_document_phase(client: CasaviClient, phase: ImportPhase, sources: Sequence[Sourced],
                              content: ContentSource) -> BatchResult:
    """One ``/documents`` request per command, each a job; the jobs are waited for after all
    were sent. The content is read by key just before its request and dropped after it."""
    out = BatchResult()
    jobs: list[tuple[PlannedCommand, str]] = []
    for planned in phase.commands:
        cmd = planned.command
        source = sources[planned.index]
        ref = cmd.document.get(CONTENT_REF) if cmd.document else None
        if ref and ref.get("size", 0) > MAX_CONTENT_BYTES:  # the worker rejects these; never cut
            out.failed.append(Failure(source, CONTENT_TOO_LARGE, f"document {cmd.reference_id}: content over "
                                                                f"casavi's limit of {MAX_CONTENT_BYTES} bytes"))
            continue
        body = await _document_body(cmd, content)
        if body is None:
            out.failed.append(Failure(source, CONTENT_MISSING, f"document {cmd.reference_id}: content "
                                                              f"{ref['key'] if ref else ''} not on the content topic"))
            continue
        try:
            jobs.append((planned, await client.start_document_import(body)))
            out.imports += 1
        except CasaviError as exc:
            verb = "write" if cmd.op == "UPSERT" else "delete"
            out.failed.append(Failure(source, exc.code, f"casavi {exc.code} on document {cmd.reference_id}: refused "
                                                        f"the {verb} (HTTP {exc.status})"))
        del body
    for i, (planned, job_id) in enumerate(jobs):
        while True:
            try:
                # the first job waits its moment; the later ones were created before the polls began
                job = await client.wait_for_job(job_id, started_earlier=i > 0)
                break
            except JobTimeout as exc:
                log.warning("%s; sending document %s again", exc, planned.command.reference_id)
                body = await _document_body(planned.command, content)
                if body is None:
                    job = None
                    break
                job_id = await client.start_document_import(body)
        if job is None:
            out.failed.append(Failure(sources[planned.index], CONTENT_MISSING,
                                      f"document {planned.command.reference_id}: content not on the content topic"))
            continue
        _merge(out, resolve(build_phase(phase.kind, [planned]), job, sources))
    return out


async def _ticket_call(client: CasaviClient, cmd: CasaviCommand, content: ContentSource) -> str | None:
    """One ticket, post, comment or attachment call (rules 12-15); an error code when the
    attachment's content is missing, else None."""
    doc = cmd.document
    new = cmd.reason == UPSERT_NEW  # casavi most likely lacks it: create first
    if cmd.entity == "ticket":
        if doc is None:
            await client.close_ticket(cmd.reference_id)
        else:
            await client.upsert_ticket({**doc, "id": cmd.reference_id}, new=new)
    elif cmd.entity == "post":
        if doc is None:
            await client.delete_post(cmd.reference_id)
        else:
            await client.upsert_post({**doc, "id": cmd.reference_id}, new=new)
    else:  # comment, attachment: nested in their ticket
        (ticket_id,) = cmd.parent_ids
        try:
            if doc is None:
                await client.hide_comment(ticket_id, cmd.reference_id)
            elif cmd.entity == "comment":
                await client.upsert_comment(ticket_id, {**doc, "id": cmd.reference_id}, new=new)
            elif new or not await client.comment_exists(ticket_id, cmd.reference_id, doc["name"]):
                ref = ContentRef.model_validate(doc[CONTENT_REF])
                data = await content.read(ref)
                if data is None:
                    return CONTENT_MISSING
                file_id = await client.upload_file(doc["name"], doc.get("contentType"), data)
                del data
                await client.create_comment(ticket_id, {"id": cmd.reference_id, "text": doc["name"],
                                                        "isInternal": False, "fallbackToAccount": True,
                                                        "attachments": [file_id]})
        except CasaviError as exc:
            if exc.status == 404 and doc is not None:  # the ticket is not there (yet)
                raise CasaviError(exc.kind, exc.status, exc.action, MISSING_REFERENCE) from None
            raise
    return None


async def _run_ticket_phase(client: CasaviClient, phase: ImportPhase, sources: Sequence[Sourced],
                            content: ContentSource) -> BatchResult:
    """One call per command, each applied or refused on its own; implied comment deletes send nothing."""
    out = BatchResult()
    for planned in phase.commands:
        cmd = planned.command
        source = sources[planned.index]
        done = [source, *(sources[i] for i in planned.superseded)]
        if phase.targets[planned.index].own != planned.key:  # a comment of a ticket closed in this batch
            out.applied.extend(done)
            continue
        try:
            code = await _ticket_call(client, cmd, content)
        except CasaviError as exc:
            verb = "write" if cmd.op == "UPSERT" else "delete"
            out.failed.append(Failure(source, exc.code, f"casavi {exc.code} on {cmd.entity} {cmd.reference_id}: "
                                                        f"refused the {verb} (HTTP {exc.status})"))
            continue
        if code is not None:
            out.failed.append(Failure(source, code, f"{cmd.entity} {cmd.reference_id}: content not on the content "
                                                    "topic"))
            continue
        out.applied.extend(done)
    return out


async def _run_phase(client: CasaviClient, phase: ImportPhase, sources: Sequence[Sourced],
                     content: ContentSource | None = None) -> BatchResult:
    """One import (bisected when casavi rejects the request itself), or the phase's staff or document calls."""
    if phase.kind in STAFF_PHASES:
        return await _run_staff_phase(client, phase, sources)
    if phase.kind in DOCUMENT_PHASES:
        return await _run_document_phase(client, phase, sources, content or MemoryContent())
    if phase.kind in TICKET_PHASES:
        return await _run_ticket_phase(client, phase, sources, content or MemoryContent())
    out = BatchResult()
    while True:
        try:
            job_id = await client.start_import(phase.body)
            out.imports += 1
            job = await client.wait_for_job(job_id)
        except JobTimeout as exc:
            # Imports are idempotent: sending the same one again is safe.
            log.warning("%s; sending the %s import of %d commands again", exc, phase.kind, len(phase))
            continue
        except CasaviError as exc:
            if exc.action is Action.FAIL_BATCH and len(phase) > 1:
                out.bisections += 1
                mid = len(phase) // 2
                for half in (phase.commands[:mid], phase.commands[mid:]):
                    part = await _run_phase(client, build_phase(phase.kind, half), sources)
                    _merge(out, part)
                return out
            reason = f"casavi refused the {phase.kind} import: HTTP {exc.status} {exc.code}"
            out.failed.extend(Failure(sources[p.index], exc.code, reason) for p in phase.commands)
            return out
        _merge(out, resolve(phase, job, sources))
        return out


def _merge(into: BatchResult, part: BatchResult) -> None:
    into.applied.extend(part.applied)
    into.unconfirmed.extend(part.unconfirmed)
    into.failed.extend(part.failed)
    into.imports += part.imports
    into.bisections += part.bisections


async def apply_batch(client: CasaviClient, batch: Sequence[Sourced], content: ContentSource | None = None
                      ) -> BatchResult:
    """Apply ``batch`` (in source order) to casavi: phases in order, each waited for. ``content``:
    where document content is read by key (``streams.sink.content``)."""
    out = BatchResult()
    for phase in plan_batch([s.command for s in batch]):
        _merge(out, await _run_phase(client, phase, batch, content))
    return out
