"""The small HTTP server of worker and sink: ``/metrics``, ``/healthz``, ``/readyz``.

It runs in a thread of its own, so it answers while the process's event loop is busy with a
long batch (liveness is decided by the loop's heartbeat, ``streams.ops.health``). It serves
nothing but these three read-only paths and logs no requests.
"""

from __future__ import annotations

import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from streams.ops.health import Health

log = logging.getLogger(__name__)


class OpsServer:
    """``start()`` binds ``host:port`` (port 0: a free port, see ``port``); ``stop()`` closes it."""

    def __init__(self, host: str, port: int, registry: CollectorRegistry, health: Health) -> None:
        self.host = host
        self.requested_port = port
        self.registry = registry
        self.health = health
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._server.server_address[1] if self._server else self.requested_port

    def start(self) -> bool:
        """Serve in a daemon thread. A port that cannot be bound is logged, not fatal: the bridge's
        work goes on without its metrics (and a probe of the port fails, which shows it)."""
        ops = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the http.server interface
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    self._send(200, CONTENT_TYPE_LATEST, generate_latest(ops.registry))
                elif path in ("/healthz", "/readyz"):
                    result = ops.health.live() if path == "/healthz" else ops.health.ready()
                    self._send(200 if result.ok else 503, "application/json", result.model_dump_json().encode())
                else:
                    self._send(404, "text/plain; charset=utf-8", b"not found: /metrics, /healthz, /readyz\n")

            def _send(self, status: int, content_type: str, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - no request logs
                return

        try:
            self._server = ThreadingHTTPServer((self.host, self.requested_port), Handler)
        except OSError as exc:
            log.error("metrics and health endpoints not served: cannot listen on %s:%d (%s)", self.host,
                      self.requested_port, exc.strerror or type(exc).__name__)
            return False
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="ops-http", daemon=True)
        self._thread.start()
        log.info("metrics and health on http://%s:%d (/metrics, /healthz, /readyz)", self.host, self.port)
        return True

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
