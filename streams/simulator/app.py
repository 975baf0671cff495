"""The casavi simulator: the subset of the casavi manager API (1.12.10) the bridge uses,
as a Starlette app, with the behaviour of the real service that the bridge must cope with
(token expiry, asynchronous import jobs, referential integrity, field validation, the
10 MB limit, rate limiting) and faults that can be switched on through ``/_sim/``.

``docs/casavi-simulator.md`` describes every endpoint.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from streams.casavi.import_contract import ARCHIVE_FLAG, HOOK_ATTEMPTS, MAX_CONTENT_BYTES, MAX_DOCUMENT_REQUEST_BYTES
from streams.casavi.models import AuthRequest, EntityType, Job, JobCreated, JobResults
from streams.simulator.auth import TOKEN_HEADER, Authenticator, legacy_request
from streams.simulator.faults import FaultInjector, FaultRequest, RateLimiter
from streams.simulator.importer import (
    PARENT,
    apply_document,
    apply_import,
    check_document,
    check_structure,
    delete_staff,
    plan,
    put_staff,
)
from streams.simulator.receipts import Receipts
from streams.simulator.stats import Stats
from streams.simulator import tickets as tk
from streams.simulator.store import Store, Stored

log = logging.getLogger(__name__)

PAGE_SIZE = 25
ADMIN_PREFIX = "/_sim/"
PUBLIC = frozenset({"POST /authenticate"})
DOCUMENT_JOB = "_document"  # key of a documents request in a job's stored payload
RECEIVED_AT_MS = "casavi_sim.received_at_ms"  # scope key: when the request arrived (wall clock)


class SimulatorConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    db_path: str = ":memory:"
    credentials: dict[str, str] = Field(default_factory=lambda: {"demo-key": "demo-secret"})
    token_ttl_s: float = Field(default=30 * 24 * 3600.0, gt=0)
    rate_limit_per_minute: float = Field(default=0.0, ge=0)
    job_processing_delay_s: float = Field(default=0.0, ge=0)
    max_file_bytes: int = Field(default=10 * 1024 * 1024, gt=0)
    max_content_bytes: int = Field(default=MAX_CONTENT_BYTES, gt=0)  # a document's content (rule 11)
    max_document_request_bytes: int = Field(default=MAX_DOCUMENT_REQUEST_BYTES, gt=0)
    hooks_https_only: bool = False  # casavi takes https:// hook URLs only; the local simulator also http://
    # How far the simulator goes beyond the API text (seed 002), switchable to what the text
    # alone shows, to prove the bridge does not depend on the extras (docs/casavi-simulator.md):
    job_results: Literal["items", "empty"] = "items"  # "empty": GET /jobs/{id} answers "results": {}
    honour_deletes: bool = True  # False: "delete": true on master data is ignored


class BodyTooLarge(Exception):
    pass


def _error(status: int, code: str, message: str, details: list[dict[str, str]] | None = None,
           headers: dict[str, str] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"error": code, "message": message}
    if details:
        body["details"] = details
    return JSONResponse(body, status_code=status, headers=headers)


class Simulator:
    """State and behaviour behind the routes; ``app.state.simulator``."""

    def __init__(self, config: SimulatorConfig, clock: Callable[[], datetime]) -> None:
        self.config = config
        self.clock = clock
        self.store = Store(config.db_path)
        self.auth = Authenticator(self.store, config.credentials, config.token_ttl_s, clock)
        self.faults = FaultInjector()
        self.limiter = RateLimiter(config.rate_limit_per_minute)
        self.stats = Stats()
        self.receipts = Receipts()
        self._received_at_ms: dict[str, int] = {}
        self._last_job: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.hook_deliveries: list[dict[str, Any]] = []  # event id, name, url (no credentials), status, attempts

    # --- import jobs ----------------------------------------------------------------

    def now_ms(self) -> int:
        return int(self.clock().timestamp() * 1000)

    def submit(self, body: dict[str, Any], received_at_ms: int | None = None) -> str:
        job_id = secrets.token_hex(12)
        self._received_at_ms[job_id] = received_at_ms if received_at_ms is not None else self.now_ms()
        self.store.add_job(job_id, Job(id=job_id, progress=0.0, completed=False).model_dump(mode="json",
                                                                                          by_alias=True), body)
        self.schedule(job_id)
        return job_id

    def schedule(self, job_id: str) -> None:
        """Process the job in the background; jobs are applied one after another, in order."""
        task = asyncio.get_running_loop().create_task(self._process(job_id, self._last_job))
        self._last_job = task
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _process(self, job_id: str, previous: asyncio.Task[None] | None) -> None:
        if self.config.job_processing_delay_s:
            await asyncio.sleep(self.config.job_processing_delay_s)
        if previous is not None:
            await asyncio.wait([previous])
        payload = self.store.job_payload(job_id)
        if payload is None:  # reset meanwhile
            return
        try:
            if DOCUMENT_JOB in payload:
                results = [apply_document(self.store, payload[DOCUMENT_JOB], self.config.max_content_bytes,
                                          self.config.honour_deletes)]
            else:
                results = apply_import(self.store, payload, self.config.honour_deletes)
        except Exception as exc:  # keep the queue going; the reason without data
            log.error("import job %s could not be applied: %s", job_id, type(exc).__name__)
            results = []
        job = Job(id=job_id, progress=1.0, completed=True, completed_at=self.clock(),
                  results=JobResults(items=results))
        self.store.finish_job(job_id, job.model_dump(mode="json", by_alias=True))
        self.stats.items(results)
        applied_at_ms = self.now_ms()
        # jobs resumed after a restart have no arrival time: their receipts carry the apply time
        received_at_ms = self._received_at_ms.pop(job_id, applied_at_ms)
        planned = plan(payload) if results and DOCUMENT_JOB not in payload else []
        self.receipts.record(received_at_ms, applied_at_ms, planned, results)

    def deliver(self, events: list[dict[str, Any]]) -> None:
        """Send REST hook events to their subscribers in the background (import contract rule 16)."""
        for ev in events:
            for url in tk.subscribers(self.store, ev["eventName"]):
                task = asyncio.get_running_loop().create_task(self._deliver(url, ev))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _deliver(self, url: str, ev: dict[str, Any]) -> None:
        import httpx

        parts = httpx.URL(url)
        auth = httpx.BasicAuth(parts.username, parts.password) if parts.username else None
        target = parts.copy_with(username=None, password=None)
        record = {"eventId": ev["eventId"], "eventName": ev["eventName"], "url": str(target), "status": None,
                  "attempts": 0}
        self.hook_deliveries.append(record)
        async with httpx.AsyncClient(timeout=5.0) as client:
            for attempt in range(1, HOOK_ATTEMPTS + 1):
                record["attempts"] = attempt
                try:
                    response = await (client.post(target, json=ev, auth=auth) if auth is not None
                                      else client.post(target, json=ev))
                    record["status"] = response.status_code
                    if response.is_success:
                        return
                except httpx.HTTPError as exc:
                    record["status"] = type(exc).__name__
                await asyncio.sleep(min(0.2 * 2 ** attempt, 5.0))

    def resume(self) -> None:
        """Jobs accepted before a restart but not applied yet."""
        for job_id in self.store.pending_jobs():
            self.schedule(job_id)

    async def drain(self) -> None:
        """Wait until every accepted job is applied (tests, shutdown)."""
        while self._tasks:
            await asyncio.wait(set(self._tasks))

    def reset(self) -> None:
        self.store.reset()
        self.stats.reset()
        self.receipts.reset()
        self._received_at_ms.clear()
        self.faults.clear()
        self.limiter.reset()
        self.hook_deliveries.clear()

    # --- reading --------------------------------------------------------------------

    def today_iso(self) -> str:
        return self.clock().date().isoformat()

    def contracts_of(self, unit_id: str, include_inactive: bool) -> list[dict[str, Any]]:
        """A unit's contracts as casavi returns them: not those naming an archived contact
        (changelog 1.5.1), and only active ones unless asked for inactive ones too."""
        today = self.today_iso()
        rows = []
        for contract in self.store.children("contract", unit_id):
            doc = contract.doc
            if any(self._archived(party["contactId"]) for party in doc["contacts"]):
                continue
            active = (doc["startDate"] is None or doc["startDate"] <= today) and (
                doc["endDate"] is None or doc["endDate"] >= today)
            if active or include_inactive:
                rows.append(doc)
        return rows

    def _archived(self, contact_id: str) -> bool:
        contact = self.store.get("contact", contact_id)
        return bool(contact and contact.doc.get(ARCHIVE_FLAG))

    def unit_view(self, unit: Stored, include_inactive: bool) -> dict[str, Any]:
        return {**unit.doc, "propertyId": unit.parent, "contracts": self.contracts_of(unit.id, include_inactive)}

    def state(self) -> dict[str, dict[str, dict[str, Any]]]:
        """Every entity as stored, keyed by id; nested entities carry their parent's id."""
        plural: dict[EntityType, str] = {"contact": "contacts", "property": "properties", "unit": "units",
                                         "contract": "contracts", "staff": "staff",
                                         "responsibility": "responsibilities", "document": "documents"}
        plural.update(tk.ticket_entities())
        state: dict[str, dict[str, dict[str, Any]]] = {}
        state["files"] = {s.id: s.doc for s in self.store.all("file")}
        state["hooks"] = {s.id: s.doc for s in self.store.all("hook")}
        for entity, name in plural.items():
            if entity == "comment":
                state[name] = {c.id: {**c.doc, "ticketId": c.parent} for c in self.store.all("comment")}
                continue
            parent_key = f"{PARENT[entity]}Id" if entity in PARENT else None
            state[name] = {
                stored.id: {**stored.doc, parent_key: stored.parent} if parent_key else stored.doc
                for stored in self.store.all(entity)
            }
        return state


# --- the gate in front of every route ------------------------------------------------


class Gate:
    """Counts requests, then (casavi API only) injects faults, rate-limits, enforces the
    body limit and checks the token, before the request reaches its route."""

    def __init__(self, app: ASGIApp, sim: Simulator, routes: list[BaseRoute]) -> None:
        self.app = app
        self.sim = sim
        self.routes = routes

    def template(self, scope: Scope) -> str:
        for route in self.routes:
            match, _ = route.matches(scope)
            if match != Match.NONE and isinstance(route, Route):
                return route.path
        return "<unmatched>"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(ADMIN_PREFIX):
            await self.app(scope, receive, send)
            return
        sim = self.sim
        scope[RECEIVED_AT_MS] = sim.now_ms()
        method: str = scope["method"]
        template = self.template(scope)
        sim.stats.request(method, template)

        async def counting_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                sim.stats.response(message["status"])
            await send(message)

        response = await self._check(scope, f"{method} {template}")
        if response is not None:
            await response(scope, receive, counting_send)
            return
        await self.app(scope, receive, counting_send)

    async def _check(self, scope: Scope, key: str) -> Response | None:
        sim = self.sim
        fault = sim.faults.take(scope["path"])
        if fault is not None:
            if fault.delay_s:
                await asyncio.sleep(fault.delay_s)
            if fault.drop:
                return _Dropped()
            if fault.status is not None:
                return _error(fault.status, "injected_fault", "fault injected by the simulator")
        retry_after = sim.limiter.acquire()
        if retry_after is not None:
            return _error(429, "rate_limited", "too many requests", headers={"Retry-After": str(retry_after)})
        headers = Request(scope).headers
        length = headers.get("content-length")
        limit = _body_limit(sim.config, scope["path"])
        if length is not None and length.isdigit() and int(length) > limit:
            return _too_large(limit)
        if key not in PUBLIC and not sim.auth.is_valid(headers.get(TOKEN_HEADER)):
            return _error(401, "unauthorized", "missing, unknown or expired token; POST /authenticate")
        return None


class _Dropped(Response):
    """Starts a response and ends the connection before its body: the client sees a
    disconnect (the server logs a 502 that was not completed)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 502,
                    "headers": [(b"content-length", b"64"), (b"content-type", b"application/json")]})


def _body_limit(config: SimulatorConfig, path: str) -> int:
    """The largest request body: a document's content in base64 for ``/documents``, else the 10 MB limit."""
    return config.max_document_request_bytes if path.rstrip("/") == "/documents" else config.max_file_bytes


def _too_large(limit: int) -> JSONResponse:
    return _error(413, "payload_too_large", f"request body exceeds {limit} bytes")


# --- routes ----------------------------------------------------------------------------


async def _read_json(request: Request, limit: int) -> object:
    size = 0
    chunks = []
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return json.loads(b"".join(chunks))


Handler = Callable[[Request], Awaitable[Response]]


def _json_endpoint(fn: Callable[[Request, object], Awaitable[Response]]) -> Handler:
    """Read the JSON body (size-limited) and hand it to ``fn``; 400/413 otherwise."""

    async def endpoint(request: Request) -> Response:
        sim: Simulator = request.app.state.simulator
        limit = _body_limit(sim.config, request.url.path)
        try:
            body = await _read_json(request, limit)
        except BodyTooLarge:
            return _too_large(limit)
        except (json.JSONDecodeError, UnicodeDecodeError):
            return _error(400, "invalid_json", "the request body is not valid JSON")
        return await fn(request, body)

    return endpoint


def _validation_details(exc: ValidationError) -> list[dict[str, str]]:
    return [{"path": ".".join(str(p) for p in e["loc"]) or "body", "message": e["msg"]}
            for e in exc.errors(include_input=False, include_url=False)]


async def authenticate(request: Request, body: object) -> Response:
    sim: Simulator = request.app.state.simulator
    if not isinstance(body, dict):
        return _error(400, "invalid_request", "the body must be a JSON object {key, secret}")
    try:
        auth_request = AuthRequest.model_validate(legacy_request(body), strict=True)
    except ValidationError as exc:
        return _error(400, "invalid_request", "key and secret are required strings", _validation_details(exc))
    granted = sim.auth.authenticate(auth_request)
    if granted is None:
        return _error(401, "unauthorized", "unknown key or wrong secret")
    return JSONResponse(granted.model_dump(mode="json", by_alias=True))


async def import_(request: Request, body: object) -> Response:
    sim: Simulator = request.app.state.simulator
    problems = check_structure(body)
    if problems:
        return _error(400, "invalid_import", "the import request is malformed",
                      [{"path": p.path, "message": p.message} for p in problems])
    assert isinstance(body, dict)
    received_at_ms = request.scope.get(RECEIVED_AT_MS)
    job_id = sim.submit(body, received_at_ms if isinstance(received_at_ms, int) else None)
    return JSONResponse(JobCreated(jobId=job_id).model_dump(by_alias=True))


async def post_document(request: Request, body: object) -> Response:
    """``POST /documents`` (import contract rule 11): one document or its delete, applied as a job."""
    sim: Simulator = request.app.state.simulator
    problems = check_document(body)
    if problems:
        return _error(400, "invalid_document", "the document request is malformed",
                      [{"path": p.path, "message": p.message} for p in problems])
    received_at_ms = request.scope.get(RECEIVED_AT_MS)
    job_id = sim.submit({DOCUMENT_JOB: body}, received_at_ms if isinstance(received_at_ms, int) else None)
    return JSONResponse(JobCreated(jobId=job_id).model_dump(by_alias=True))


async def get_document(request: Request) -> Response:
    """The document's fields, without its content (the API text: "Get information about a document")."""
    sim: Simulator = request.app.state.simulator
    stored = sim.store.get("document", request.path_params["id"])
    if stored is None:
        return _error(404, "not_found", "no such document")
    return JSONResponse(stored.doc)


async def get_job(request: Request) -> Response:
    sim: Simulator = request.app.state.simulator
    job = sim.store.job(request.path_params["id"])
    if job is None:
        return _error(404, "not_found", "no such job")
    if sim.config.job_results == "empty":
        job = {**job, "results": {}}  # as the API text shows it
    return JSONResponse(job)


def _page(request: Request, first: int) -> int | None:
    raw = request.query_params.get("page")
    if raw is None:
        return first
    try:
        page = int(raw)
    except ValueError:
        return None
    return page if page >= first else None


def _flag(request: Request, name: str) -> bool:
    return request.query_params.get(name, "false").lower() in {"1", "true", "yes"}


def _bad_page() -> JSONResponse:
    return _error(400, "invalid_request", "page must be a non-negative integer (1-based for this list)")


async def list_properties(request: Request) -> Response:
    sim: Simulator = request.app.state.simulator
    page = _page(request, 1)
    if page is None:
        return _bad_page()
    rows = [stored.doc for stored in sim.store.all("property")]
    return JSONResponse({"count": len(rows), "page": page, "pageCount": math.ceil(len(rows) / PAGE_SIZE),
                         "rows": rows[(page - 1) * PAGE_SIZE:page * PAGE_SIZE]})


async def get_property(request: Request) -> Response:
    sim: Simulator = request.app.state.simulator
    stored = sim.store.get("property", request.path_params["id"])
    if stored is None:
        return _error(404, "not_found", "no such property")
    responsibilities = [r.doc for r in sim.store.children("responsibility", stored.id)]
    return JSONResponse({**stored.doc, "responsibilities": responsibilities})


async def property_units(request: Request) -> Response:
    sim: Simulator = request.app.state.simulator
    property_id = request.path_params["id"]
    if not sim.store.exists("property", property_id):
        return _error(404, "not_found", "no such property")
    page = _page(request, 0)
    if page is None:
        return _bad_page()
    include_inactive = _flag(request, "includeInactiveContracts")
    units = sim.store.children("unit", property_id)
    rows = [sim.unit_view(unit, include_inactive) for unit in units[page * PAGE_SIZE:(page + 1) * PAGE_SIZE]]
    return JSONResponse({"rows": rows, "pageCount": math.ceil(len(units) / PAGE_SIZE), "page": page})


async def get_unit(request: Request) -> Response:
    sim: Simulator = request.app.state.simulator
    stored = sim.store.get("unit", request.path_params["id"])
    if stored is None:
        return _error(404, "not_found", "no such unit")
    return JSONResponse(sim.unit_view(stored, include_inactive=True))


async def list_contacts(request: Request) -> Response:
    sim: Simulator = request.app.state.simulator
    page = _page(request, 1)
    if page is None:
        return _bad_page()
    rows = [stored.doc for stored in sim.store.all("contact") if not stored.doc.get(ARCHIVE_FLAG)]
    return JSONResponse(rows[(page - 1) * PAGE_SIZE:page * PAGE_SIZE])


async def get_contact(request: Request) -> Response:
    sim: Simulator = request.app.state.simulator
    stored = sim.store.get("contact", request.path_params["id"])
    if stored is None:
        return _error(404, "not_found", "no such contact")
    return JSONResponse(stored.doc)


async def list_staff(request: Request) -> Response:
    sim: Simulator = request.app.state.simulator
    page = _page(request, 1)
    if page is None:
        return _bad_page()
    rows = [stored.doc for stored in sim.store.all("staff")]
    return JSONResponse(rows[(page - 1) * PAGE_SIZE:page * PAGE_SIZE])


async def get_staff(request: Request) -> Response:
    sim: Simulator = request.app.state.simulator
    stored = sim.store.get("staff", request.path_params["id"])
    if stored is None:
        return _error(404, "not_found", "no such staff member")
    return JSONResponse(stored.doc)


async def post_staff(request: Request, body: object) -> Response:
    sim: Simulator = request.app.state.simulator
    result, doc = put_staff(sim.store, body)
    sim.stats.items([result])
    if doc is None:
        return _error(400, result.error_code or "INVALID_FIELD", "the staff member is invalid",
                      [{"path": "body", "message": result.error or ""}])
    return JSONResponse(doc)


async def remove_staff(request: Request) -> Response:
    sim: Simulator = request.app.state.simulator
    result = delete_staff(sim.store, request.path_params["id"], sim.config.honour_deletes)
    sim.stats.items([result])
    if result.status == "absent":
        return _error(404, "not_found", "no such staff member")
    if result.status == "failed":
        return _error(409, result.error_code or "CONFLICT", result.error or "the staff member is in use")
    return JSONResponse({"id": result.id, "status": result.status})


# --- tickets, comments, files, posts, REST hooks (import contract rules 12-16) ---------------------------

def _answer(answer: tuple[int, Any]) -> Response:
    status, body = answer
    return JSONResponse(body, status_code=status)


def _clock(request: Request) -> Callable[[], datetime]:
    sim: Simulator = request.app.state.simulator
    return sim.clock


async def list_tickets(request: Request) -> Response:
    sim: Simulator = request.app.state.simulator
    page = _page(request, 1)
    if page is None:
        return _bad_page()
    since = request.query_params.get("date")
    return _answer(tk.list_tickets(sim.store, page, since, request.query_params.getlist("status"),
                                   request.query_params.get("propertyId"), request.query_params.get("unitId"),
                                   PAGE_SIZE))


async def post_ticket(request: Request, body: object) -> Response:
    sim: Simulator = request.app.state.simulator
    return _answer(tk.create_ticket(sim.store, body, sim.clock))


async def get_ticket(request: Request) -> Response:
    sim: Simulator = request.app.state.simulator
    stored = sim.store.get("ticket", request.path_params["id"])
    if stored is None:
        return _error(404, "not_found", "no such ticket")
    comments = [c.doc for c in sim.store.children("comment", stored.id)]
    return JSONResponse({**stored.doc, "comments": comments})


async def put_ticket(request: Request, body: object) -> Response:
    sim: Simulator = request.app.state.simulator
    return _answer(tk.update_ticket(sim.store, request.path_params["id"], body, sim.clock))


async def delete_ticket(request: Request) -> Response:
    sim: Simulator = request.app.state.simulator
    ticket_id = request.path_params["id"]
    with sim.store.transaction():
        if not sim.store.exists("ticket", ticket_id):
            return _error(404, "not_found", "no such ticket")
        for comment in sim.store.children("comment", ticket_id):
            sim.store.delete("comment", comment.id)
        sim.store.delete("ticket", ticket_id)
    return JSONResponse({"id": ticket_id, "status": "deleted"})


async def list_comments(request: Request) -> Response:
    sim: Simulator = request.app.state.simulator
    page = _page(request, 1)
    if page is None:
        return _bad_page()
    return _answer(tk.list_comments(sim.store, request.path_params["id"], page, PAGE_SIZE))


async def post_comment(request: Request, body: object) -> Response:
    sim: Simulator = request.app.state.simulator
    return _answer(tk.create_comment(sim.store, request.path_params["id"], body, sim.clock))


async def put_comment(request: Request, body: object) -> Response:
    sim: Simulator = request.app.state.simulator
    return _answer(tk.update_comment(sim.store, request.path_params["id"], request.path_params["comment"], body,
                                     sim.clock))


async def post_file(request: Request) -> Response:
    sim: Simulator = request.app.state.simulator
    size = 0
    chunks = []
    async for chunk in request.stream():
        size += len(chunk)
        if size > sim.config.max_file_bytes:
            return _too_large(sim.config.max_file_bytes)
        chunks.append(chunk)
    from urllib.parse import unquote

    name = request.headers.get("x-filename")
    return _answer(tk.create_file(sim.store, unquote(name) if name else None, request.headers.get("content-type"),
                                  b"".join(chunks), sim.config.max_content_bytes))


async def post_post(request: Request, body: object) -> Response:
    sim: Simulator = request.app.state.simulator
    return _answer(tk.create_post(sim.store, body, sim.clock))


async def get_post(request: Request) -> Response:
    sim: Simulator = request.app.state.simulator
    stored = sim.store.get("post", request.path_params["id"])
    return JSONResponse(stored.doc) if stored is not None else _error(404, "not_found", "no such post")


async def put_post(request: Request, body: object) -> Response:
    sim: Simulator = request.app.state.simulator
    return _answer(tk.update_post(sim.store, request.path_params["id"], body))


async def remove_post(request: Request) -> Response:
    sim: Simulator = request.app.state.simulator
    return _answer(tk.delete_post(sim.store, request.path_params["id"]))


async def post_hook(request: Request, body: object) -> Response:
    sim: Simulator = request.app.state.simulator
    status, answer = tk.subscribe(sim.store, body, sim.config.hooks_https_only)
    headers = {"Location": f"/hooks/{answer['id']}"} if status == 201 else None
    return JSONResponse(answer, status_code=status, headers=headers)


async def remove_hook(request: Request) -> Response:
    sim: Simulator = request.app.state.simulator
    return _answer(tk.unsubscribe(sim.store, request.path_params["id"]))


async def portal_ticket(request: Request, body: object) -> Response:
    """``POST /_sim/portal/tickets``: a tenant reports something in the portal (hooks are delivered)."""
    sim: Simulator = request.app.state.simulator
    answer, events = tk.portal_ticket(sim.store, body, sim.clock)
    sim.deliver(events)
    return _answer(answer)


async def portal_comment(request: Request, body: object) -> Response:
    """``POST /_sim/portal/tickets/{id}/comments``: a comment written in casavi (hooks are delivered)."""
    sim: Simulator = request.app.state.simulator
    answer, events = tk.portal_comment(sim.store, request.path_params["id"], body, sim.clock)
    sim.deliver(events)
    return _answer(answer)


async def get_hook_deliveries(request: Request) -> Response:
    sim: Simulator = request.app.state.simulator
    return JSONResponse({"deliveries": sim.hook_deliveries})


# --- admin (/_sim/, no token) ------------------------------------------------------------


async def add_fault(request: Request, body: object) -> Response:
    sim: Simulator = request.app.state.simulator
    try:
        fault = FaultRequest.model_validate(body)
    except ValidationError as exc:
        return _error(400, "invalid_request", "invalid fault", _validation_details(exc))
    if fault.expire_tokens:
        sim.auth.expire_all()
    sim.faults.add(fault)
    return JSONResponse({"pending": sim.faults.pending()})


async def list_faults(request: Request) -> Response:
    sim: Simulator = request.app.state.simulator
    return JSONResponse({"pending": sim.faults.pending()})


async def clear_faults(request: Request) -> Response:
    sim: Simulator = request.app.state.simulator
    sim.faults.clear()
    return JSONResponse({"pending": []})


async def get_state(request: Request) -> Response:
    sim: Simulator = request.app.state.simulator
    return JSONResponse(sim.state())


async def get_stats(request: Request) -> Response:
    sim: Simulator = request.app.state.simulator
    return JSONResponse({**sim.stats.snapshot(), "entities": sim.store.counts()})


async def get_receipts(request: Request) -> Response:
    sim: Simulator = request.app.state.simulator
    raw = request.query_params.get("since_ms", "0")
    try:
        since_ms = int(raw)
    except ValueError:
        return _error(400, "invalid_request", "since_ms must be an integer (wall clock, ms since the epoch)")
    return JSONResponse({"receipts": sim.receipts.since(since_ms)})


class ModeRequest(BaseModel):
    """Body of ``POST /_sim/mode``: switch how far the simulator goes beyond the API text."""

    model_config = ConfigDict(extra="forbid")

    job_results: Literal["items", "empty"] | None = None
    honour_deletes: bool | None = None


def _mode(sim: Simulator) -> dict[str, Any]:
    return {"job_results": sim.config.job_results, "honour_deletes": sim.config.honour_deletes}


async def set_mode(request: Request, body: object) -> Response:
    sim: Simulator = request.app.state.simulator
    try:
        mode = ModeRequest.model_validate(body)
    except ValidationError as exc:
        return _error(400, "invalid_mode", f"{exc.error_count()} invalid fields")
    sim.config = sim.config.model_copy(update=mode.model_dump(exclude_none=True))
    return JSONResponse(_mode(sim))


async def get_mode(request: Request) -> Response:
    return JSONResponse(_mode(request.app.state.simulator))


async def reset(request: Request) -> Response:
    sim: Simulator = request.app.state.simulator
    sim.reset()
    return JSONResponse({"reset": True})


def create_app(config: SimulatorConfig, *, clock: Callable[[], datetime] | None = None) -> Starlette:
    """The simulator as an ASGI app; ``clock`` (UTC) replaces the wall clock in tests."""
    sim = Simulator(config, clock or (lambda: datetime.now(UTC)))
    routes: list[BaseRoute] = [
        Route("/authenticate", _json_endpoint(authenticate), methods=["POST"]),
        Route("/import", _json_endpoint(import_), methods=["POST"]),
        Route("/jobs/{id}", get_job, methods=["GET"]),
        Route("/documents", _json_endpoint(post_document), methods=["POST"]),
        Route("/documents/{id}", get_document, methods=["GET"]),
        Route("/tickets", list_tickets, methods=["GET"]),
        Route("/tickets", _json_endpoint(post_ticket), methods=["POST"]),
        Route("/tickets/{id}", get_ticket, methods=["GET"]),
        Route("/tickets/{id}", _json_endpoint(put_ticket), methods=["PUT"]),
        Route("/tickets/{id}", delete_ticket, methods=["DELETE"]),
        Route("/tickets/{id}/comments", list_comments, methods=["GET"]),
        Route("/tickets/{id}/comments", _json_endpoint(post_comment), methods=["POST"]),
        Route("/tickets/{id}/comments/{comment}", _json_endpoint(put_comment), methods=["PUT"]),
        Route("/files", post_file, methods=["POST"]),
        Route("/posts", _json_endpoint(post_post), methods=["POST"]),
        Route("/posts/{id}", get_post, methods=["GET"]),
        Route("/posts/{id}", _json_endpoint(put_post), methods=["PUT"]),
        Route("/posts/{id}", remove_post, methods=["DELETE"]),
        Route("/hooks", _json_endpoint(post_hook), methods=["POST"]),
        Route("/hooks/{id}", remove_hook, methods=["DELETE"]),
        Route("/_sim/portal/tickets", _json_endpoint(portal_ticket), methods=["POST"]),
        Route("/_sim/portal/tickets/{id}/comments", _json_endpoint(portal_comment), methods=["POST"]),
        Route("/_sim/hooks/deliveries", get_hook_deliveries, methods=["GET"]),
        Route("/properties", list_properties, methods=["GET"]),
        Route("/properties/{id}", get_property, methods=["GET"]),
        Route("/properties/{id}/units", property_units, methods=["GET"]),
        Route("/units/{id}", get_unit, methods=["GET"]),
        Route("/contacts", list_contacts, methods=["GET"]),
        Route("/contacts/{id}", get_contact, methods=["GET"]),
        Route("/staff", list_staff, methods=["GET"]),
        Route("/staff", _json_endpoint(post_staff), methods=["POST"]),
        Route("/staff/{id}", get_staff, methods=["GET"]),
        Route("/staff/{id}", remove_staff, methods=["DELETE"]),
        Route("/_sim/faults", _json_endpoint(add_fault), methods=["POST"]),
        Route("/_sim/faults", list_faults, methods=["GET"]),
        Route("/_sim/faults", clear_faults, methods=["DELETE"]),
        Route("/_sim/state", get_state, methods=["GET"]),
        Route("/_sim/stats", get_stats, methods=["GET"]),
        Route("/_sim/receipts", get_receipts, methods=["GET"]),
        Route("/_sim/reset", reset, methods=["POST"]),
        Route("/_sim/mode", _json_endpoint(set_mode), methods=["POST"]),
        Route("/_sim/mode", get_mode, methods=["GET"]),
    ]

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        sim.resume()
        try:
            yield
        finally:
            await sim.drain()
            sim.store.close()

    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.simulator = sim
    app.add_middleware(Gate, sim=sim, routes=routes)
    return app
