"""An in-process stand-in for a Confluent-compatible schema registry's REST API, as the bridge
uses it: register a schema under a subject (the same schema keeps its id), fetch a schema by id.
Served through httpx's mock transport (unit tests) or over HTTP as an ASGI app (integration)."""

from __future__ import annotations

import json
import threading
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"


class FakeRegistry:
    def __init__(self) -> None:
        self.schemas: list[str] = []  # id - 1 -> canonical schema text
        self.subjects: dict[str, list[int]] = {}
        self.requests: list[str] = []
        self.down = False
        self._lock = threading.Lock()

    def answer(self, method: str, path: str, content_type: str, body: bytes) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.requests.append(f"{method} {path}")
            parts = path.strip("/").split("/")
            if method == "POST" and parts[0] == "subjects" and parts[2:] == ["versions"]:
                if content_type != CONTENT_TYPE:
                    return 415, {"error_code": 415, "message": "unsupported media type"}
                text = json.dumps(json.loads(json.loads(body)["schema"]), sort_keys=True)
                if text not in self.schemas:
                    self.schemas.append(text)
                schema_id = self.schemas.index(text) + 1
                versions = self.subjects.setdefault(parts[1], [])
                if schema_id not in versions:
                    versions.append(schema_id)
                return 200, {"id": schema_id}
            if method == "GET" and parts[:2] == ["schemas", "ids"] and len(parts) == 3:
                schema_id = int(parts[2])
                if not 0 < schema_id <= len(self.schemas):
                    return 404, {"error_code": 40403, "message": "Schema not found"}
                return 200, {"schema": self.schemas[schema_id - 1]}
            if method == "GET" and parts == ["subjects"]:
                return 200, {"subjects": sorted(self.subjects)}
            return 500, {"error_code": 50001, "message": "unexpected"}

    def schema_of(self, subject: str) -> tuple[int, dict[str, Any]]:
        """The newest id and schema registered under ``subject``."""
        schema_id = self.subjects[subject][-1]
        return schema_id, json.loads(self.schemas[schema_id - 1])

    def transport(self) -> httpx.MockTransport:
        def handle(request: httpx.Request) -> httpx.Response:
            if self.down:
                raise httpx.ConnectError("connection refused")
            status, body = self.answer(request.method, request.url.path, request.headers.get("content-type", ""),
                                       request.content)
            return httpx.Response(status, json=body)

        return httpx.MockTransport(handle)

    def app(self) -> Starlette:
        async def endpoint(request: Request) -> Response:
            status, body = self.answer(request.method, request.url.path, request.headers.get("content-type", ""),
                                       await request.body())
            return JSONResponse(body, status_code=status, media_type=CONTENT_TYPE)

        return Starlette(routes=[Route("/{path:path}", endpoint, methods=["GET", "POST"])])
