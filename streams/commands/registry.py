"""The commands topic in a schema registry's wire format (``BRIDGE_KAFKA__SCHEMA_REGISTRY_URL``).

With a Confluent-compatible schema registry, the worker registers the command schema
(``schemas/casavi_command.avsc``) under the subject ``<commands topic>-value`` through the
registry's REST API and writes every command as the registry's wire format: a zero byte, the
schema id (4 bytes, big-endian), then the Avro body. Kafka UI and every other registry-aware
tool then decode the topic. Without a registry the commands stay plain Avro bodies.

Readers take both (``streams.commands.model.decode``); with a registry configured they read a
framed record with the schema it names (its writer schema) and resolve it to the bridge's own.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import httpx

MAGIC = 0
HEADER_BYTES = 5
CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"


class RegistryError(RuntimeError):
    pass


class UnknownSchema(RegistryError):
    """The registry has no schema with that id."""


def frame(schema_id: int, body: bytes) -> bytes:
    """The wire format: magic byte 0, the schema id, the Avro body."""
    return bytes([MAGIC]) + schema_id.to_bytes(4, "big") + body


def unframe(payload: bytes) -> tuple[int, bytes] | None:
    """(schema id, body) of a record that may be in the wire format; None when it cannot be.
    A plain Avro command can begin with a zero byte too (the op UPSERT), so a caller tries the
    body first and the whole record after."""
    if len(payload) <= HEADER_BYTES or payload[0] != MAGIC:
        return None
    return int.from_bytes(payload[1:HEADER_BYTES], "big"), payload[HEADER_BYTES:]


def subject_of(topic: str) -> str:
    """The subject of a topic's values (the registry's topic-name strategy, what Kafka UI looks up)."""
    return f"{topic}-value"


class SchemaRegistry:
    """The REST API of a Confluent-compatible schema registry: register a schema, fetch one by id."""

    def __init__(self, url: str, timeout_s: float = 10.0, transport: httpx.BaseTransport | None = None) -> None:
        self.url = url.rstrip("/")
        self._client = httpx.Client(timeout=timeout_s, transport=transport, headers={"Accept": CONTENT_TYPE})
        self._by_id: dict[int, Any] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        self._client.close()

    def _call(self, method: str, path: str, **kw: Any) -> Any:
        try:
            response = self._client.request(method, f"{self.url}{path}", **kw)
        except httpx.HTTPError as exc:
            raise RegistryError(f"schema registry at {self.url} not reachable ({type(exc).__name__})") from None
        if response.status_code >= 400:
            try:
                detail = response.json().get("message", "")
            except ValueError:
                detail = ""
            if response.status_code == 404 and path.startswith("/schemas/ids/"):
                raise UnknownSchema(f"schema registry at {self.url} has no schema {path.rsplit('/', 1)[-1]}")
            raise RegistryError(f"schema registry at {self.url} answered {response.status_code} to {method} {path}"
                                + (f": {detail}" if detail else ""))
        return response.json()

    def register(self, subject: str, schema: dict[str, Any]) -> int:
        """The id of ``schema`` under ``subject``: registered as a new version, or the id it already has."""
        body = self._call("POST", f"/subjects/{subject}/versions", content=json.dumps({"schema": json.dumps(schema)}),
                          headers={"Content-Type": CONTENT_TYPE})
        schema_id = int(body["id"])
        with self._lock:
            self._by_id[schema_id] = schema
        return schema_id

    def schema(self, schema_id: int) -> Any:
        """The schema with this id (asked once, then kept)."""
        with self._lock:
            if schema_id in self._by_id:
                return self._by_id[schema_id]
        body = self._call("GET", f"/schemas/ids/{schema_id}")
        schema = json.loads(body["schema"])
        with self._lock:
            self._by_id[schema_id] = schema
        return schema
