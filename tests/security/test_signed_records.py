"""Red team: forging the rows the gate relies on (results, approvals, bypasses, classes) and the signing key.

With write access to the store but not the key, every forgery below makes the gate refuse
(exit 2, naming the row) and writes a gate.refused audit row; a forged approval is also refused
at the next approval step, audited as bypass.refused. Outside dev mode there is no key file to
steal, and without a configured key nothing is signed or judged.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from cli import main
from ops import bypass as bypass_ops
from ops.roles import user
from store import audit as audit_store
from store import bypass_signing, db
from store.errors import PolicyViolation
from store.schema import bypass_approvals, bypass_requests
from tests.security.gate_attacks import (
    LEAD,
    MANAGER,
    ONCALL,
    Bench,
    audit,
    last_audit_id,
    raw,
    request_form,
    suite_yaml,
)

SUITE = "silver.shipments"
GATE = ["dq_gate", "--suite", SUITE, "--max-age", "60"]
PROD_KEY = "production-signing-key-kept-outside-the-store"


def _bench(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Bench:
    monkeypatch.delenv("DQ_TEST_ALLOW_CLOCK_OVERRIDE", raising=False)
    bench = Bench(tmp_path, monkeypatch)
    bench.table("shipments")
    bench.load({
        "silver.yaml": suite_yaml(SUITE, "shipments"),
        "gold.yaml": suite_yaml("gold.shipments", "shipments", layer="gold", rules=[("g_id", "id", "HIGH")]),
    })
    assert main(["run_dq_checks", "--suite", SUITE]) == 1
    assert main(["run_dq_checks", "--suite", "gold.shipments"]) == 1
    return bench


@pytest.fixture
def bench(dev_key_file: None, store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Bench:
    """Dev mode: signed with the generated key file."""
    return _bench(tmp_path, monkeypatch)


@pytest.fixture
def production_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """A production setup from the start (before the store is migrated): a proxy header, the key from the environment."""
    monkeypatch.setenv("DQ_AUTH_HEADER", "X-Forwarded-User")
    monkeypatch.setenv("DQ_BYPASS_SIGNING_KEY", PROD_KEY)


@pytest.fixture
def production(production_env: None, store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Bench:
    return _bench(tmp_path, monkeypatch)


def _refused(capsys: pytest.CaptureFixture[str], argv: list[str], *needles: str) -> None:
    since = last_audit_id()
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "REFUSED - records are not intact" in err, err
    refused = audit("gate.refused", since)
    assert refused, "the refusal must be audited"
    for needle in needles:
        assert needle in err and needle in refused[-1]["reason"], (needle, err[-2000:])


def _result_id(rule: str) -> int:
    with db.read() as conn:
        return int(conn.execute(sa.text("SELECT max(id) FROM results WHERE rule_name = :r"), {"r": rule}).scalar_one())


def _active(suite: str = SUITE) -> int:
    request_id = bypass_ops.request(user(ONCALL), request_form(suite, hours=2))
    bypass_ops.approve(user(LEAD), request_id)
    if suite.startswith("gold"):
        bypass_ops.approve(user(MANAGER), request_id)
    return request_id


# --- results -------------------------------------------------------------------------------

RESULT_EDITS = {
    "status PASSED": "UPDATE results SET status = 'PASSED' WHERE id = :id",
    "severity LOW": "UPDATE results SET severity = 'LOW' WHERE id = :id",
    "status INFO-level": "UPDATE results SET status = 'WARNED', severity = 'INFO' WHERE id = :id",
    "signature removed": "UPDATE results SET status = 'PASSED', signature = NULL WHERE id = :id",
    "message": "UPDATE results SET message = 'all good' WHERE id = :id",
    "signature of a passing row": (
        "UPDATE results SET status = 'PASSED', signature = "
        "(SELECT r2.signature FROM results r2 WHERE r2.status = 'PASSED' AND r2.suite = 'silver.shipments' LIMIT 1) "
        "WHERE id = :id"
    ),
}


@pytest.mark.parametrize("edit", sorted(RESULT_EDITS))
def test_an_edited_result_makes_the_gate_refuse(bench: Bench, capsys: pytest.CaptureFixture[str], edit: str) -> None:
    target = _result_id("shipments_id_not_null")
    raw(RESULT_EDITS[edit], id=target)

    _refused(capsys, GATE, f"result #{target} (shipments_id_not_null")


def test_a_forged_passing_run_copied_from_an_earlier_one(bench: Bench, capsys: pytest.CaptureFixture[str]) -> None:
    """Copy the earlier passing run's signed results into a new run row that looks newest."""
    bench.fix("shipments")
    assert main(["run_dq_checks", "--suite", SUITE]) == 0
    bench.table("shipments")
    assert main(["run_dq_checks", "--suite", SUITE]) == 1
    with db.write() as conn:
        passing = conn.execute(sa.text(
            "SELECT id FROM runs WHERE suite = :s AND status = 'PASSED' ORDER BY id DESC LIMIT 1"), {"s": SUITE}).scalar_one()
        newest = conn.execute(sa.text("SELECT max(started_at) FROM runs WHERE suite = :s"), {"s": SUITE}).scalar_one()
        conn.execute(sa.text(
            "INSERT INTO runs (suite, source, trigger, status, started_at, finished_at, merged_ticks) "
            "SELECT suite, source, trigger, status, :later, :later, 0 FROM runs WHERE id = :id"),
            {"id": passing, "later": _later(newest)})
        forged = conn.execute(sa.text("SELECT max(id) FROM runs")).scalar_one()
        conn.execute(sa.text(
            "INSERT INTO results (run_id, rule_name, rule_id, suite, check_type, severity, status, observed_value, "
            "failing_rows, rows_tested, metrics, message, finished_at, signature) "
            "SELECT :forged, rule_name, rule_id, suite, check_type, severity, status, observed_value, failing_rows, "
            "rows_tested, metrics, message, finished_at, signature FROM results WHERE run_id = :id"),
            {"forged": forged, "id": passing})

    _refused(capsys, GATE, f"run #{forged}) fails its signature")


def _later(value: object) -> str:
    from datetime import datetime

    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return (moment.replace(tzinfo=None) + timedelta(seconds=1)).isoformat(" ")


def test_a_forged_run_with_made_up_signatures(bench: Bench, capsys: pytest.CaptureFixture[str]) -> None:
    with db.write() as conn:
        newest = conn.execute(sa.text("SELECT max(started_at) FROM runs WHERE suite = :s"), {"s": SUITE}).scalar_one()
        conn.execute(sa.text(
            "INSERT INTO runs (suite, source, trigger, status, started_at, finished_at, merged_ticks) "
            "VALUES (:s, 'warehouse', 'schedule', 'PASSED', :t, :t, 0)"), {"s": SUITE, "t": _later(newest)})
        forged = conn.execute(sa.text("SELECT max(id) FROM runs")).scalar_one()
        for rule in ("shipments_id_not_null", "shipments_email_not_null", "shipments_amount_not_null"):
            conn.execute(sa.text(
                "INSERT INTO results (run_id, rule_name, suite, check_type, severity, status, metrics, finished_at, signature) "
                "VALUES (:run, :rule, :s, 'not_null', 'HIGH', 'PASSED', '{}', :t, :sig)"),
                {"run": forged, "rule": rule, "s": SUITE, "t": _later(newest), "sig": hashlib.sha256(rule.encode()).hexdigest()})

    _refused(capsys, GATE, f"run #{forged}) fails its signature")


# --- table classes -------------------------------------------------------------------------


@pytest.mark.parametrize("sql", [
    "UPDATE table_classes SET data_classes = '[\"pii\", \"financial\"]'",
    "UPDATE table_classes SET signature = 'deadbeef'",
])
def test_an_edited_classes_row_makes_the_gate_refuse(bench: Bench, capsys: pytest.CaptureFixture[str], sql: str) -> None:
    raw(sql)

    _refused(capsys, GATE, "table_classes row of warehouse:shipments fails its signature")


# --- approvals and bypasses ----------------------------------------------------------------


def test_a_forged_extra_approval_on_an_active_bypass(bench: Bench, capsys: pytest.CaptureFixture[str]) -> None:
    request_id = _active()
    raw("INSERT INTO bypass_approvals (request_id, approver, role, decision, decided_at, signature) "
        "VALUES (:id, :who, 'manager', 'approve', '2026-01-01 00:00:00', :sig)", id=request_id, who=MANAGER, sig="0" * 64)

    _refused(capsys, [*GATE, "--bypass"], f"of bypass #{request_id} by {MANAGER} (approve) fails its signature")


@pytest.mark.parametrize("forgery", ["made-up signature", "no signature"])
def test_a_forged_approval_is_refused_at_the_next_step(
    bench: Bench, capsys: pytest.CaptureFixture[str], forgery: str
) -> None:
    """A lead's approval written straight into the store on a gold request, then a real manager approves."""
    request_id = bypass_ops.request(user(ONCALL), request_form("gold.shipments", hours=2))
    raw("INSERT INTO bypass_approvals (request_id, approver, role, decision, decided_at, signature) "
        "VALUES (:id, :who, 'data_eng_lead', 'approve', '2026-01-01 00:00:00', :sig)",
        id=request_id, who=LEAD, sig=None if forgery == "no signature" else "a" * 64)

    with pytest.raises(PolicyViolation, match="fails its signature"):
        bypass_ops.approve(user(MANAGER), request_id)

    refused = audit("bypass.refused")[-1]
    assert refused["step"] == "approve" and "fails its signature" in refused["reason"]
    _refused(capsys, ["dq_gate", "--suite", "gold.shipments", "--max-age", "60", "--bypass"],
             f"of bypass #{request_id} by {LEAD} (approve) fails its signature")


def test_an_approval_copied_from_another_bypass(bench: Bench, capsys: pytest.CaptureFixture[str]) -> None:
    silver = _active()
    gold = bypass_ops.request(user(ONCALL), request_form("gold.shipments", hours=2))
    raw("INSERT INTO bypass_approvals (request_id, approver, role, decision, reason, decided_at, signature) "
        "SELECT :gold, approver, role, decision, reason, decided_at, signature FROM bypass_approvals WHERE request_id = :silver",
        gold=gold, silver=silver)

    with pytest.raises(PolicyViolation, match="copied from another bypass"):
        bypass_ops.approve(user(MANAGER), gold)

    assert audit("bypass.refused")[-1]["step"] == "approve"
    _refused(capsys, ["dq_gate", "--suite", "gold.shipments", "--max-age", "60", "--bypass"],
             f"of bypass #{gold} by {LEAD} (approve) fails its signature")


def test_a_bypass_row_copied_with_another_bypass_signature(bench: Bench, capsys: pytest.CaptureFixture[str]) -> None:
    """A gold bypass forged from an active silver one: same terms, its signature and approval copied."""
    silver = _active()
    columns = ("table_name, layer, data_classes, requested_by, requested_at, incident_id, incident_url, failure_details, "
               "run_id, violation_ids, business_impact, duration_hours, impact_assessment, rollback_plan, fix_timeline, "
               "alternative_plan, status, activated_at, expires_at, signature")
    raw(f"INSERT INTO bypass_requests (suite, {columns}) SELECT 'gold.shipments', {columns} FROM bypass_requests "
        "WHERE id = :id", id=silver)
    with db.read() as conn:
        forged = int(conn.execute(sa.text("SELECT max(id) FROM bypass_requests")).scalar_one())
    raw("INSERT INTO bypass_approvals (request_id, approver, role, decision, reason, decided_at, signature) "
        "SELECT :forged, approver, role, decision, reason, decided_at, signature FROM bypass_approvals WHERE request_id = :id",
        forged=forged, id=silver)

    _refused(capsys, ["dq_gate", "--suite", "gold.shipments", "--max-age", "60", "--bypass"],
             f"bypass #{forged} (gold.shipments) fails its signature")


def test_a_bypass_re_signed_without_the_key(bench: Bench, capsys: pytest.CaptureFixture[str]) -> None:
    request_id = _active()
    forged = hashlib.sha256(f"{request_id}".encode()).hexdigest()
    raw("UPDATE bypass_requests SET expires_at = '2099-01-01 00:00:00', signature = :sig WHERE id = :id",
        sig=forged, id=request_id)

    _refused(capsys, [*GATE, "--bypass"], f"bypass #{request_id} (silver.shipments) fails its signature")


# --- the key ---------------------------------------------------------------------------------


def _dev_key_files(data: Path) -> list[Path]:
    return sorted(data.glob("bypass-signing-*.key"))


def test_re_signing_with_a_leftover_dev_key_file_outside_dev_mode(
    production: Bench, isolated_env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The dev key file an earlier dev session left in the data folder signs nothing in production."""
    assert _dev_key_files(isolated_env) == [], "production must not generate a key file"
    request_id = _active()
    with monkeypatch.context() as dev:  # an earlier dev session left its key file behind
        dev.delenv("DQ_AUTH_HEADER")
        dev.delenv("DQ_BYPASS_SIGNING_KEY")
        bypass_signing.key_problem()
    leftover = _dev_key_files(isolated_env)[0].read_bytes()
    with db.read() as conn:
        row = conn.execute(sa.select(bypass_requests).where(bypass_requests.c.id == request_id)).mappings().one()
        approval = conn.execute(sa.select(bypass_approvals).where(bypass_approvals.c.request_id == request_id)).mappings().one()
    later = row["activated_at"]
    payload = bypass_signing._payload(request_id, row["suite"], row["table_name"], _aware(later),
                                      _aware(later) + timedelta(hours=200), [approval["approver"]])
    raw("UPDATE bypass_requests SET expires_at = :exp, signature = :sig WHERE id = :id",
        exp=(_aware(later) + timedelta(hours=200)).replace(tzinfo=None).isoformat(" "),
        sig=hmac.new(leftover, payload, hashlib.sha256).hexdigest(), id=request_id)

    _refused(capsys, [*GATE, "--bypass"], f"bypass #{request_id} (silver.shipments) fails its signature")
    assert "WARNING: records are signed with the development key file" not in capsys.readouterr().err


def _aware(value: object):  # noqa: ANN202 - datetime
    from datetime import UTC, datetime

    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def test_a_forged_approval_signed_with_a_guessed_key(production: Bench, capsys: pytest.CaptureFixture[str]) -> None:
    request_id = _active()
    with db.read() as conn:
        approval = conn.execute(sa.select(bypass_approvals).where(bypass_approvals.c.request_id == request_id)).mappings().one()
    terms = {**audit_store.approval_terms(approval), "approver": "someone@else.com"}
    body = json.dumps({"kind": "approval", **terms}, sort_keys=True, default=str).encode()
    raw("UPDATE bypass_approvals SET approver = 'someone@else.com', signature = :sig WHERE request_id = :id",
        sig=hmac.new(b"dq-bypass-signing-key", body, hashlib.sha256).hexdigest(), id=request_id)

    _refused(capsys, [*GATE, "--bypass"], f"of bypass #{request_id} by someone@else.com (approve) fails its signature")


@pytest.mark.parametrize("identity", ["proxy header", "oidc"])
def test_outside_dev_mode_without_a_key_nothing_is_signed_or_judged(
    dev_key_file: None, store_url: str, isolated_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], identity: str,
) -> None:
    bench = _bench(tmp_path, monkeypatch)  # set up in dev mode, then deployed without a key
    if identity == "oidc":
        secrets = tmp_path / "secrets.toml"
        secrets.write_text('[auth]\nredirect_uri = "https://dq.example.com/oauth2callback"\n')
        monkeypatch.setenv("DQ_SECRETS_FILE", str(secrets))
    else:
        monkeypatch.setenv("DQ_AUTH_HEADER", "X-Forwarded-User")
    for key_file in _dev_key_files(isolated_env):
        key_file.unlink()
    capsys.readouterr()

    assert main(GATE) == 2
    err = capsys.readouterr().err
    assert "DQ_BYPASS_SIGNING_KEY is not set" in err and "only in dev mode" in err, err
    assert main(["run_dq_checks", "--suite", SUITE]) == 2
    assert "DQ_BYPASS_SIGNING_KEY is not set" in capsys.readouterr().err
    assert main(["audit", "verify"]) == 1
    assert "DQ_BYPASS_SIGNING_KEY is not set" in capsys.readouterr().err
    assert _dev_key_files(isolated_env) == [], "no key file may be generated outside dev mode"
    assert bench.rules.is_dir()


def test_the_gate_warns_while_the_dev_key_is_in_use(bench: Bench, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(GATE) == 1
    err = capsys.readouterr().err
    assert "WARNING: records are signed with the development key file in DQ_DATA_DIR" in err
    assert "Set DQ_BYPASS_SIGNING_KEY" in err


def test_no_warning_with_a_configured_key(production: Bench, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(GATE) == 1
    assert "WARNING: records are signed" not in capsys.readouterr().err


def test_records_signed_under_another_key_are_refused(
    bench: Bench, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store written under one key (here the dev key file) and judged under another: every record fails."""
    monkeypatch.setenv("DQ_BYPASS_SIGNING_KEY", "a-different-key")

    _refused(capsys, GATE, "audit log broken at row #1", "fails its signature")
