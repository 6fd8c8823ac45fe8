"""Red team: data classes belong to the table, not to a suite a hostile author can write.

A second suite with `data_classes: []`, a manifest edit, a pruned folder or a flipped store row
must never make a pii, financial or compliance table bypassable; every refusal is audited.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cli import main
from ops import bypass as bypass_ops
from ops import classes
from ops.roles import user
from store import bypass, table_classes
from store.errors import InvalidTransition, PolicyViolation
from tests.bypass_rows import add_run
from tests.security.gate_attacks import (
    ADMIN,
    LEAD,
    LEAD2,
    MANAGER,
    NOBODY,
    ONCALL,
    Bench,
    audit,
    raw,
    request_form,
    suite_yaml,
)

CLASSES = ["pii", "financial", "compliance"]


@pytest.fixture
def bench(store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Bench:
    monkeypatch.delenv("DQ_TEST_ALLOW_CLOCK_OVERRIDE", raising=False)
    bench = Bench(tmp_path, monkeypatch)
    bench.table("orders")
    return bench


def _sensitive_orders(bench: Bench, data_class: str, *, author: str = ONCALL) -> None:
    bench.load({"orders.yaml": suite_yaml("silver.orders", "orders", classes=[data_class])}, author=author)


def _second_plain_suite(bench: Bench, layer: str = "silver") -> None:
    bench.load({"orders_copy.yaml": suite_yaml(f"{layer}.orders_copy", "orders", layer=layer, rules=[
        ("copy_id_not_null", "id", "HIGH"), ("copy_email_not_null", "email", "HIGH"),
    ])})
    assert main(["run_dq_checks", "--suite", f"{layer}.orders_copy"]) == 1


@pytest.mark.parametrize("data_class", CLASSES)
def test_a_second_suite_without_classes_cannot_request_a_bypass(bench: Bench, data_class: str) -> None:
    _sensitive_orders(bench, data_class)
    _second_plain_suite(bench)

    with pytest.raises(PolicyViolation, match=f"holds {data_class} data and can NEVER be bypassed"):
        bypass_ops.request(user(ONCALL), request_form("silver.orders_copy"))

    row = audit("bypass.refused")[-1]
    assert (row["suite"], row["step"]) == ("silver.orders_copy", "request")


@pytest.mark.parametrize("layer", ["silver", "gold"])
def test_a_second_suite_on_a_pii_table_is_not_offered_or_honoured(
    bench: Bench, capsys: pytest.CaptureFixture[str], layer: str
) -> None:
    _sensitive_orders(bench, "pii")
    _second_plain_suite(bench, layer)
    capsys.readouterr()

    assert f"{layer}.orders_copy" not in [t.name for t in bypass.bypassable_suites()]
    code = main(["dq_gate", "--suite", f"{layer}.orders_copy", "--bypass", "--max-age", "60"])

    assert code == 1
    assert "orders holds pii data: it can never be bypassed" in capsys.readouterr().err
    assert audit("gate.override_refused")[-1]["suite"] == f"{layer}.orders_copy"


@pytest.mark.parametrize("data_class", CLASSES)
def test_removing_the_class_from_the_manifest_needs_approval(bench: Bench, data_class: str) -> None:
    _sensitive_orders(bench, data_class)
    bench.load({"orders.yaml": suite_yaml("silver.orders", "orders")})  # class quietly deleted
    assert main(["run_dq_checks", "--suite", "silver.orders"]) == 1

    assert table_classes.in_force("warehouse", "orders") == (data_class,)
    with pytest.raises(PolicyViolation, match="can NEVER be bypassed"):
        bypass_ops.request(user(ONCALL), request_form("silver.orders"))
    proposed = audit("classes.removal_proposed")[-1]
    assert (proposed["actor"], proposed["removed"]) == (ONCALL, [data_class])
    assert audit("bypass.refused")[-1]["suite"] == "silver.orders"


def test_pruning_the_sensitive_suite_away_keeps_the_class(bench: Bench) -> None:
    _sensitive_orders(bench, "pii")
    bench.forget("orders.yaml")
    bench.load({"orders_copy.yaml": suite_yaml("silver.orders_copy", "orders")}, prune=True)

    assert table_classes.in_force("warehouse", "orders") == ("pii",)
    assert audit("classes.removal_proposed")[-1]["removed"] == ["pii"]


@pytest.mark.parametrize("approver", [ONCALL, ONCALL.upper(), MANAGER, NOBODY])
def test_a_class_removal_is_not_approved_by_its_author_or_a_non_lead(bench: Bench, approver: str) -> None:
    _sensitive_orders(bench, "pii")
    bench.load({"orders.yaml": suite_yaml("silver.orders", "orders")}, author=ONCALL)
    change = table_classes.pending_changes()[0]

    with pytest.raises(PolicyViolation, match="Hint:"):
        classes.approve(user(approver), change.id)

    assert table_classes.in_force("warehouse", "orders") == ("pii",)
    row = audit("classes.refused")[-1]
    assert (row["actor"], row["change_id"]) == (approver, change.id)


def test_a_lead_cannot_approve_the_removal_they_loaded(bench: Bench, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    _sensitive_orders(bench, "pii", author=LEAD)
    bench.load({"orders.yaml": suite_yaml("silver.orders", "orders")}, author=LEAD)
    change = table_classes.pending_changes()[0]
    monkeypatch.setenv("DQ_ACTOR", LEAD)

    code = main(["classes", "approve", str(change.id)])

    assert code == 2
    assert "four eyes" in capsys.readouterr().err
    assert audit("classes.refused")[-1]["actor"] == LEAD
    assert table_classes.in_force("warehouse", "orders") == ("pii",)


def test_flipping_the_suite_row_in_the_store_keeps_the_table_sensitive(
    bench: Bench, capsys: pytest.CaptureFixture[str]
) -> None:
    _sensitive_orders(bench, "pii")
    raw("UPDATE suites SET data_classes = '[]'")
    capsys.readouterr()

    code = main(["dq_gate", "--suite", "silver.orders", "--bypass"])

    assert code == 1
    assert "orders holds pii data: it can never be bypassed" in capsys.readouterr().err
    assert audit("gate.override_refused")[-1]["suite"] == "silver.orders"


def test_flipping_the_table_classes_row_too_is_detected(bench: Bench, capsys: pytest.CaptureFixture[str]) -> None:
    _sensitive_orders(bench, "pii")
    raw("UPDATE suites SET data_classes = '[]'")
    raw("UPDATE table_classes SET data_classes = '[]'")
    capsys.readouterr()

    code = main(["dq_gate", "--suite", "silver.orders", "--bypass"])

    assert code == 2
    assert "records are not intact" in capsys.readouterr().err
    assert "table_classes" in audit("gate.refused")[-1]["reason"]


def test_a_bypass_revoked_by_a_class_change_never_comes_back(bench: Bench, capsys: pytest.CaptureFixture[str]) -> None:
    bench.load({"orders.yaml": suite_yaml("silver.orders", "orders")}, author=ONCALL)
    assert main(["run_dq_checks", "--suite", "silver.orders"]) == 1
    request_id = bypass_ops.request(user(ONCALL), request_form("silver.orders"))
    bypass_ops.approve(user(LEAD), request_id)
    _sensitive_orders(bench, "pii", author=ONCALL)  # the table becomes pii: revoked
    bench.load({"orders.yaml": suite_yaml("silver.orders", "orders")}, author=ONCALL)  # and back
    classes.approve(user(LEAD2), table_classes.pending_changes()[0].id)
    assert table_classes.in_force("warehouse", "orders") == ()
    raw("UPDATE bypass_requests SET status = 'active'")  # even with the row flipped back
    capsys.readouterr()

    code = main(["dq_gate", "--suite", "silver.orders", "--bypass", "--max-age", "60"])

    assert code == 1
    assert f"bypass #{request_id}" in capsys.readouterr().err
    assert audit("bypass.revoked")[-1]["entity_id"] == str(request_id)
    assert audit("gate.override_refused")[-1]["suite"] == "silver.orders"


def test_a_pending_bypass_is_revoked_by_a_class_change(bench: Bench) -> None:
    bench.load({"orders.yaml": suite_yaml("silver.orders", "orders")})
    assert main(["run_dq_checks", "--suite", "silver.orders"]) == 1
    request_id = bypass_ops.request(user(ONCALL), request_form("silver.orders"))
    bench.load({"orders.yaml": suite_yaml("silver.orders", "orders", classes=["financial"])})

    with pytest.raises((InvalidTransition, PolicyViolation)):
        bypass_ops.approve(user(LEAD), request_id)

    assert bypass.get(request_id).status == "revoked"
    assert audit("bypass.revoked")[-1]["entity_id"] == str(request_id)
    assert audit("bypass.refused")[-1]["request_id"] == request_id


def test_a_rejected_removal_keeps_the_class_and_is_audited(bench: Bench) -> None:
    _sensitive_orders(bench, "compliance")
    bench.load({"orders.yaml": suite_yaml("silver.orders", "orders")})
    change = table_classes.pending_changes()[0]

    classes.reject(user(LEAD), change.id, "compliance says no")

    assert table_classes.in_force("warehouse", "orders") == ("compliance",)
    assert audit("classes.removal_rejected")[-1]["actor"] == LEAD
    with pytest.raises(InvalidTransition, match="is rejected, not pending"):
        classes.approve(user(ADMIN), change.id)
    assert audit("classes.refused")[-1]["actor"] == ADMIN


@pytest.mark.parametrize("spelling", ["ORDERS", "public.orders", "main.orders", '"orders"'])
def test_another_spelling_of_the_table_name_keeps_its_classes(
    bench: Bench, capsys: pytest.CaptureFixture[str], spelling: str
) -> None:
    _sensitive_orders(bench, "pii")
    body = suite_yaml("silver.orders_copy", "orders", rules=[("copy_id_not_null", "id", "HIGH")])
    bench.load({"orders_copy.yaml": body.replace("table: orders", f"table: '{spelling}'")})
    add_run("silver.orders_copy", [("copy_id_not_null", "HIGH", "FAILED")])

    with pytest.raises(PolicyViolation, match="holds pii data and can NEVER be bypassed"):
        bypass_ops.request(user(ONCALL), request_form("silver.orders_copy"))

    assert audit("bypass.refused")[-1]["suite"] == "silver.orders_copy"


def test_a_bypassed_suite_moved_to_another_table_is_not_honoured(bench: Bench, capsys: pytest.CaptureFixture[str]) -> None:
    bench.table("orders_v2")
    bench.load({"orders.yaml": suite_yaml("silver.orders", "orders")})
    assert main(["run_dq_checks", "--suite", "silver.orders"]) == 1
    request_id = bypass_ops.request(user(ONCALL), request_form("silver.orders"))
    bypass_ops.approve(user(LEAD), request_id)
    bench.load({"orders.yaml": suite_yaml("silver.orders", "orders_v2")})
    capsys.readouterr()

    code = main(["dq_gate", "--suite", "silver.orders", "--bypass"])

    assert code == 1
    assert f"bypass #{request_id}: its suite now checks orders_v2, not the approved orders" in capsys.readouterr().err
    assert audit("gate.override_refused")[-1]["suite"] == "silver.orders"
