"""``bridge hooks``: casavi's REST hooks for tickets and comments, with polling as the fallback.

At start the receiver subscribes to ``ticket_created`` and ``ticket_comment_created``
(``import_contract`` rule 16) with a hook URL that carries Basic auth credentials; it accepts
only requests with those credentials for an event it subscribed to, and unsubscribes at stop.
A hook names the ticket or comment; the receiver reads it from casavi (``GET /tickets/{id}``,
``/tickets/{id}/comments``) and hands it to the ``Intake``. It answers 2xx only once the event
is on the inbound topic, so casavi sends it again otherwise.

The poller reads ``GET /tickets?date=<since>`` page by page, and each such ticket's comments,
every ``poll_interval_s``: what a lost hook missed arrives at the latest then.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import json
import logging
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from streams.inbound.intake import Intake
from streams.settings import InboundSettings
from streams.sink.client import CasaviClient, CasaviError

log = logging.getLogger(__name__)

EVENTS = ("ticket_created", "ticket_comment_created")
PAGE_SIZE = 25
HOOK_PATH = "/hooks"


class Credentials:
    """The Basic auth user and password of the subscribed hook URL."""

    def __init__(self, settings: InboundSettings) -> None:
        self.user = settings.user
        self.password = settings.secret.get_secret_value() or secrets.token_urlsafe(24)

    def hook_url(self, public_url: str) -> str:
        """The URL given to casavi: ``scheme://user:password@host/path``."""
        parts = urlsplit(public_url)
        netloc = f"{quote(self.user, safe='')}:{quote(self.password, safe='')}@{parts.netloc}"
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))

    def valid(self, header: str | None) -> bool:
        if not header or not header.startswith("Basic "):
            return False
        try:
            given = base64.b64decode(header[6:], validate=True).decode()
        except (ValueError, UnicodeDecodeError):
            return False
        expected = f"{self.user}:{self.password}"
        return hmac.compare_digest(given.encode(), expected.encode())


def public_url(settings: InboundSettings) -> str:
    return settings.public_url or f"http://{settings.host}:{settings.port}{HOOK_PATH}"


async def comments_of(client: CasaviClient, ticket_id: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    page = 1
    while True:
        rows = await client.read(f"/tickets/{quote(ticket_id, safe='')}/comments", {"page": page})
        out.extend(rows)
        if len(rows) < PAGE_SIZE:
            return out
        page += 1


def receiver(client: CasaviClient, intake: Intake, credentials: Credentials) -> Starlette:
    """The hook receiver: verified requests of the subscribed events only."""

    async def hook(request: Request) -> Response:
        if not credentials.valid(request.headers.get("authorization")):
            intake.stats.hooks_refused += 1
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        try:
            ev = json.loads(await request.body())
            name, payload = ev["eventName"], ev["payload"]
        except (ValueError, KeyError, TypeError):
            intake.stats.hooks_refused += 1
            return JSONResponse({"error": "not an event"}, status_code=400)
        if name not in EVENTS:
            intake.stats.hooks_refused += 1
            return JSONResponse({"error": "event not subscribed"}, status_code=400)
        intake.stats.hooks_received += 1
        try:
            if name == "ticket_created":
                ticket = await client.read(f"/tickets/{quote(str(payload['id']), safe='')}")
                await intake.ticket(ticket, "HOOK")
            else:
                ticket = await client.read(f"/tickets/{quote(str(payload['ticketId']), safe='')}")
                wanted = [c for c in await comments_of(client, ticket["id"]) if c["id"] == payload["commentId"]]
                await intake.comments(ticket, wanted, "HOOK")
        except CasaviError as exc:  # casavi sends the event again
            log.warning("hook %s: reading casavi failed (HTTP %s %s)", name, exc.status, exc.code)
            return JSONResponse({"error": "casavi unavailable"}, status_code=503)
        except KeyError:
            intake.stats.hooks_refused += 1
            return JSONResponse({"error": "payload incomplete"}, status_code=400)
        return JSONResponse({"accepted": True})

    return Starlette(routes=[Route(HOOK_PATH, hook, methods=["POST"])])


class Poller:
    """The polling fallback: tickets changed since the last poll and their comments."""

    def __init__(self, client: CasaviClient, intake: Intake, state_path: Path, lookback: timedelta) -> None:
        self.client = client
        self.intake = intake
        self.state_path = state_path
        self.lookback = lookback

    def _since(self) -> str:
        try:
            return str(json.loads(self.state_path.read_text())["since"])
        except (OSError, ValueError, KeyError):
            return _iso(datetime.now(timezone.utc) - self.lookback)

    async def poll(self) -> int:
        """One poll; returns the events published."""
        started = datetime.now(timezone.utc)
        since = self._since()
        published = 0
        page = 1
        while True:
            tickets = await self.client.read("/tickets", {"date": since, "page": page})
            for ticket in tickets:
                published += await self.intake.ticket(ticket, "POLL")
                published += await self.intake.comments(ticket, await comments_of(self.client, ticket["id"]), "POLL")
            if len(tickets) < PAGE_SIZE:
                break
            page += 1
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        # a minute of overlap: a change written while the poll ran is read again (and found published)
        self.state_path.write_text(json.dumps({"since": _iso(started - timedelta(minutes=1))}))
        self.intake.stats.polls += 1
        self.intake.stats.last_poll_at = time.time()
        return published


def _iso(t: datetime) -> str:
    return t.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@asynccontextmanager
async def subscribed(client: CasaviClient, url: str) -> AsyncIterator[list[int]]:
    """Subscribe to the ticket events for the duration (unsubscribe at the end)."""
    ids = [await client.subscribe_hook(name, url) for name in EVENTS]
    try:
        yield ids
    finally:
        for hook_id in ids:
            try:
                await asyncio.shield(client.unsubscribe_hook(hook_id))
            except Exception as exc:  # noqa: BLE001 - stopping: casavi may be gone
                log.warning("unsubscribing hook %d failed (%s)", hook_id, type(exc).__name__)
