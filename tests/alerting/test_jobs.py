from datetime import timedelta

from ops import housekeeping
from store import alerts as outbox
from store import db
from tests.alerting.conftest import T0, Recorded, add_violation, enqueue


def test_the_scheduler_finds_the_alerting_jobs() -> None:
    jobs = {job.name: job.every_seconds for job in housekeeping.jobs()}
    assert jobs["alerting.jobs.deliver_alerts"] == 10
    assert jobs["alerting.jobs.escalate_alerts"] == 60


def test_the_jobs_escalate_and_deliver_with_the_policy_file(sqlite_store, channels_env, tmp_path, monkeypatch) -> None:
    from tests.alerting.conftest import POLICY_YAML

    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "alerting.yaml").write_text(POLICY_YAML)
    monkeypatch.setenv("DQ_CONFIG_DIR", str(tmp_path / "config"))
    from alerting.policy import load_policy

    vid = add_violation("orders_id_not_null", "CRITICAL")
    enqueue(Recorded(1, opened=[vid]), load_policy())
    jobs = {job.name: job for job in housekeeping.jobs()}
    assert len(jobs["alerting.jobs.escalate_alerts"].run(T0 + timedelta(minutes=15))) == 2
    report = jobs["alerting.jobs.deliver_alerts"].run(T0 + timedelta(minutes=15))
    assert report.errors == () and report.sent == 5
    with db.read() as conn:
        assert {a.status for a in outbox.recent(conn)} == {"sent"}
