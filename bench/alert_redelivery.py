"""Fault run of alert delivery: kill -9 the sender during a slow webhook POST, again and again.

    .venv/bin/python bench/alert_redelivery.py [--cycles 8] [--per-cycle 24] [--store URL]

Each cycle queues new webhook alerts, starts `manage.py send_alerts`, and kills it (SIGKILL) while
the local receiver holds its first POST; the next cycle starts after the claim timed out. A final
in-process delivery sends the rest. Prints the POSTs, the Idempotency-Keys, keys that were sent with
different rows, and alerts that reach a receiver more than once, before and after dropping repeated keys.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class _Slow(BaseHTTPRequestHandler):
    posts: list[tuple[str, list[int]]] = []
    delay = 0.0
    received = threading.Event()

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        _Slow.posts.append((self.headers["Idempotency-Key"], [a["alert_id"] for a in body["alerts"]]))
        _Slow.received.set()
        time.sleep(_Slow.delay)
        try:
            self.send_response(200)
            self.end_headers()
        except (BrokenPipeError, ConnectionResetError):
            pass

    def log_message(self, *args: object) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cycles", type=int, default=8)
    parser.add_argument("--per-cycle", type=int, default=24)
    parser.add_argument("--store", default=None, help="SQLAlchemy URL of an empty store (default: a temp SQLite file)")
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="dq-bench-redelivery-")
    os.environ["DQ_STORE_URL"] = args.store or f"sqlite:///{folder}/store.db"
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Slow)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    os.environ["DQ_WEBHOOK_URL"] = f"http://127.0.0.1:{server.server_address[1]}/hook"
    os.environ["DQ_ALERT_HTTP_TIMEOUT_SECONDS"] = "60"

    from alerting.deliver import deliver_due
    from alerting.policy import current_policy
    from store import alerts as outbox
    from store import db, migrations

    migrations.migrate()
    policy = current_policy()
    queued: list[int] = []
    at = T0
    for cycle in range(args.cycles):
        rows = [outbox.NewAlert("trigger", "webhook", "DQ_WEBHOOK_URL",
                                {"suite": "silver.orders", "severity": "HIGH", "event": "notice", "text": f"{cycle}.{i}"},
                                suite="silver.orders", severity="HIGH", next_attempt_at=at)
                for i in range(args.per_cycle)]
        with db.write() as conn:
            queued += outbox.add(conn, rows, at)
        _Slow.received.clear()
        _Slow.delay = 60
        sender = subprocess.Popen([sys.executable, str(ROOT / "manage.py"), "send_alerts", "--no-escalate"], cwd=ROOT,
                                  env={**os.environ, "DQ_NOW": at.isoformat()},
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not _Slow.received.wait(timeout=60):
            raise SystemExit("the sender never reached the receiver")
        sender.send_signal(signal.SIGKILL)
        sender.wait(timeout=10)
        _Slow.delay = 0
        at += timedelta(seconds=policy.claim_timeout_seconds + 1)
    deliver_due(now=at, policy=policy)

    by_key: dict[str, list[list[int]]] = defaultdict(list)
    for key, ids in _Slow.posts:
        by_key[key].append(ids)
    changed = sum(1 for sent in by_key.values() if any(ids != sent[0] for ids in sent))
    raw = Counter(i for _, ids in _Slow.posts for i in ids)
    kept = Counter(i for sent in by_key.values() for i in sent[0])
    print(f"alerts queued: {len(queued)} in {args.cycles} kill -9 cycles; store {os.environ['DQ_STORE_URL'].split(':')[0]}")
    print(f"POSTs: {len(_Slow.posts)}; Idempotency-Keys: {len(by_key)}; keys sent with different rows: {changed}")
    print(f"alerts received more than once: {sum(1 for n in raw.values() if n > 1)} (raw POSTs), "
          f"{sum(1 for n in kept.values() if n > 1)} after dropping repeated keys; "
          f"alerts never received: {len(set(queued) - set(raw))}")


if __name__ == "__main__":
    main()
