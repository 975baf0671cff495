"""Receipts of applied import items, for measuring latency (``GET /_sim/receipts``).

For every item of an applied ``POST /import`` the simulator keeps a small record: which
entity, its reference id, the item's result status, when the request arrived and when
the job was applied (wall clock, ms), and digests of the item instead of its values —
a receipt holds no personal data. A client matches a receipt to a change it made by
computing ``value_digest`` of the value it wrote and looking it up in ``fields``.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import deque
from collections.abc import Iterable
from typing import Any

from streams.casavi.models import EntityType, ImportItemResult

DEFAULT_MAX_RECEIPTS = 500_000
DIGEST_HEX_CHARS = 16


def value_digest(value: object) -> str:
    """sha256 of the canonical JSON of ``value`` (sorted keys, no spaces, UTF-8), first 16 hex digits."""
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()[:DIGEST_HEX_CHARS]


def _field_digests(item: dict[str, Any]) -> dict[str, str]:
    """Digests of the item's top-level scalar fields (strings, numbers, booleans, null)."""
    return {name: value_digest(value) for name, value in item.items()
            if value is None or isinstance(value, str | int | float | bool)}


class Receipts:
    """The newest ``max_receipts`` receipts, oldest first."""

    def __init__(self, max_receipts: int = DEFAULT_MAX_RECEIPTS) -> None:
        self._lock = threading.Lock()
        self._receipts: deque[dict[str, Any]] = deque(maxlen=max_receipts)

    def record(self, received_at_ms: int, applied_at_ms: int,
               items: Iterable[tuple[EntityType, str | None, dict[str, Any]]],
               results: Iterable[ImportItemResult]) -> None:
        """One receipt per (planned item, result) pair, in the order they were applied."""
        new = [{
            "entity": result.entity,
            "id": result.id,
            "status": result.status,
            "received_at_ms": received_at_ms,
            "applied_at_ms": applied_at_ms,
            "digest": value_digest(item),
            "fields": _field_digests(item),
        } for (_, _, item), result in zip(items, results, strict=False)]
        with self._lock:
            self._receipts.extend(new)

    def since(self, since_ms: int) -> list[dict[str, Any]]:
        """Receipts of requests that arrived at or after ``since_ms``."""
        with self._lock:
            return [r for r in self._receipts if r["received_at_ms"] >= since_ms]

    def reset(self) -> None:
        with self._lock:
            self._receipts.clear()
