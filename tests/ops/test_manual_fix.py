"""Failover Option C: a manual fix is recorded with a bypass's checklist and approvals, and is never a pass."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from ops import gate, manual_fix
from ops.errors import InvalidRequest, PermissionDenied
from ops.gate import GateConfig
from ops.roles import user
from store import bypass, db, gate_reads
from store.errors import PolicyViolation
from store.schema import alerts, audit_log, bypass_requests
from tests.bypass_rows import add_blocked_suite, add_suite, checklist
from tests.cli.helpers import manage

ONCALL, LEAD, LEAD2, MANAGER = "oncall@company.com", "data-eng-lead@company.com", "lead2@company.com", "manager@company.com"
T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
FIX_SQL = "-- promoted by hand (INC-42)\nINSERT INTO gold.orders SELECT * FROM silver.orders WHERE id IS NOT NULL;\n"


@pytest.fixture(autouse=True)
def frozen(sqlite_store: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DQ_NOW", T0.isoformat())


@pytest.fixture
def fix_sql(tmp_path: Path) -> Path:
    path = tmp_path / "fix.sql"
    path.write_text(FIX_SQL)
    return path


def _record(sql: Path, suite: str = "silver.orders", who: str = ONCALL, **changes: object) -> int:
    return manual_fix.record(user(who), checklist(suite, hours=0, **changes), sql)


def _refusals() -> list[dict]:
    with db.read() as conn:
        return [r.details for r in conn.execute(sa.select(audit_log).where(audit_log.c.action == "bypass.refused"))]


# --- attacks first ---------------------------------------------------------------------------


def test_the_recorder_cannot_approve_their_own_manual_fix(fix_sql: Path) -> None:
    add_blocked_suite("silver.orders", "silver")
    record_id = _record(fix_sql, who=LEAD)

    with pytest.raises(PolicyViolation, match="cannot approve it \\(four eyes\\)"):
        bypass.approve(user(LEAD), record_id)
    assert bypass.get(record_id).status == "pending"


@pytest.mark.parametrize("data_class", ["pii", "financial", "compliance"])
def test_a_never_bypassable_table_can_never_have_a_manual_fix(fix_sql: Path, data_class: str) -> None:
    add_blocked_suite("silver.orders", "silver", [data_class])

    with pytest.raises(PolicyViolation, match=f"holds {data_class} data and can NEVER be bypassed"):
        _record(fix_sql)
    with db.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(bypass_requests)).scalar() == 0
    assert _refusals()[0]["step"] == "record_manual_fix"


@pytest.mark.parametrize("flag", [True, False])
def test_the_gate_never_honours_an_approved_manual_fix(fix_sql: Path, flag: bool) -> None:
    add_blocked_suite("silver.orders", "silver")
    record_id = _record(fix_sql)
    assert bypass.approve(user(LEAD), record_id).status == "recorded"
    run = gate_reads.latest_run("silver.orders")
    assert run is not None

    config = GateConfig() if flag else GateConfig(bypass_tables=("silver.orders",))
    decision = gate.decide("silver.orders", run, config, bypass_flag=flag, actor="airflow")

    assert (decision.exit_code, decision.bypass_id) == (1, None)
    assert bypass.honoured_bypass("silver.orders").request is None


def test_a_manual_fix_row_edited_to_active_is_still_not_honoured(fix_sql: Path) -> None:
    add_blocked_suite("silver.orders", "silver")
    record_id = _record(fix_sql)
    bypass.approve(user(LEAD), record_id)
    with db.write() as conn:  # the attacker edits the store directly
        conn.execute(bypass_requests.update().where(bypass_requests.c.id == record_id).values(
            status="active", activated_at=T0, expires_at=datetime(2026, 3, 2, tzinfo=UTC)))

    assert bypass.honoured_bypass("silver.orders").request is None


def test_a_huge_sql_file_is_refused_before_it_is_read(tmp_path: Path) -> None:
    add_blocked_suite("silver.orders", "silver")
    huge = tmp_path / "dump.sql"
    with huge.open("wb") as out:
        out.truncate(manual_fix.MAX_SQL_BYTES + 1)  # sparse: no memory or disk spent

    with pytest.raises(InvalidRequest, match=f"has {manual_fix.MAX_SQL_BYTES + 1} bytes, more than the 262144"):
        _record(huge)


def test_a_symlink_to_etc_shadow_is_refused(tmp_path: Path) -> None:
    add_blocked_suite("silver.orders", "silver")
    link = tmp_path / "fix.sql"
    os.symlink("/etc/shadow", link)

    with pytest.raises(InvalidRequest, match="is \\(or goes through\\) a symbolic link"):
        _record(link)


def test_a_file_reached_through_a_linked_folder_is_refused(tmp_path: Path, fix_sql: Path) -> None:
    add_blocked_suite("silver.orders", "silver")
    os.symlink(fix_sql.parent, tmp_path / "linked")

    with pytest.raises(InvalidRequest, match="symbolic link"):
        _record(tmp_path / "linked" / "fix.sql")


@pytest.mark.parametrize(("name", "content", "message"), [
    ("shadow", b"root:x:0:0", "not a .sql file"),
    ("fix.sql", b"SELECT 1;\x00\x01\x02", "binary data \\(a NUL byte at 9\\)"),
    ("fix.sql", "UPDATE t SET name = 'Zoë';".encode("latin-1"), "not UTF-8 text \\(byte 23\\)"),
    ("fix.sql", b"  \n", "is empty"),
])
def test_files_that_are_not_sql_text_are_refused(tmp_path: Path, name: str, content: bytes, message: str) -> None:
    add_blocked_suite("silver.orders", "silver")
    path = tmp_path / name
    path.write_bytes(content)

    with pytest.raises(InvalidRequest, match=message):
        _record(path)


def test_a_folder_or_device_is_refused(tmp_path: Path) -> None:
    add_blocked_suite("silver.orders", "silver")
    folder = tmp_path / "dir.sql"
    folder.mkdir()
    with pytest.raises(InvalidRequest, match="not a regular file"):
        _record(folder)


@pytest.mark.parametrize(("changes", "message"), [
    ({"incident_id": "  "}, "lacks Incident ticket id"),
    ({"incident_url": ""}, "lacks Incident ticket link"),
    ({"incident_url": "INC-42"}, "is not a web address"),
    ({"rollback_plan": ""}, "lacks Rollback plan"),
])
def test_a_missing_ticket_or_checklist_item_is_refused(fix_sql: Path, changes: dict, message: str) -> None:
    add_blocked_suite("silver.orders", "silver")

    with pytest.raises(PolicyViolation, match=message):
        _record(fix_sql, **changes)
    assert _refusals()[0]["step"] == "record_manual_fix"


def test_a_user_without_a_role_may_not_record(fix_sql: Path) -> None:
    add_blocked_suite("silver.orders", "silver")
    with pytest.raises(PermissionDenied, match="may not manual fix record"):
        _record(fix_sql, who="stranger@company.com")


# --- what it records -------------------------------------------------------------------------


def test_a_recorded_fix_keeps_the_sql_its_hash_and_the_bypass_approvals(fix_sql: Path) -> None:
    add_blocked_suite("gold.revenue", "gold")  # gold: a lead and a manager, as for a bypass
    record_id = _record(fix_sql, suite="gold.revenue", failure_details="")

    stored = bypass.get(record_id)
    assert (stored.kind, stored.status, stored.sql_text, stored.sql_bytes) == (
        "manual_fix", "pending", FIX_SQL, len(FIX_SQL.encode()))
    assert stored.sql_sha256 == __import__("hashlib").sha256(FIX_SQL.encode()).hexdigest()
    assert stored.failure_details.startswith("Run #1 of gold.revenue (FAILED)")  # linked like a bypass request
    assert (stored.run_id, stored.violation_ids) == (1, (1,))

    assert bypass.approve(user(LEAD), record_id).status == "pending"  # still needs the manager
    done = bypass.approve(user(MANAGER), record_id)

    assert (done.status, done.closed_by, done.activated_at, done.signature) == ("recorded", MANAGER, None, None)
    actions = [e.action for e in bypass.history(record_id)[1]]
    assert actions == ["bypass.manual_fix_recorded", "bypass.approvers_notified", "bypass.approved", "bypass.approved",
                       "bypass.recorded"]
    recorded = bypass.history(record_id)[1][0].details
    assert (recorded["sql_sha256"], recorded["sql_file"]) == (stored.sql_sha256, "fix.sql")


def test_its_approvers_are_told_it_is_a_manual_fix_not_a_bypass(fix_sql: Path) -> None:
    add_blocked_suite("silver.orders", "silver")
    record_id = _record(fix_sql)
    with db.read() as conn:
        texts = [row.payload["text"] for row in conn.execute(sa.select(alerts).where(alerts.c.kind == "bypass_approval"))]
    assert texts and all(t.startswith(f"Manual fix #{record_id} (SQL run by hand; a record the DQ gate never honours) "
                                      "on silver.orders (silver) waits for approval by data_eng_lead") for t in texts)
    assert all(" for 0 h" not in t for t in texts)


def test_a_fix_may_be_recorded_after_the_suite_passes_again(fix_sql: Path) -> None:
    # Option C is documented after the fact: unlike a bypass it needs no blocked suite.
    add_suite("silver.orders", "silver")
    record_id = _record(fix_sql)
    assert bypass.approve(user(LEAD), record_id).status == "recorded"


def test_the_cli_records_it_and_lists_it_in_the_bypass_history(sqlite_store: str, fix_sql: Path, tmp_path: Path) -> None:
    add_blocked_suite("silver.orders", "silver")
    env = {"DQ_ACTOR": ONCALL, "DQ_NOW": T0.isoformat()}
    args = ["bypass", "record-manual", "--suite", "silver.orders", "--ticket", "INC-7", "--sql-file", str(fix_sql),
            "--ticket-url", "https://jira.example.com/browse/INC-7", "--business-impact", "Orders dashboard blocked",
            "--impact-assessment", "gold.orders gets 120 rows", "--rollback-plan", "DELETE the 120 rows",
            "--fix-timeline", "Next release", "--alternative-plan", "Wait for the upstream fix"]

    done = manage(*args, env=env)

    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"manual fix #1 recorded for silver.orders (INC-7); SQL {len(FIX_SQL.encode())} bytes")
    assert "does not honour it" in done.stdout
    listing = manage("bypass", "list", env=env)
    assert listing.stdout.splitlines() == [
        "#1 pending     silver.orders                  manual fix by oncall@company.com (INC-7): a record, "
        "never honoured by the gate"]
    exported = manage("bypass", "export", "1", env=env)
    assert "Manual fix (Option C), not a bypass" in exported.stdout

    (tmp_path / "shadow.sql").symlink_to("/etc/shadow")
    refused = manage(*[str(tmp_path / "shadow.sql") if a == str(fix_sql) else a for a in args], env=env)
    assert refused.returncode == 3 and "symbolic link" in refused.stderr and "Traceback" not in refused.stderr
    missing = manage(*args[:4], "--sql-file", str(fix_sql), env=env)
    assert missing.returncode != 0 and "--ticket-url" in missing.stderr and "Traceback" not in missing.stderr
