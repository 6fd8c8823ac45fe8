"""Benchmark of the alert outbox: enqueue N violations in one run, deliver them to a local Slack stand-in.

    /work/venv/bin/python bench/alerting_outbox.py [N] [--store URL]

Prints the time to enqueue (inside one write transaction, as run_suite does), to claim and
deliver (one batched Slack message per 45 violations), and to re-run delivery with nothing due.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


class _Ok(BaseHTTPRequestHandler):
    posts = 0

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers["Content-Length"]))
        _Ok.posts += 1
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("n", type=int, nargs="?", default=2000)
    parser.add_argument("--store", default=None, help="SQLAlchemy URL of an empty store (default: a temp SQLite file)")
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="dq-bench-alerts-")
    os.environ["DQ_STORE_URL"] = args.store or f"sqlite:///{folder}/store.db"
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    os.environ["DQ_SLACK_WEBHOOK_URL"] = f"http://127.0.0.1:{server.server_address[1]}/slack"

    from alerting import enqueue_for_run
    from alerting.deliver import deliver_due
    from alerting.policy import Policy
    from engine.model import Layer, Suite
    from store import db, migrations
    from store.results import RecordedRun
    from store.schema import violations

    migrations.migrate()
    now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    policy = Policy(batch_window_seconds=0)
    rows = [dict(rule_name=f"rule_{i}", suite="silver.orders", source="wh", check_type="not_null", severity="LOW",
                 status="open", verdict="FAILED", detected_at=now, last_seen_at=now, occurrences=1,
                 message="3 of 100 rows fail", acknowledged=False) for i in range(args.n)]
    with db.write() as conn:
        conn.execute(violations.insert(), rows)
        ids = list(conn.execute(violations.select().with_only_columns(violations.c.id)).scalars())
    suite = Suite("silver.orders", "wh", "orders", "silver", Layer.SILVER, (), (), ())

    started = time.perf_counter()
    with db.write() as conn:
        enqueue_for_run(conn, RecordedRun(1, opened=ids), None, suite, now=now, policy=policy)
    enqueue_s = time.perf_counter() - started

    started = time.perf_counter()
    report = deliver_due(now=now + timedelta(seconds=1), policy=policy)
    deliver_s = time.perf_counter() - started

    started = time.perf_counter()
    deliver_due(now=now + timedelta(seconds=2), policy=policy)
    idle_s = time.perf_counter() - started
    print(f"store: {db.get_engine().url.get_backend_name()}; violations: {args.n}")
    print(f"enqueue: {enqueue_s:.3f} s ({args.n / enqueue_s:,.0f} violations/s)")
    print(f"deliver: {deliver_s:.3f} s, {report.messages} Slack messages, {report.sent} rows sent, posts seen {_Ok.posts}")
    print(f"deliver with nothing due: {idle_s * 1000:.1f} ms")
    server.shutdown()


if __name__ == "__main__":
    main()
