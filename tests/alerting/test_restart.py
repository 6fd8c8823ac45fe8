"""A sender process killed in the middle of a delivery: the alert is sent after the claim times out, never dropped."""

import os
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from alerting.deliver import deliver_due
from store import alerts as outbox
from store import db
from tests.alerting.conftest import POLICY_YAML, T0, Recorded, add_violation, enqueue

ROOT = Path(__file__).resolve().parents[2]
LATER = T0 + timedelta(seconds=30)


def test_a_killed_sender_leaves_a_claim_that_is_delivered_later(sqlite_store, channels_env, policy, tmp_path, monkeypatch) -> None:
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "alerting.yaml").write_text(POLICY_YAML)
    monkeypatch.setenv("DQ_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("DQ_NOW", LATER.isoformat())
    vid = add_violation("orders_note_length", "LOW")
    enqueue(Recorded(1, opened=[vid]), policy)
    channels_env.delay_seconds = 30

    sender = subprocess.Popen([sys.executable, str(ROOT / "manage.py"), "send_alerts"], cwd=ROOT, env=dict(os.environ),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert channels_env.received.wait(timeout=60), "the sender never reached the receiver"
    sender.send_signal(signal.SIGKILL)
    sender.wait(timeout=10)
    channels_env.delay_seconds = 0
    with db.read() as conn:
        [row] = outbox.recent(conn)
    assert (row.status, row.attempts) == ("sending", 1)  # claimed, never marked

    assert deliver_due(now=LATER + timedelta(seconds=299), policy=policy).messages == 0
    assert deliver_due(now=LATER + timedelta(seconds=300), policy=policy).sent == 1
    with db.read() as conn:
        [row] = outbox.recent(conn)
    assert (row.status, row.attempts) == ("sent", 2)
    # The receiver had the first copy when the sender died: at-least-once, as docs/alerting.md says.
    assert len(channels_env.requests) == 2
