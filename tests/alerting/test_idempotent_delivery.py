"""Alert delivery stays idempotent across kill -9 (issue 13, deliverable 5).

Measured before the fix: a kill -9 during a slow webhook POST, and the retried batch had gained
the rows enqueued meanwhile, so its Idempotency-Key changed (14 keys for 16 POSTs) and 69 of 192
alerts reached the receiver 2-5 times. Here a real receiver on 127.0.0.1 counts keys: a batch's
membership and key are fixed when it is first claimed, so a receiver that drops repeated keys
gets every alert exactly once.
"""

import os
import signal
import subprocess
import sys
from collections import defaultdict
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

from alerting.deliver import deliver_due
from alerting.policy import load_policy
from store import alerts as outbox
from store import db
from store.schema import alerts
from tests.alerting.conftest import POLICY_YAML, T0

ROOT = Path(__file__).resolve().parents[2]
CLAIM_SECONDS = 300  # POLICY_YAML's (default) claim timeout


def _queue(n: int, at) -> list[int]:
    rows = [outbox.NewAlert("trigger", "webhook", "DQ_WEBHOOK_URL", {"suite": "silver.orders", "severity": "HIGH",
                                                                       "event": "notice", "text": f"alert {i}"},
                            rule_name=f"rule_{i}", suite="silver.orders", severity="HIGH", next_attempt_at=at)
            for i in range(n)]
    with db.write() as conn:
        return outbox.add(conn, rows, at)


def _kill_during_post(receiver, at) -> None:
    receiver.received.clear()
    receiver.delay_seconds = 30
    env = {**os.environ, "DQ_NOW": at.isoformat()}
    sender = subprocess.Popen([sys.executable, str(ROOT / "manage.py"), "send_alerts", "--no-escalate"], cwd=ROOT,
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert receiver.received.wait(timeout=60), "the sender never reached the receiver"
    finally:
        sender.send_signal(signal.SIGKILL)
        sender.wait(timeout=10)
    receiver.delay_seconds = 0


def test_kill_9_during_a_slow_post_resends_the_same_batch_with_the_same_key(store_url, channels_env, tmp_path, monkeypatch) -> None:
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "alerting.yaml").write_text(POLICY_YAML)
    monkeypatch.setenv("DQ_CONFIG_DIR", str(tmp_path / "config"))
    queued: list[int] = []
    at = T0
    for _ in range(4):  # new alerts keep arriving while a claimed batch is outstanding
        queued += _queue(5, at)
        _kill_during_post(channels_env, at)
        at += timedelta(seconds=CLAIM_SECONDS + 1)
    report = deliver_due(now=at, policy=load_policy())
    assert report.errors == ()

    posts = [r for r in channels_env.requests if r.path == "/hook"]
    by_key: dict[str, list[list[int]]] = defaultdict(list)
    for post in posts:
        by_key[post.headers["Idempotency-Key"]].append([a["alert_id"] for a in post.body["alerts"]])
    for key, memberships in by_key.items():
        assert all(m == memberships[0] for m in memberships), f"{key} was sent with different rows: {memberships}"
    # a receiver that keeps the first POST of each key and drops repeats
    kept = [alert_id for memberships in by_key.values() for alert_id in memberships[0]]
    assert sorted(kept) == sorted(queued), "an alert was lost or reached the receiver under two keys"
    assert len(posts) > len(by_key)  # the killed POSTs were repeated, under their own key
    with db.read() as conn:
        assert set(conn.execute(sa.select(alerts.c.status)).scalars()) == {"sent"}


def test_a_batch_keeps_its_key_after_a_failed_attempt_and_newcomers_get_their_own(store_url, channels_env, policy) -> None:
    policy = type(policy)(**{**policy.__dict__, "also_to": ("webhook",)})
    first = _queue(2, T0)
    channels_env.statuses[:] = [503]
    assert deliver_due(now=T0, policy=policy).retrying == 2
    later = _queue(1, T0 + timedelta(seconds=10))
    deliver_due(now=T0 + timedelta(minutes=5), policy=policy)
    keys = [(r.headers["Idempotency-Key"], [a["alert_id"] for a in r.body["alerts"]]) for r in channels_env.requests]
    assert keys[0] == keys[1] == (f"dq-alerts-{first[0]}-{first[1]}-2", first)
    assert keys[2] == (f"dq-alerts-{later[0]}", later)
    assert len(keys) == 3
