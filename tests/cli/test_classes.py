"""`manage.py classes`: list pending class changes, show a table's classes, approve and reject as DQ_ACTOR."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli import main
from store import table_classes

LEAD = "data-eng-lead@company.com"


def _suite(classes: str) -> str:
    return ("suite: silver.orders\nsource: warehouse\ntable: orders\nlayer: silver\n"
            f"data_classes: [{classes}]\npii_columns: [email]\n"
            "rules:\n  - {name: orders_id, check: not_null, column: id, severity: HIGH}\n")


@pytest.fixture
def pending(sqlite_store: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> int:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "sources.yaml").write_text("sources:\n  warehouse: {kind: sql}\n")
    monkeypatch.setenv("DQ_RULES_DIR", str(rules))
    for classes in ("financial", ""):
        (rules / "orders.yaml").write_text(_suite(classes))
        assert main(["load_dq_rules", str(rules / "orders.yaml"), "--user", "oncall@company.com"]) == 0
    return table_classes.pending_changes()[0].id


def test_list_and_show(pending: int, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["classes", "list"]) == 0
    assert main(["classes", "show", "warehouse", "orders"]) == 0

    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"#{pending} pending   warehouse:orders: remove financial (in force ['financial'] -> [])")
    assert out[1] == "warehouse:orders: financial"


def test_approve_as_the_acting_lead(pending: int, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DQ_ACTOR", LEAD)

    assert main(["classes", "approve", str(pending)]) == 0

    assert f"approved: #{pending} approved" in capsys.readouterr().out
    assert table_classes.in_force("warehouse", "orders") == ()


def test_reject_needs_a_reason_and_an_unknown_change_exits_3(
    pending: int, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DQ_ACTOR", LEAD)

    assert main(["classes", "reject", str(pending), "--reason", "ledger data"]) == 0
    assert main(["classes", "approve", "999"]) == 3

    err = capsys.readouterr().err
    assert "class change #999 does not exist" in err
    assert table_classes.in_force("warehouse", "orders") == ("financial",)
