"""The protocol page's web server (Starlette): read-only, GET only, nothing loaded from elsewhere.

    GET /            the page (it fetches /fragment every BRIDGE_UI__REFRESH_S seconds)
    GET /fragment    the page's changing part, as HTML
    GET /api/page    the same snapshot as JSON (``streams.ui.model.PageModel``)
    GET /explain?entity=contact&key=…   why an entity is (not) in casavi (``bridge explain``)

With ``BRIDGE_UI__TOKEN`` set, every request must carry the token: ``Authorization: Bearer …``,
or the cookie that ``/?token=…`` sets once (the address without the token is shown then).
"""

from __future__ import annotations

import hmac
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Protocol
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from streams.settings import UiSettings
from streams.ui.model import PageModel
from streams.projection.explain import ENTITIES
from streams.ui.render import CSS, JS, WAITING, document, explanation, fragment

COOKIE = "bridge_ui_token"
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; script-src 'self'; connect-src 'self'; "
                               "img-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class PageSource(Protocol):
    page: PageModel | None

    def run(self, stop: threading.Event) -> None: ...


def _authorised(request: Request, token: str) -> bool:
    offered = request.cookies.get(COOKIE, "")
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        offered = header[7:].strip()
    return bool(offered) and hmac.compare_digest(offered.encode(), token.encode())


Explain = Callable[[str, str], str]  # (entity, ERP number or reference id) -> the explanation as text


def create_app(ui: UiSettings, source: PageSource, *, collect: bool = True, explain: Explain | None = None
               ) -> Starlette:
    """``source.page`` is what the page shows; with ``collect``, ``source.run`` refreshes it in a
    thread from startup to shutdown. ``explain`` answers the page's search (``bridge explain``;
    it reads Kafka, so it runs in a thread)."""
    token = ui.token.get_secret_value() if ui.token is not None else ""

    async def index(request: Request) -> Response:
        page = source.page
        return HTMLResponse(document(fragment(page) if page else WAITING, ui.refresh_s))

    async def part(request: Request) -> Response:
        page = source.page
        return HTMLResponse(fragment(page) if page else WAITING)

    async def api(request: Request) -> Response:
        page = source.page
        if page is None:
            return JSONResponse({"error": "gathering the first figures"}, status_code=503)
        return Response(page.model_dump_json(), media_type="application/json")

    async def why(request: Request) -> Response:
        entity, key = request.query_params.get("entity", ""), request.query_params.get("key", "").strip()
        if entity not in ENTITIES or not key:
            return PlainTextResponse(f"explain needs entity (one of {', '.join(ENTITIES)}) and key", status_code=400)
        if explain is None:
            return PlainTextResponse("explain is not available on this page", status_code=404)
        text = await run_in_threadpool(explain, entity, key)
        return HTMLResponse(explanation(entity, key, text))

    async def css(request: Request) -> Response:
        return Response(CSS, media_type="text/css")

    async def js(request: Request) -> Response:
        return Response(JS, media_type="text/javascript")

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        stop = threading.Event()
        thread = threading.Thread(target=source.run, args=(stop,), name="protocol-page", daemon=True)
        if collect:
            thread.start()
        try:
            yield
        finally:
            stop.set()
            if collect:
                thread.join(timeout=30)

    async def guard(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        if request.method not in ("GET", "HEAD"):
            response: Response = PlainTextResponse("the protocol page is read-only", status_code=405)
        elif token and "token" in request.query_params:
            if hmac.compare_digest(request.query_params["token"].encode(), token.encode()):
                rest = urlencode([(k, v) for k, v in request.query_params.multi_items() if k != "token"])
                response = RedirectResponse(request.url.path + (f"?{rest}" if rest else ""), status_code=303)
                response.set_cookie(COOKIE, token, httponly=True, samesite="strict")
            else:
                response = PlainTextResponse("wrong token", status_code=401)
        elif token and not _authorised(request, token):
            response = PlainTextResponse("a token is needed: open the page's address with ?token=…", status_code=401)
        else:
            response = await call_next(request)
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    return Starlette(routes=[Route("/", index), Route("/fragment", part), Route("/api/page", api), Route("/explain", why),
                             Route("/page.css", css), Route("/page.js", js)],
                     middleware=[Middleware(BaseHTTPMiddleware, dispatch=guard)], lifespan=lifespan)
