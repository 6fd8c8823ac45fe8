"""The scheduler's HTTP endpoint: `/api/v1/dq/health/` (200 healthy, 503 not) and `/metrics`."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from ops import health
from scheduler import metrics
from store import db, scheduling

log = logging.getLogger("scheduler")

HEALTH_PATH = "/api/v1/dq/health/"
METRICS_PATH = "/metrics"

Counters = Callable[[], Mapping[tuple[str, str], float]]


class _Handler(BaseHTTPRequestHandler):
    counters: Counters = staticmethod(lambda: {})  # type: ignore[assignment]

    def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
        path = self.path.split("?", 1)[0]
        if path in (HEALTH_PATH, HEALTH_PATH.rstrip("/")):
            report = health.check()
            status = HTTPStatus.OK if report.healthy else HTTPStatus.SERVICE_UNAVAILABLE
            self._send(status, "application/json", json.dumps(report.to_dict(), indent=2, default=str))
        elif path == METRICS_PATH:
            self._send(HTTPStatus.OK, "text/plain; version=0.0.4; charset=utf-8", self._metrics())
        else:
            self._send(HTTPStatus.NOT_FOUND, "text/plain; charset=utf-8",
                       f"not found; try {HEALTH_PATH} or {METRICS_PATH}\n")

    def _metrics(self) -> str:
        report = health.check()
        try:
            with db.read() as conn:
                totals = scheduling.run_totals(conn)
        except Exception:  # noqa: BLE001 - an unreachable store is already in dq_store_reachable
            totals = []
        return metrics.render(report, totals, self.counters())

    def _send(self, status: HTTPStatus, content_type: str, body: str) -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - signature of the base
        log.debug("http: " + format, *args)


def serve(host: str, port: int, counters: Counters) -> ThreadingHTTPServer:
    """Start serving in a daemon thread; port 0 picks a free port (read it from server_address)."""
    handler = type("HealthHandler", (_Handler,), {"counters": staticmethod(counters)})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="dq-health-http", daemon=True).start()
    return server
