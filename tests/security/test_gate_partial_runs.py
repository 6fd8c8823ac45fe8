"""Red team: a partial `--rule-name` run, a stale run or a run missing rules standing in for the suite.

The gate judges the newest complete evaluation of every blocking rule; with --max-age it must
be that recent, otherwise the gate runs the suite itself. Each attempt ends blocked and audited.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

import clock
from cli import main
from tests.bypass_rows import add_run
from tests.security.gate_attacks import Bench, audit, suite_yaml

ORDERS = suite_yaml("silver.orders", "orders", classes=["pii"])


@pytest.fixture
def bench(store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Bench:
    monkeypatch.delenv("DQ_TEST_ALLOW_CLOCK_OVERRIDE", raising=False)
    bench = Bench(tmp_path, monkeypatch)
    bench.table("orders")
    bench.load({"orders.yaml": ORDERS})
    return bench


def _blocked(code: int, err: str) -> dict:
    assert code == 1, err
    assert "orders_id_not_null [CRITICAL] FAILED" in err
    return audit("gate.blocked")[-1]


@pytest.mark.parametrize("rule", ["orders_amount_not_null", "orders_email_not_null", "orders_id_not_null"])
def test_a_partial_cli_run_never_stands_for_the_suite(bench: Bench, capsys: pytest.CaptureFixture[str], rule: str) -> None:
    bench.fix("orders")
    assert main(["run_dq_checks", "--rule-name", rule]) == 0
    bench.table("orders")  # broken again; the only recent run is the partial one
    capsys.readouterr()

    code = main(["dq_gate", "--suite", "silver.orders", "--max-age", "60"])

    row = _blocked(code, capsys.readouterr().err)
    assert row["evaluation"] == "fresh run"  # the gate ran the suite itself


def test_a_newer_partial_run_does_not_hide_a_failing_complete_run(bench: Bench, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run_dq_checks", "--suite", "silver.orders"]) == 1
    add_run("silver.orders", [("orders_id_not_null", "CRITICAL", "PASSED")])  # a partial green run, newer
    capsys.readouterr()

    code = main(["dq_gate", "--suite", "silver.orders", "--max-age", "60"])

    row = _blocked(code, capsys.readouterr().err)
    assert row["evaluation"] == "complete run"


def test_a_hand_written_run_lacking_a_blocking_rule_is_not_complete(bench: Bench, capsys: pytest.CaptureFixture[str]) -> None:
    add_run("silver.orders", [("orders_id_not_null", "CRITICAL", "PASSED"), ("orders_amount_not_null", "LOW", "PASSED")])

    code = main(["dq_gate", "--suite", "silver.orders", "--max-age", "60"])

    assert _blocked(code, capsys.readouterr().err)["evaluation"] == "fresh run"


def test_a_stale_green_run_does_not_satisfy_max_age(bench: Bench, capsys: pytest.CaptureFixture[str]) -> None:
    add_run("silver.orders", [("orders_id_not_null", "CRITICAL", "PASSED"), ("orders_email_not_null", "HIGH", "PASSED"),
                              ("orders_amount_not_null", "LOW", "PASSED")],
            started_at=clock.utcnow() - timedelta(hours=3))

    code = main(["dq_gate", "--suite", "silver.orders", "--max-age", "60"])

    assert _blocked(code, capsys.readouterr().err)["evaluation"] == "fresh run"


def test_a_green_run_from_before_a_new_blocking_rule_is_not_complete(bench: Bench, capsys: pytest.CaptureFixture[str]) -> None:
    add_run("silver.orders", [("orders_email_not_null", "HIGH", "PASSED"), ("orders_amount_not_null", "LOW", "PASSED"),
                              ("orders_id_not_null", "CRITICAL", "PASSED")])
    bench.load({"orders.yaml": ORDERS.replace("rules:\n", "rules:\n  - {name: orders_id_again, check: not_null, "
                                                         "column: id, severity: HIGH}\n")})

    code = main(["dq_gate", "--suite", "silver.orders", "--max-age", "60"])

    row = _blocked(code, capsys.readouterr().err)
    assert row["evaluation"] == "fresh run"


def test_a_run_that_skipped_a_blocking_rule_is_not_complete(bench: Bench, capsys: pytest.CaptureFixture[str]) -> None:
    add_run("silver.orders", [("orders_id_not_null", "CRITICAL", "SKIPPED"), ("orders_email_not_null", "HIGH", "PASSED"),
                              ("orders_amount_not_null", "LOW", "PASSED")])

    code = main(["dq_gate", "--suite", "silver.orders", "--max-age", "60"])

    assert _blocked(code, capsys.readouterr().err)["evaluation"] == "fresh run"


def test_a_partial_run_of_every_blocking_rule_still_is_partial(bench: Bench, capsys: pytest.CaptureFixture[str]) -> None:
    bench.fix("orders")
    assert main(["run_dq_checks", "--rule-name", "orders_id_not_null", "--rule-name", "orders_email_not_null"]) == 0
    bench.table("orders")
    capsys.readouterr()

    code = main(["dq_gate", "--suite", "silver.orders", "--max-age", "600"])

    assert _blocked(code, capsys.readouterr().err)["evaluation"] == "fresh run"
