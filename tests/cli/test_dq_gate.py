"""`manage.py dq_gate` and `manage.py bypass`: exit codes, messages, and bypasses honoured only when approved."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cli import main
from ops.roles import user
from store import bypass
from tests.bypass_rows import add_run, add_suite, checklist, fix_orders, real_orders_suite

ROOT = Path(__file__).resolve().parents[2]
ONCALL, LEAD = "oncall@company.com", "data-eng-lead@company.com"
T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def frozen(sqlite_store: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DQ_NOW", T0.isoformat())
    add_suite("silver.orders", "silver")
    add_suite("silver.customers", "silver", ["pii"])


def _gate(*args: str, now: datetime = T0) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DQ_NOW": now.isoformat()}
    return subprocess.run(
        [sys.executable, "manage.py", "dq_gate", *args], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=60,
    )


def _config(tmp_path: Path, body: str) -> str:
    path = tmp_path / "dq.yaml"
    path.write_text(body)
    return str(path)


def test_a_failing_blocking_rule_exits_1_and_names_it(capsys: pytest.CaptureFixture[str]) -> None:
    add_run("silver.orders", [("orders_id_not_null", "HIGH", "FAILED"), ("orders_note", "LOW", "FAILED")])

    code = main(["dq_gate", "--suite", "silver.orders", "--max-age", "60"])

    err = capsys.readouterr().err
    assert code == 1
    assert "orders_id_not_null [HIGH] FAILED: orders_id_not_null: 3 rows are null" in err
    assert "orders_note" not in err


def test_a_passing_suite_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    add_run("silver.orders", [("orders_id_not_null", "HIGH", "PASSED"), ("orders_note", "LOW", "FAILED")])

    assert main(["dq_gate", "--suite", "silver.orders", "--max-age", "60"]) == 0
    assert "PASS - no blocking rule (HIGH/CRITICAL) failed" in capsys.readouterr().out


def test_bypass_passes_during_the_bypass_and_fails_after_expiry() -> None:
    add_run("silver.orders", [("orders_id_not_null", "HIGH", "FAILED")])
    request_id = bypass.create_request(user(ONCALL), checklist("silver.orders", hours=6))
    bypass.approve(user(LEAD), request_id)

    during = _gate("--suite", "silver.orders", "--bypass", "true", "--max-age", "1440", now=T0 + timedelta(hours=5))
    after = _gate("--suite", "silver.orders", "--bypass", "true", "--max-age", "1440", now=T0 + timedelta(hours=6))

    assert during.returncode == 0, during.stderr
    assert f"PASSING BECAUSE OF BYPASS #{request_id}" in during.stdout
    assert after.returncode == 1
    assert f"bypass #{request_id}: it expired at 2026-03-01 14:00 UTC" in after.stderr


def test_airflow_false_bypass_value_is_no_override(capsys: pytest.CaptureFixture[str]) -> None:
    add_run("silver.orders", [("orders_id_not_null", "HIGH", "FAILED")])

    assert main(["dq_gate", "--suite", "silver.orders", "--bypass", "false", "--max-age", "60"]) == 1
    assert "Override" not in capsys.readouterr().err


def test_config_bypass_tables_without_approval_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    add_run("silver.orders", [("orders_id_not_null", "HIGH", "FAILED")])
    config = _config(tmp_path, "dq: {strict_mode: false, bypass_tables: [silver.orders]}")

    code = main(["dq_gate", "--suite", "silver.orders", "--max-age", "60", "--config", config])

    assert code == 1
    assert ("Override REFUSED (dq.yaml strict_mode: false, dq.yaml bypass_tables): "
            "no approved bypass is active for silver.orders") in capsys.readouterr().err


def test_pii_table_ignores_every_override(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    add_run("silver.customers", [("customers_email_valid", "CRITICAL", "FAILED")])
    config = _config(tmp_path, "dq: {enabled: false, strict_mode: false, bypass_tables: [silver.customers]}")

    code = main(["dq_gate", "--suite", "silver.customers", "--bypass", "--max-age", "60", "--config", config])

    assert code == 1
    err = capsys.readouterr().err
    assert "silver.customers holds pii data: it can never be bypassed" in err
    assert "Hint: fix the data; the failover runbook never allows a bypass here." in err


@pytest.mark.parametrize(("args", "message"), [
    (["--suite", "silver.orders", "--max-age", "0"], "--max-age must be a positive number"),
    (["--suite", "silver.orders", "--bypass", "maybe"], "'maybe' is not true or false"),
    ([], "the following arguments are required: --suite"),
])
def test_usage_errors_exit_3(args: list[str], message: str) -> None:
    done = _gate(*args)

    assert done.returncode == 3
    assert message in done.stderr


def test_bad_config_exits_2_naming_file_and_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    add_run("silver.orders", [("orders_id_not_null", "HIGH", "FAILED")])
    config = _config(tmp_path, "dq: {strict_mode: nope}")

    assert main(["dq_gate", "--suite", "silver.orders", "--max-age", "60", "--config", config]) == 2
    assert f"{config}:1 key 'dq.strict_mode': must be true or false, got 'nope'" in capsys.readouterr().err


def test_a_suite_that_could_not_run_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    add_run("silver.orders", [("orders_id_not_null", "HIGH", "ERROR")], error="connection refused")

    assert main(["dq_gate", "--suite", "silver.orders", "--max-age", "60"]) == 2
    assert "could not run: connection refused" in capsys.readouterr().err


def test_an_unknown_suite_exits_3(capsys: pytest.CaptureFixture[str]) -> None:
    add_run("silver.nope", [("r", "HIGH", "FAILED")])

    assert main(["dq_gate", "--suite", "silver.nope", "--max-age", "60"]) == 3
    assert "suite 'silver.nope' is not in the store" in capsys.readouterr().err


def test_bypass_cli_lists_exports_and_expires(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch) -> None:
    add_run("silver.orders", [("orders_id_not_null", "HIGH", "FAILED")])
    request_id = bypass.create_request(user(ONCALL), checklist("silver.orders", hours=1))
    bypass.approve(user(LEAD), request_id)

    assert main(["bypass", "list"]) == 0
    assert f"#{request_id} active      silver.orders" in capsys.readouterr().out
    monkeypatch.setenv("DQ_NOW", (T0 + timedelta(hours=2)).isoformat())
    assert main(["bypass", "expire"]) == 0
    assert capsys.readouterr().out == f"expired #{request_id}\n"
    out = tmp_path / "history.md"
    assert main(["bypass", "export", str(request_id), "--output", str(out)]) == 0
    assert "| bypass.expired |" in out.read_text()


def test_without_max_age_the_gate_runs_the_suite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    warehouse = real_orders_suite(tmp_path, monkeypatch, name="silver.live_orders")

    failing = _gate("--suite", "silver.live_orders")
    fix_orders(warehouse)
    passing = _gate("--suite", "silver.live_orders")

    assert failing.returncode == 1, failing.stderr
    assert "orders_id_not_null [HIGH] FAILED: id must not be null: 1 of 3 rows failed" in failing.stderr
    assert passing.returncode == 0, passing.stderr
    assert "(run #2, FAILED" in passing.stdout  # the LOW rule still fails; it does not block


def test_a_dead_source_exits_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_orders_suite(tmp_path, monkeypatch, name="silver.live_orders")
    monkeypatch.setenv("DQ_SOURCE_WAREHOUSE_URL", f"sqlite:///{tmp_path / 'missing' / 'gone.db'}")

    done = _gate("--suite", "silver.live_orders")

    assert done.returncode == 2
    assert "could not run" in done.stderr
