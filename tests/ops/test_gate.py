"""The gate decision: blocking severities, overrides honoured only with an approved bypass, config errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from ops import gate
from ops.gate import GateConfig
from ops.roles import user
from store import approval_matrix, bypass, db, gate_reads
from store.schema import audit_log
from tests.bypass_rows import add_run, add_suite, checklist, real_orders_suite

ONCALL, LEAD = "oncall@company.com", "data-eng-lead@company.com"
T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
STRICT = GateConfig()


@pytest.fixture(autouse=True)
def frozen(sqlite_store: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DQ_NOW", T0.isoformat())


def _failing_orders(severity: str = "HIGH", verdict: str = "FAILED") -> gate_reads.RunRow:
    add_suite("silver.orders", "silver")
    add_run("silver.orders", [("orders_id_not_null", severity, verdict), ("orders_fresh", "LOW", "PASSED")])
    run = gate_reads.latest_run("silver.orders")
    assert run is not None
    return run


def _approved_bypass(suite: str = "silver.orders", hours: float = 6) -> int:
    request_id = bypass.create_request(user(ONCALL), checklist(suite, hours=hours))
    bypass.approve(user(LEAD), request_id)
    return request_id


def _audit(action: str) -> list[dict]:
    with db.read() as conn:
        return [r.details for r in conn.execute(sa.select(audit_log).where(audit_log.c.action == action))]


@pytest.mark.parametrize(("severity", "verdict", "blocking_severities", "exit_code"), [
    ("HIGH", "FAILED", ("HIGH", "CRITICAL"), 1),
    ("CRITICAL", "FAILED", ("HIGH", "CRITICAL"), 1),
    ("HIGH", "ERROR", ("HIGH", "CRITICAL"), 1),  # a blocking rule that could not run blocks too
    ("MEDIUM", "FAILED", ("HIGH", "CRITICAL"), 0),
    ("MEDIUM", "FAILED", ("MEDIUM", "HIGH", "CRITICAL"), 1),
    ("HIGH", "WARNED", ("HIGH", "CRITICAL"), 0),
])
def test_which_results_block(severity: str, verdict: str, blocking_severities: tuple[str, ...], exit_code: int) -> None:
    run = _failing_orders(severity, verdict)

    decision = gate.decide("silver.orders", run, GateConfig(blocking_severities=blocking_severities), bypass_flag=False, actor="t")

    assert decision.exit_code == exit_code
    if exit_code:
        assert "orders_id_not_null [" in "\n".join(decision.lines)
        assert decision.lines[-1] == "FAIL - blocked by data quality."


@pytest.mark.parametrize(("flag", "config", "asked"), [
    (True, STRICT, ["--bypass"]),
    (False, GateConfig(strict_mode=False), ["dq.yaml strict_mode: false"]),
    (False, GateConfig(bypass_tables=("silver.orders",)), ["dq.yaml bypass_tables"]),
    (False, GateConfig(enabled=False), ["dq.yaml enabled: false"]),
])
def test_an_override_without_an_approved_bypass_is_refused(flag: bool, config: GateConfig, asked: list[str]) -> None:
    run = _failing_orders()

    decision = gate.decide("silver.orders", run, config, bypass_flag=flag, actor="airflow")

    assert decision.exit_code == 1
    assert decision.refusal == "no approved bypass is active for silver.orders"
    assert f"Override REFUSED ({', '.join(asked)})" in "\n".join(decision.lines)
    assert _audit("gate.override_refused")[0]["overrides"] == asked


@pytest.mark.parametrize(("flag", "config"), [
    (True, STRICT),
    (False, GateConfig(strict_mode=False)),
    (False, GateConfig(bypass_tables=("silver.orders",))),
])
def test_an_override_with_an_approved_bypass_passes_loudly(flag: bool, config: GateConfig) -> None:
    run = _failing_orders()
    request_id = _approved_bypass()

    decision = gate.decide("silver.orders", run, config, bypass_flag=flag, actor="airflow")

    assert (decision.exit_code, decision.bypass_id) == (0, request_id)
    text = "\n".join(decision.lines)
    assert f"PASSING BECAUSE OF BYPASS #{request_id}" in text
    assert "6 h 00 min left" in text and "INC-42" in text
    assert _audit("gate.bypassed")[0]["bypass_id"] == request_id
    assert [e.action for e in bypass.history(request_id)[1]][-1] == "bypass.used_by_gate"


def test_an_approved_bypass_alone_does_not_open_the_gate() -> None:
    run = _failing_orders()
    request_id = _approved_bypass()

    decision = gate.decide("silver.orders", run, STRICT, bypass_flag=False, actor="airflow")

    assert decision.exit_code == 1
    assert f"bypass #{request_id} is approved" in "\n".join(decision.lines)


def test_an_expired_bypass_never_passes_even_before_housekeeping(monkeypatch: pytest.MonkeyPatch) -> None:
    run = _failing_orders()
    request_id = _approved_bypass(hours=2)
    monkeypatch.setenv("DQ_NOW", (T0 + timedelta(hours=2, seconds=1)).isoformat())

    decision = gate.decide("silver.orders", run, STRICT, bypass_flag=True, actor="airflow")

    assert decision.exit_code == 1
    assert f"bypass #{request_id}: it expired at 2026-03-01 10:00 UTC" in decision.refusal
    assert bypass.get(request_id).status == "active"  # housekeeping late: the gate still refuses


@pytest.mark.parametrize("data_class", ["pii", "financial", "compliance"])
def test_the_gate_ignores_every_override_on_never_allowed_tables(data_class: str) -> None:
    run = _failing_orders()
    _approved_bypass()  # approved while the table was plain silver ...
    with db.write() as conn:  # ... then the manifest declared it sensitive
        conn.exec_driver_sql(f"UPDATE suites SET data_classes = '[\"{data_class}\"]'")
    config = GateConfig(enabled=False, strict_mode=False, bypass_tables=("silver.orders",))

    decision = gate.decide("silver.orders", run, config, bypass_flag=True, actor="airflow")

    assert decision.exit_code == 1
    assert f"holds {data_class} data: it can never be bypassed" in decision.refusal


def test_a_passing_run_needs_no_bypass_and_records_none() -> None:
    add_suite("silver.orders", "silver")
    add_run("silver.orders", [("orders_id_not_null", "HIGH", "PASSED")])

    decision = gate.decide("silver.orders", gate_reads.latest_run("silver.orders"), STRICT, bypass_flag=True, actor="t")

    assert (decision.exit_code, decision.bypass_id) == (0, None)
    assert _audit("gate.bypassed") == []


def test_max_age_reads_the_newest_recent_run() -> None:
    add_suite("silver.orders", "silver")
    old = add_run("silver.orders", [("r", "HIGH", "PASSED")], started_at=T0 - timedelta(hours=3))
    new = add_run("silver.orders", [("r", "HIGH", "FAILED")], started_at=T0 - timedelta(minutes=10))

    assert gate.latest_or_run("silver.orders", max_age_minutes=30, actor="t").run_id == new
    assert gate_reads.latest_run("silver.orders", since=T0 - timedelta(hours=4), failing_only=False).run_id == new
    assert old < new


def test_a_run_with_a_suite_error_cannot_decide() -> None:
    add_suite("silver.orders", "silver")
    add_run("silver.orders", [("r", "HIGH", "ERROR")], error="connection refused")

    with pytest.raises(gate.SuiteNotRun, match="connection refused"):
        gate.run_gate("silver.orders", max_age_minutes=60, config=STRICT)


@pytest.mark.parametrize(("text", "message"), [
    ("dq: {strict_mode: maybe}", ":1 key 'dq.strict_mode': must be true or false, got 'maybe'. Hint: write `strict_mode: true`"),
    ("dq: {bypass_tables: silver.orders}", ":1 key 'dq.bypass_tables': must be a list"),
    ("dq: {blocking_severities: [HIGH, URGENT]}", ":1 key 'dq.blocking_severities': unknown value 'URGENT'"),
    ("dq: {strictmode: false}", ":1 key 'dq.strictmode': unknown key. Hint: did you mean strict_mode?"),
    ("enabled: true", ":1 key 'dq': is required"),
    ("dq: [", ": not valid YAML \\("),
    ("dq:\n  blocking_severities: []", ":2 key 'dq.blocking_severities': must list at least 1 value"),
])
def test_config_errors_name_the_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "dq.yaml"
    path.write_text(text)

    with pytest.raises(gate.GateConfigError, match=message) as raised:
        gate.load_config(path)
    assert str(path) in str(raised.value)


def test_the_shipped_config_is_strict() -> None:
    assert gate.load_config() == GateConfig(file=str(gate.config_file()))


@pytest.mark.parametrize(("text", "message"), [
    ("never_allowed: [pii, compliance]\nlayers: {silver: {approvers: [data_eng_lead], max_hours: 24}}",
     ":1 key 'never_allowed': lacks \\['financial'\\]"),
    ("never_allowed: [pii, financial, compliance]\nlayers: {gold: {approvers: [data_eng_lead], max_hours: 12}}",
     ":2 key 'layers.gold.approvers': must include \\['data_eng_lead', 'manager'\\]"),
    ("never_allowed: [pii, financial, compliance]\nlayers: {silver: {approvers: [data_eng_lead], max_hours: 48}}",
     ":2 key 'layers.silver.max_hours': is 48 but the failover runbook allows at most 24 h"),
    ("never_allowed: [pii, financial, compliance]\nlayers: {silver: {approvers: [boss], max_hours: 4}}",
     ":2 key 'layers.silver.approvers': unknown value 'boss'"),
    ("never_allowed: [pii, financial, compliance]\nlayers: {platinum: {approvers: [manager], max_hours: 4}}",
     ":2 key 'layers.platinum': unknown key. Hint: allowed keys are bronze, silver, gold"),
])
def test_matrix_errors_name_the_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "approval_matrix.yaml"
    path.write_text(text)

    with pytest.raises(approval_matrix.MatrixError, match=message) as raised:
        approval_matrix.load(path)
    assert str(path) in str(raised.value)


def test_the_shipped_matrix_is_the_runbooks() -> None:
    matrix = approval_matrix.load()

    assert matrix.never_allowed == {"pii", "financial", "compliance"}
    assert [p.describe() for p in matrix.layers.values()] == [
        "silver: data_eng_lead, at most 24 h", "gold: data_eng_lead + manager, at most 12 h",
        "bronze: data_eng_lead, at most 24 h",
    ]


def test_startup_validation_names_the_broken_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "dq.yaml").write_text("dq: {enabled: true}")
    (tmp_path / "approval_matrix.yaml").write_text("never_allowed: [pii]\nlayers: {}")
    monkeypatch.setenv("DQ_CONFIG_DIR", str(tmp_path))

    with pytest.raises(approval_matrix.MatrixError, match="approval_matrix.yaml:1 key 'never_allowed': lacks"):
        gate.validate_startup()


@pytest.mark.parametrize(("asked", "effective", "deviations"), [
    (("HIGH", "CRITICAL"), ("HIGH", "CRITICAL"), []),
    (("CRITICAL", "HIGH"), ("HIGH", "CRITICAL"), []),
    (("MEDIUM", "HIGH", "CRITICAL"), ("MEDIUM", "HIGH", "CRITICAL"), ["dq.blocking_severities adds MEDIUM"]),
    (("INFO",), ("INFO", "HIGH", "CRITICAL"), [
        "dq.blocking_severities adds INFO",
        "dq.blocking_severities ['INFO'] cannot remove HIGH, CRITICAL: HIGH and CRITICAL always block",
    ]),
    (("CRITICAL",), ("HIGH", "CRITICAL"), [
        "dq.blocking_severities ['CRITICAL'] cannot remove HIGH: HIGH and CRITICAL always block",
    ]),
])
def test_configuration_adds_blocking_severities_and_never_removes_high_or_critical(
    asked: tuple[str, ...], effective: tuple[str, ...], deviations: list[str]
) -> None:
    config = GateConfig(blocking_severities=asked)

    assert config.effective_severities == effective
    assert config.deviations() == deviations


def test_every_decision_is_audited_with_its_deviations(tmp_path: Path) -> None:
    run = _failing_orders("HIGH")
    config = GateConfig(strict_mode=False, blocking_severities=("CRITICAL",), file=str(tmp_path / "i.yaml"))

    decision = gate.decide("silver.orders", run, config, bypass_flag=False, actor="airflow")

    assert decision.exit_code == 1  # HIGH blocks although the file lists only CRITICAL
    [row] = _audit("gate.blocked")
    assert row["deviations"][0] == f"--config {tmp_path / 'i.yaml'} (not the default {gate.config_file()})"
    assert "dq.strict_mode: false (asks to bypass every suite; honoured only with an approved bypass)" in row["deviations"]
    assert f"clock override DQ_NOW={T0.isoformat()} in use" in row["deviations"][-1]
    assert "Gate configuration differs from the defaults: dq.strict_mode: false" in "\n".join(decision.lines)


def test_max_age_skips_partial_runs_of_a_loaded_suite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_orders_suite(tmp_path, monkeypatch)  # rules orders_id_not_null (HIGH) and orders_amount_not_null (LOW)
    complete = add_run("silver.orders", [("orders_id_not_null", "HIGH", "FAILED"), ("orders_amount_not_null", "LOW", "PASSED")],
                       started_at=T0 - timedelta(minutes=20))
    add_run("silver.orders", [("orders_id_not_null", "HIGH", "PASSED")], started_at=T0 - timedelta(minutes=5))

    run, how = gate.latest_or_run_how("silver.orders", max_age_minutes=30, actor="t")

    assert (run.run_id, how) == (complete, gate.COMPLETE_RUN)
