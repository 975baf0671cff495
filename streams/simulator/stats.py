"""Counters the simulator shows at ``GET /_sim/stats``: what the bridge asked of casavi."""

from __future__ import annotations

import threading
from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import Any

from streams.casavi.models import ImportItemResult

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
NOT_WRITES = ("POST /authenticate",)


class Stats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: Counter[str] = Counter()
        self._responses: Counter[str] = Counter()
        self._items: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self._write_calls = 0

    def request(self, method: str, template: str) -> None:
        """Count a request to the casavi API, by method and path template (``GET /jobs/{id}``)."""
        key = f"{method} {template}"
        with self._lock:
            self._requests[key] += 1
            if method in WRITE_METHODS and key not in NOT_WRITES:
                self._write_calls += 1

    def response(self, status: int) -> None:
        with self._lock:
            self._responses[str(status)] += 1

    def items(self, results: Iterable[ImportItemResult]) -> None:
        with self._lock:
            for result in results:
                self._items[result.entity][result.status] += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "requests": dict(sorted(self._requests.items())),
                "responses": dict(sorted(self._responses.items())),
                "write_calls": self._write_calls,
                "import_items": sum(sum(c.values()) for c in self._items.values()),
                "items": {entity: dict(sorted(c.items())) for entity, c in sorted(self._items.items())},
            }

    def reset(self) -> None:
        with self._lock:
            self._requests.clear()
            self._responses.clear()
            self._items.clear()
            self._write_calls = 0
