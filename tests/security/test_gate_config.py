"""Red team: talking the gate down with --config, config/dq.yaml and flags on sensitive and plain tables.

Every attempt must end blocked (exit 1) with the non-default configuration named in the
output and in the gate's audit row.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cli import main
from tests.security.gate_attacks import Bench, audit, suite_yaml


@pytest.fixture
def bench(store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Bench:
    monkeypatch.delenv("DQ_TEST_ALLOW_CLOCK_OVERRIDE", raising=False)
    bench = Bench(tmp_path, monkeypatch)
    bench.table("orders")
    return bench


LOWERING = [
    ("dq:\n  blocking_severities: [INFO]\n", "blocking_severities"),
    ("dq:\n  blocking_severities: [LOW]\n", "blocking_severities"),
    ("dq:\n  blocking_severities: [MEDIUM]\n", "blocking_severities"),
    ("dq:\n  blocking_severities: [critical]\n", "blocking_severities"),
    ("dq:\n  blocking_severities: [HIGH]\n", "blocking_severities"),
    ("dq:\n  enabled: false\n", "enabled: false"),
    ("dq:\n  strict_mode: false\n", "strict_mode: false"),
    ("dq:\n  bypass_tables: [silver.orders]\n", "bypass_tables"),
    ("dq:\n  bypass_tables: [orders]\n", "bypass_tables"),
    ("dq: {enabled: false, strict_mode: false, bypass_tables: [silver.orders], blocking_severities: [INFO]}\n",
     "blocking_severities"),
]


def _assert_blocked_and_named(code: int, err: str, needle: str) -> None:
    assert code == 1, err
    assert "FAIL - blocked by data quality" in err
    assert "orders_id_not_null [CRITICAL] FAILED" in err
    assert needle in err  # the deviation is named in the gate's output
    row = audit("gate.blocked")[-1]
    assert row["suite"] == "silver.orders"
    assert any(needle in d for d in row["deviations"]), row["deviations"]


@pytest.mark.parametrize("data_class", ["pii", "financial", "compliance"])
@pytest.mark.parametrize(("body", "needle"), LOWERING)
def test_config_flag_cannot_lower_the_bar_on_a_sensitive_table(
    bench: Bench, capsys: pytest.CaptureFixture[str], data_class: str, body: str, needle: str
) -> None:
    bench.load({"orders.yaml": suite_yaml("silver.orders", "orders", classes=[data_class])})
    config = bench.file("i.yaml", body)

    code = main(["dq_gate", "--suite", "silver.orders", "--config", config])

    _assert_blocked_and_named(code, capsys.readouterr().err, needle)


@pytest.mark.parametrize(("body", "needle"), LOWERING[:5])
def test_config_dq_yaml_cannot_lower_the_bar(bench: Bench, capsys: pytest.CaptureFixture[str], body: str,
                                             needle: str) -> None:
    bench.load({"orders.yaml": suite_yaml("silver.orders", "orders", classes=["pii"])})
    bench.dq_yaml(body)

    code = main(["dq_gate", "--suite", "silver.orders"])

    _assert_blocked_and_named(code, capsys.readouterr().err, needle)


@pytest.mark.parametrize(("body", "needle"), LOWERING[:5])
def test_severities_cannot_be_removed_on_a_plain_table_either(
    bench: Bench, capsys: pytest.CaptureFixture[str], body: str, needle: str
) -> None:
    # Removing HIGH or CRITICAL is a bypass without approval; the runbook never allows that.
    bench.load({"orders.yaml": suite_yaml("silver.orders", "orders")})
    config = bench.file("i.yaml", body)

    code = main(["dq_gate", "--suite", "silver.orders", "--config", config])

    _assert_blocked_and_named(code, capsys.readouterr().err, needle)


def test_bypass_flag_on_a_pii_table_is_refused_and_audited(bench: Bench, capsys: pytest.CaptureFixture[str]) -> None:
    bench.load({"orders.yaml": suite_yaml("silver.orders", "orders", classes=["pii"])})

    code = main(["dq_gate", "--suite", "silver.orders", "--bypass", "true"])

    assert code == 1
    assert "orders holds pii data: it can never be bypassed" in capsys.readouterr().err
    assert audit("gate.override_refused")[-1]["overrides"] == ["--bypass"]
    assert audit("gate.blocked")[-1]["suite"] == "silver.orders"


def test_an_added_severity_is_named_and_blocks(bench: Bench, capsys: pytest.CaptureFixture[str]) -> None:
    bench.load({"orders.yaml": suite_yaml("silver.orders", "orders", rules=[("orders_amount_low", "id", "LOW")])})
    config = bench.file("add.yaml", "dq:\n  blocking_severities: [LOW, HIGH, CRITICAL]\n")

    code = main(["dq_gate", "--suite", "silver.orders", "--config", config])

    err = capsys.readouterr().err
    assert code == 1 and "orders_amount_low [LOW] FAILED" in err
    assert "blocking_severities adds LOW" in err
    assert any("adds LOW" in d for d in audit("gate.blocked")[-1]["deviations"])
