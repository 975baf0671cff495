"""``CasaviClient``: the sink's only way to talk to the casavi manager API.

It authenticates (``POST /authenticate``), keeps the token until shortly before its
``expiresAt`` and authenticates again when casavi answers 401; starts imports
(``POST /import``) and polls their jobs (``GET /jobs/{jobId}``); writes staff members
(``POST /staff``, ``DELETE /staff/{id}``); reads casavi back
(``GET /properties``, ``/properties/{id}/units``, ``/contacts``) for the reconcile; sends documents
(``POST /documents``, a job like an import), tickets, posts, comments and files
(``import_contract`` rules 12–15). Every request is paced
by a token bucket at ``requests_per_minute`` (polls count too) and handled by the
error table in ``policy``. Logs name requests, statuses and counts, never a token, a
secret or anything from a request or response body.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Literal
from urllib.parse import quote

import httpx
from pydantic import ValidationError

from streams.casavi.import_contract import REMOVED_TEXT
from streams.casavi.models import AuthRequest, AuthResponse, FileCreated, Job, JobCreated
from streams.settings import CasaviSettings
from streams.sink.policy import Action, Backoff, classify_exception, classify_status, retry_after_s

log = logging.getLogger(__name__)

RequestKind = Literal["authenticate", "import", "job", "read", "staff", "document", "ticket", "post", "comment", "file",
                      "hook"]
TOKEN_MARGIN = timedelta(minutes=5)
Sleep = Callable[[float], Awaitable[None]]


class CasaviError(Exception):
    """casavi refused a request for good. Carries no body content: only status and a code."""

    def __init__(self, kind: RequestKind, status: int, action: Action, code: str) -> None:
        super().__init__(f"casavi refused {kind}: HTTP {status} ({code})")
        self.kind = kind
        self.status = status
        self.action = action
        self.code = code


class JobTimeout(Exception):
    """An import job did not complete before ``job_timeout_s``."""

    def __init__(self, job_id: str, timeout_s: float) -> None:
        super().__init__(f"casavi import job {job_id} not completed after {timeout_s:.0f} s")
        self.job_id = job_id


class Stopped(Exception):
    """The sink is stopping; a request waiting to be retried was abandoned (not committed)."""


_PATH_WORDS = frozenset({"authenticate", "import", "jobs", "properties", "units", "contacts", "contracts", "staff",
                         "documents", "tickets", "posts", "comments"})


def endpoint_of(method: str, path: str) -> str:
    """``GET /properties/{id}/units``: the request's method and path with every id replaced, as
    casavi's API text names its endpoints (a metric label never carries a reference id)."""
    segments = path.split("?", 1)[0].strip("/").split("/")
    return f"{method} /" + "/".join(s if s in _PATH_WORDS else "{id}" for s in segments if s)


@dataclass
class ClientCounters:
    requests: Counter[str] = field(default_factory=Counter)
    retries: int = 0
    rate_limited: int = 0
    reauthentications: int = 0
    transport_errors: int = 0
    # (endpoint, HTTP status or "transport_error") -> requests; endpoint -> retries
    responses: Counter[tuple[str, str]] = field(default_factory=Counter)
    retries_by_endpoint: Counter[str] = field(default_factory=Counter)
    pacing_wait_s: float = 0.0  # time requests waited for the client-side pacing (requests_per_minute)
    retry_wait_s: float = 0.0  # time spent waiting before retries (backoff, Retry-After)

    def snapshot(self) -> dict[str, Any]:
        return {
            "requests": dict(self.requests),
            "retries": self.retries,
            "rate_limited": self.rate_limited,
            "reauthentications": self.reauthentications,
            "transport_errors": self.transport_errors,
        }


@dataclass(frozen=True)
class Reachability:
    """What the last request to casavi showed: an answer (any status below 500, except casavi
    refusing the credentials) or not."""

    ok: bool
    detail: str
    at: float


class TokenBucket:
    """Client-side pacing: ``rate_per_s`` requests a second on average, bursts up to ``capacity``."""

    def __init__(self, rate_per_s: float, capacity: float, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Sleep = asyncio.sleep) -> None:
        self._rate = rate_per_s
        self._capacity = max(1.0, capacity)
        self._tokens = self._capacity
        self._clock = clock
        self._sleep = sleep
        self._last = clock()
        self._lock = asyncio.Lock()
        self.waited_s = 0.0  # seconds requests have waited for a token

    def _available(self, now: float) -> float:
        """The tokens the bucket holds at ``now`` (refilled since the last take)."""
        return min(self._capacity, self._tokens + (now - self._last) * self._rate)

    def wait_s(self) -> float:
        """Seconds until a request may go, without taking its token."""
        if self._rate <= 0:
            return 0.0
        return max(0.0, (1.0 - self._available(self._clock())) / self._rate)

    async def take(self) -> None:
        if self._rate <= 0:
            return
        async with self._lock:
            while True:
                now = self._clock()
                self._tokens, self._last = self._available(now), now
                if self._tokens >= 1.0:
                    self._tokens -= 1.0
                    return
                wait = (1.0 - self._tokens) / self._rate
                self.waited_s += wait
                await self._sleep(wait)


_CODE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{1,63}$")


def _error_code(response: httpx.Response) -> str:
    """casavi's machine-readable error code, if the body has one; else ``HTTP_<status>``.
    Free text of the body is never read (it may echo personal data)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        for key in ("errorCode", "code", "error"):
            value = body.get(key)
            if isinstance(value, str) and _CODE.match(value):
                return value
    return f"HTTP_{response.status_code}"


FIRST_JOB_POLL_S = 0.1


def _q(reference_id: str) -> str:
    return quote(reference_id, safe="")


class CasaviClient:
    """One casavi system (R22: ``settings.active``). Use as ``async with CasaviClient(...)``."""

    def __init__(
        self,
        settings: CasaviSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
        backoff: Backoff | None = None,
        stop: asyncio.Event | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        system = settings.active
        self._key = system.key
        self._secret = system.secret
        self._http = httpx.AsyncClient(base_url=system.url, transport=transport, timeout=settings.request_timeout_s)
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._backoff = backoff or Backoff(max_retries=settings.max_retries)
        self._bucket = TokenBucket(settings.requests_per_minute / 60.0,
                                   capacity=settings.requests_per_minute / 60.0, clock=clock, sleep=sleep)
        self._stop = stop
        self._token: str | None = None
        self._token_valid_until = datetime.min.replace(tzinfo=timezone.utc)
        self._auth_lock = asyncio.Lock()
        self.counters = ClientCounters()
        self.reachability: Reachability | None = None  # None: no request answered or failed yet

    def pacing_wait_s(self) -> float:
        """Seconds until casavi's pacing lets the next request go."""
        return self._bucket.wait_s()

    @property
    def url(self) -> str:
        return str(self._http.base_url)

    async def __aenter__(self) -> CasaviClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # --- authentication ------------------------------------------------------------------

    def _token_fresh(self) -> bool:
        return self._token is not None and datetime.now(timezone.utc) < self._token_valid_until

    async def authenticate(self) -> None:
        """Get a new token (always asks casavi)."""
        async with self._auth_lock:
            await self._authenticate_locked()

    async def _authenticate_locked(self) -> None:
        body = AuthRequest(key=self._key.get_secret_value(), secret=self._secret.get_secret_value()).model_dump()
        response = await self._send("authenticate", "POST", "/authenticate", body, authenticated=False)
        try:
            auth = AuthResponse.model_validate(response.json())
        except (ValueError, ValidationError):
            raise CasaviError("authenticate", response.status_code, Action.FAIL, "BAD_AUTH_RESPONSE") from None
        expires_at = auth.expires_at if auth.expires_at.tzinfo else auth.expires_at.replace(tzinfo=timezone.utc)
        now = datetime.now(timezone.utc)
        # Renew a little early, but never treat a short-lived token as already expired.
        margin = min(TOKEN_MARGIN, (expires_at - now) / 10)
        self._token = auth.token
        self._token_valid_until = expires_at - max(margin, timedelta(0))
        log.info("authenticated at casavi; token valid until %s", expires_at.isoformat())

    async def _ensure_token(self) -> str:
        async with self._auth_lock:
            if not self._token_fresh():
                await self._authenticate_locked()
            assert self._token is not None
            return self._token

    async def _reauthenticate(self, rejected: str | None) -> None:
        async with self._auth_lock:
            if self._token == rejected or not self._token_fresh():  # another task may have renewed it
                self.counters.reauthentications += 1
                log.info("casavi rejected the token; authenticating again")
                self._token = None
                await self._authenticate_locked()

    # --- imports and jobs ----------------------------------------------------------------

    async def start_import(self, body: Mapping[str, Any]) -> str:
        """Start an import; returns casavi's job id."""
        response = await self._send("import", "POST", "/import", body)
        try:
            return JobCreated.model_validate(response.json()).job_id
        except (ValueError, ValidationError):
            raise CasaviError("import", response.status_code, Action.FAIL, "BAD_IMPORT_RESPONSE") from None

    async def get_job(self, job_id: str) -> Job:
        response = await self._send("job", "GET", f"/jobs/{job_id}")
        try:
            return Job.model_validate(response.json())
        except (ValueError, ValidationError):
            raise CasaviError("job", response.status_code, Action.FAIL, "BAD_JOB_RESPONSE") from None

    async def wait_for_job(self, job_id: str, *, started_earlier: bool = False) -> Job:
        """Poll the job every ``job_poll_interval_s`` until it is completed; ``JobTimeout`` after
        ``job_timeout_s``. ``started_earlier``: the job was created a while ago (others were
        sent since), so the first look comes at once."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._settings.job_timeout_s
        # small imports finish quickly: the first look comes early, then every interval
        interval = 0.0 if started_earlier else min(FIRST_JOB_POLL_S, self._settings.job_poll_interval_s)
        while True:
            if interval:
                await self._sleep(interval)  # a running job is finished, even when stopping
            job = await self.get_job(job_id)
            if job.completed:
                return job
            if loop.time() >= deadline:
                raise JobTimeout(job_id, self._settings.job_timeout_s)
            interval = self._settings.job_poll_interval_s

    async def start_document_import(self, body: Mapping[str, Any]) -> str:
        """``POST /documents`` (``import_contract`` rule 11): one document or its delete; casavi's job id.
        The body holds the document's content: it is never logged."""
        response = await self._send("document", "POST", "/documents", body)
        try:
            return JobCreated.model_validate(response.json()).job_id
        except (ValueError, ValidationError):
            raise CasaviError("document", response.status_code, Action.FAIL, "BAD_IMPORT_RESPONSE") from None

    # --- tickets, posts, comments, files (rules 12-15) ---------------------------------------

    async def _update_or_create(self, kind: RequestKind, item_path: str, create_path: str,
                                document: Mapping[str, Any], update: Mapping[str, Any] | None = None,
                                *, new: bool = False) -> None:
        """``PUT`` the item; when casavi does not know it (404), ``POST`` it. ``new``: the item is
        most likely not there yet: ``POST`` first, ``PUT`` when casavi has it already (409)."""
        body = update if update is not None else document
        first, then = (("POST", create_path, document, 409), ("PUT", item_path, body, 0)) if new else \
            (("PUT", item_path, body, 404), ("POST", create_path, document, 0))
        try:
            await self._send(kind, first[0], first[1], first[2])
        except CasaviError as exc:
            if exc.status != first[3]:
                raise
            await self._send(kind, then[0], then[1], then[2])

    async def upsert_ticket(self, document: Mapping[str, Any], *, new: bool = False) -> None:
        await self._update_or_create("ticket", f"/tickets/{_q(document['id'])}", "/tickets", document, new=new)

    async def close_ticket(self, reference_id: str) -> None:
        """Close a ticket (rule 12: the bridge never deletes one); one that is not there counts as closed."""
        try:
            held = await self._send("ticket", "GET", f"/tickets/{_q(reference_id)}")
        except CasaviError as exc:
            if exc.status == 404:
                return
            raise
        ticket = held.json()
        if ticket.get("status") == "CLOSED":
            return
        await self._send("ticket", "PUT", f"/tickets/{_q(reference_id)}",
                         {"id": reference_id, "title": ticket["title"], "propertyId": ticket["propertyId"],
                          "status": "CLOSED"})

    async def upsert_post(self, document: Mapping[str, Any], *, new: bool = False) -> None:
        await self._update_or_create("post", f"/posts/{_q(document['id'])}", "/posts", document, new=new)

    async def delete_post(self, reference_id: str) -> None:
        try:
            await self._send("post", "DELETE", f"/posts/{_q(reference_id)}")
        except CasaviError as exc:
            if exc.status != 404:
                raise

    async def upsert_comment(self, ticket_id: str, document: Mapping[str, Any], *, new: bool = False) -> None:
        """A comment: its text and visibility set when it exists, else created (rule 13)."""
        path = f"/tickets/{_q(ticket_id)}/comments"
        await self._update_or_create("comment", f"{path}/{_q(document['id'])}", path, document,
                                     {"id": document["id"], "text": document["text"],
                                      "isInternal": document.get("isInternal", False)}, new=new)

    async def comment_exists(self, ticket_id: str, comment_id: str, text: str) -> bool:
        """Whether the comment is there (set to ``text``, shown to tenants): an attachment is uploaded once."""
        try:
            await self._send("comment", "PUT", f"/tickets/{_q(ticket_id)}/comments/{_q(comment_id)}",
                             {"id": comment_id, "text": text, "isInternal": False})
        except CasaviError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    async def create_comment(self, ticket_id: str, document: Mapping[str, Any]) -> None:
        """Create a comment; one with this id that is there already counts as created."""
        try:
            await self._send("comment", "POST", f"/tickets/{_q(ticket_id)}/comments", document)
        except CasaviError as exc:
            if exc.status != 409:
                raise

    async def hide_comment(self, ticket_id: str, comment_id: str) -> None:
        """Take a comment back from the tenants (rule 13: no delete in the API text)."""
        try:
            await self._send("comment", "PUT", f"/tickets/{_q(ticket_id)}/comments/{_q(comment_id)}",
                             {"id": comment_id, "text": REMOVED_TEXT, "isInternal": True})
        except CasaviError as exc:
            if exc.status != 404:
                raise

    async def upload_file(self, name: str, content_type: str | None, data: bytes) -> int:
        """``POST /files`` (rule 14); casavi's file id. The content is never logged."""
        response = await self._send("file", "POST", "/files", content=data,
                                    headers={"X-Filename": quote(name), "Content-Type": content_type
                                             or "application/octet-stream"})
        try:
            return FileCreated.model_validate(response.json()).id
        except (ValueError, ValidationError):
            raise CasaviError("file", response.status_code, Action.FAIL, "BAD_FILE_RESPONSE") from None

    async def subscribe_hook(self, event_name: str, hook_url: str) -> int:
        """A REST hook subscription (rule 16); casavi's id of it. The URL carries credentials: never logged."""
        response = await self._send("hook", "POST", "/hooks", {"eventName": event_name, "hookUrl": hook_url})
        try:
            return int(response.json()["id"])
        except (ValueError, KeyError, TypeError):
            raise CasaviError("hook", response.status_code, Action.FAIL, "BAD_HOOK_RESPONSE") from None

    async def unsubscribe_hook(self, hook_id: int) -> None:
        try:
            await self._send("hook", "DELETE", f"/hooks/{hook_id}")
        except CasaviError as exc:
            if exc.status != 404:
                raise

    async def put_staff(self, document: Mapping[str, Any]) -> None:
        """``POST /staff``: create or update a staff member (``import_contract`` rule 9)."""
        await self._send("staff", "POST", "/staff", document)

    async def delete_staff(self, reference_id: str) -> None:
        """``DELETE /staff/{id}`` (rule 9); a staff member that is not there counts as deleted."""
        try:
            await self._send("staff", "DELETE", f"/staff/{quote(reference_id, safe='')}")
        except CasaviError as exc:
            if exc.status != 404:
                raise

    async def read(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """``GET`` a documented read endpoint (paced and retried like every request); the parsed JSON."""
        query = "" if not params else "?" + "&".join(f"{k}={v}" for k, v in params.items())
        response = await self._send("read", "GET", path + query)
        try:
            return response.json()
        except ValueError:
            raise CasaviError("read", response.status_code, Action.FAIL, "BAD_READ_RESPONSE") from None

    # --- the request loop ----------------------------------------------------------------

    async def _wait(self, seconds: float) -> None:
        """Sleep before a retry, but give up early (``Stopped``) when the sink is asked to stop:
        the batch is then not committed and is read again after the restart."""
        if self._stop is None:
            await self._sleep(seconds)
            return
        if self._stop.is_set():
            raise Stopped()
        sleeper = asyncio.ensure_future(self._sleep(seconds))
        stopper = asyncio.ensure_future(self._stop.wait())
        try:
            await asyncio.wait({sleeper, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            stopper.cancel()
        if self._stop.is_set():
            raise Stopped()

    async def _send(self, kind: RequestKind, method: str, path: str, body: Mapping[str, Any] | None = None,
                    *, authenticated: bool = True, content: bytes | None = None,
                    headers: Mapping[str, str] | None = None) -> httpx.Response:
        attempt = 0
        reauthenticated = False
        extra = dict(headers or {})
        while True:
            headers = dict(extra)
            token: str | None = None
            if authenticated:
                token = await self._ensure_token()
                headers["token"] = token
            await self._bucket.take()
            self.counters.pacing_wait_s = self._bucket.waited_s
            self.counters.requests[kind] += 1
            endpoint = endpoint_of(method, path)
            wait_s: float | None = None
            try:
                response = await self._http.request(method, path, json=body if content is None else None,
                                                    content=content, headers=headers)
            except httpx.TransportError as exc:
                rule = classify_exception(exc)
                assert rule is not None
                self.counters.transport_errors += 1
                self.counters.responses[(endpoint, "transport_error")] += 1
                self.reachability = Reachability(False, f"no answer ({type(exc).__name__})", time.time())
                action, why, status = rule.action, rule.why, 0
            else:
                rule = classify_status(response.status_code, authenticating=not authenticated)
                action, why, status = rule.action, rule.why, response.status_code
                self.counters.responses[(endpoint, str(status))] += 1
                refused = not authenticated and status in (401, 403)
                self.reachability = Reachability(
                    status < 500 and not refused,
                    "casavi refused the credentials" if refused else f"HTTP {status} on {endpoint}", time.time())
                if action is Action.SUCCESS:
                    return response
                if action is Action.RATE_LIMITED:
                    self.counters.rate_limited += 1
                    wait_s = retry_after_s(response.headers.get("Retry-After"))
                elif action is Action.REAUTHENTICATE:
                    if not reauthenticated:
                        reauthenticated = True
                        await self._reauthenticate(token)
                        continue
                    action = Action.RETRY
                elif action in (Action.FAIL_BATCH, Action.FAIL):
                    code = _error_code(response)
                    log.warning("casavi refused %s %s: HTTP %d %s (%s)", method, kind, status, code, why)
                    raise CasaviError(kind, status, action, code)
            attempt += 1
            self.counters.retries += 1
            self.counters.retries_by_endpoint[endpoint] += 1
            if wait_s is None:
                wait_s = self._backoff.delay(attempt, self._rng)
            if self._backoff.exhausted(attempt):
                log.error("casavi unavailable for %s after %d attempts (%s, status %d); still retrying every ~%.0f s",
                          kind, attempt, why, status, wait_s)
            else:
                log.warning("casavi %s: %s (status %d); retry %d in %.1f s", kind, why, status, attempt, wait_s)
            self.counters.retry_wait_s += wait_s
            await self._wait(wait_s)
