"""Data classes belong to the table: union over suites, added at once, removed only on a lead's approval."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from engine.manifest import load_catalog
from ops.roles import user
from store import db, table_classes
from store.errors import InvalidTransition, PolicyViolation
from store.rules import sync_catalog
from store.schema import audit_log, class_changes

ONCALL, LEAD, LEAD2 = "oncall@company.com", "data-eng-lead@company.com", "lead2@company.com"


def _suite(name: str, table: str = "orders", classes: str = "", pii: str = "[email]") -> str:
    return (f"suite: {name}\nsource: warehouse\ntable: {table}\nlayer: silver\ndata_classes: [{classes}]\n"
            f"pii_columns: {pii}\nrules:\n  - {{name: {name.replace('.', '_')}_id, check: not_null, column: id, severity: HIGH}}\n")


def _load(tmp_path: Path, *, author: str = ONCALL, prune: bool = False, **files: str) -> None:
    (tmp_path / "sources.yaml").write_text("sources:\n  warehouse: {kind: sql}\n")
    paths = []
    for name, body in files.items():
        (tmp_path / f"{name}.yaml").write_text(body)
        paths.append(tmp_path / f"{name}.yaml")
    with db.write() as conn:
        sync_catalog(conn, load_catalog(paths, tmp_path / "sources.yaml"), author, prune=prune)


def _actions() -> list[str]:
    with db.read() as conn:
        return list(conn.execute(sa.select(audit_log.c.action).where(audit_log.c.action.like("classes.%"))
                                 .order_by(audit_log.c.id)).scalars())


def test_classes_are_the_union_over_every_suite_naming_the_table(store_url: str, tmp_path: Path) -> None:
    _load(tmp_path, a=_suite("silver.orders", classes="pii"), b=_suite("silver.orders_fin", classes="financial"),
          c=_suite("silver.other", table="other"))

    assert table_classes.in_force("warehouse", "orders") == ("financial", "pii")
    assert table_classes.in_force("warehouse", "other") == ()
    assert _actions() == ["classes.recorded", "classes.recorded"]


def test_an_added_class_applies_at_once_and_a_removal_waits_for_a_lead(store_url: str, tmp_path: Path) -> None:
    _load(tmp_path, a=_suite("silver.orders"))
    _load(tmp_path, a=_suite("silver.orders", classes="compliance"))
    assert table_classes.in_force("warehouse", "orders") == ("compliance",)

    _load(tmp_path, a=_suite("silver.orders"))
    [change] = table_classes.pending_changes()
    assert (change.removed, change.proposed_by, change.table) == (("compliance",), ONCALL, "warehouse:orders")
    assert table_classes.in_force("warehouse", "orders") == ("compliance",)

    approved = table_classes.approve(user(LEAD), change.id)

    assert (approved.status, approved.decided_by) == ("approved", LEAD)
    assert table_classes.in_force("warehouse", "orders") == ()
    assert _actions() == ["classes.recorded", "classes.added", "classes.removal_proposed", "classes.removal_approved"]


def test_reloading_the_class_withdraws_the_pending_removal(store_url: str, tmp_path: Path) -> None:
    _load(tmp_path, a=_suite("silver.orders", classes="pii"))
    _load(tmp_path, a=_suite("silver.orders"))
    _load(tmp_path, a=_suite("silver.orders", classes="pii"))

    assert table_classes.pending_changes() == []
    assert [c.status for c in table_classes.list_changes()] == ["withdrawn"]
    with pytest.raises(InvalidTransition, match="is withdrawn, not pending"):
        table_classes.approve(user(LEAD), 1)


def test_the_same_removal_loaded_twice_is_one_pending_change(store_url: str, tmp_path: Path) -> None:
    _load(tmp_path, a=_suite("silver.orders", classes="pii"))
    _load(tmp_path, a=_suite("silver.orders"))
    _load(tmp_path, a=_suite("silver.orders"))

    assert len(table_classes.pending_changes()) == 1


@pytest.mark.parametrize(("approver", "message"), [
    (ONCALL, "loaded class change #1 and cannot approve it \\(four eyes\\)"),
    ("oncall@company.com".upper(), "four eyes"),
    ("manager@company.com", "is not a data_eng_lead"),
    ("nobody@company.com", "has no role"),
])
def test_who_may_not_approve_a_removal(store_url: str, tmp_path: Path, approver: str, message: str) -> None:
    _load(tmp_path, a=_suite("silver.orders", classes="pii"))
    _load(tmp_path, a=_suite("silver.orders"))

    with pytest.raises(PolicyViolation, match=message):
        table_classes.approve(user(approver), 1)

    assert table_classes.in_force("warehouse", "orders") == ("pii",)
    assert _actions()[-1] == "classes.refused"


def test_a_rejection_needs_a_reason(store_url: str, tmp_path: Path) -> None:
    _load(tmp_path, a=_suite("silver.orders", classes="pii"))
    _load(tmp_path, a=_suite("silver.orders"))

    with pytest.raises(PolicyViolation, match="needs a reason"):
        table_classes.reject(user(LEAD2), 1, " ")
    rejected = table_classes.reject(user(LEAD2), 1, "still holds e-mails")

    assert (rejected.status, rejected.reason) == ("rejected", "still holds e-mails")
    assert table_classes.in_force("warehouse", "orders") == ("pii",)


def test_a_second_suite_on_a_pii_table_needs_pii_columns(store_url: str, tmp_path: Path) -> None:
    _load(tmp_path, a=_suite("silver.orders", classes="pii"))

    with pytest.raises(PolicyViolation, match="silver.orders_copy name warehouse:orders, which holds pii data, "
                                              "but list no pii_columns. Hint: add `pii_columns"):
        _load(tmp_path, b=_suite("silver.orders_copy", pii="[]"))

    with db.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(class_changes)).scalar_one() == 0


def test_an_edited_row_and_a_deleted_row_are_noticed(store_url: str, tmp_path: Path) -> None:
    _load(tmp_path, a=_suite("silver.orders", classes="pii"))
    with db.write() as conn:
        conn.exec_driver_sql("UPDATE table_classes SET data_classes = '[]'")
    with db.read() as conn:
        edited = table_classes.in_force_in(conn, "warehouse", "orders")
    with db.write() as conn:
        conn.exec_driver_sql("DELETE FROM table_classes")
    with db.read() as conn:
        deleted = table_classes.in_force_in(conn, "warehouse", "orders")

    assert edited.classes == ("pii",) and "fails its signature" in edited.problems[0]
    assert deleted.classes == ("pii",) and "is missing" in deleted.problems[0]


def test_every_suite_on_a_table_masks_the_pii_columns_any_of_them_lists(store_url: str, tmp_path: Path) -> None:
    from store.rules import live_suite

    _load(tmp_path, a=_suite("silver.orders", classes="pii", pii="[email]"),
          b=_suite("silver.orders_copy", pii="[phone]"))

    assert live_suite("silver.orders_copy").pii_columns == ("phone", "email")
    assert live_suite("silver.orders").pii_columns == ("email", "phone")
