"""The scheduler's HTTP endpoint: `/api/v1/dq/health/` (200 healthy, 503 not) and `/metrics`."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CollectorRegistry

from engine.model import Suite
from ops import health
from scheduler import metrics

log = logging.getLogger("scheduler")

HEALTH_PATH = "/api/v1/dq/health/"
METRICS_PATH = "/metrics"

Suites = Callable[[], "list[Suite] | None"]


class _Handler(BaseHTTPRequestHandler):
    suites: Suites = staticmethod(lambda: None)  # type: ignore[assignment]
    scrape: CollectorRegistry

    def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
        path = self.path.split("?", 1)[0]
        if path in (HEALTH_PATH, HEALTH_PATH.rstrip("/")):
            report = health.check(suites=self.suites())
            status = HTTPStatus.OK if report.healthy else HTTPStatus.SERVICE_UNAVAILABLE
            self._send(status, "application/json", json.dumps(report.to_dict(), indent=2, default=str))
        elif path == METRICS_PATH:
            self._send(HTTPStatus.OK, metrics.CONTENT_TYPE, metrics.render(self.scrape))
        else:
            self._send(HTTPStatus.NOT_FOUND, "text/plain; charset=utf-8",
                       f"not found; try {HEALTH_PATH} or {METRICS_PATH}\n")

    def _send(self, status: HTTPStatus, content_type: str, body: str | bytes) -> None:
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - signature of the base
        log.debug("http: " + format, *args)


def serve(host: str, port: int, suites: Suites | None = None) -> ThreadingHTTPServer:
    """Start serving in a daemon thread; port 0 picks a free port (read it from server_address).

    `suites` returns the caller's parsed live suites (None: read them from the store per request).
    """
    provider = suites or (lambda: None)
    handler = type("HealthHandler", (_Handler,), {"suites": staticmethod(provider),
                                                  "scrape": metrics.registry(provider)})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="dq-health-http", daemon=True).start()
    return server
