import pytest
import sqlalchemy as sa

from store import db, lifecycle, schema
from store.errors import InvalidTransition, NotFound
from tests.ops.store_data import load_rules, write_manifests


@pytest.fixture
def loaded(store_url, tmp_path):
    load_rules(write_manifests(tmp_path / "rules"))
    return store_url


@pytest.fixture
def loaded_sqlite(sqlite_store, tmp_path):
    """Refusals are decided before any write: one backend is enough for them."""
    load_rules(write_manifests(tmp_path / "rules"))
    return sqlite_store


def _rule(name: str):
    with db.read() as conn:
        return conn.execute(sa.select(schema.rules).where(schema.rules.c.name == name)).one()


def test_disable_records_the_rule_a_version_and_an_audit_row_together(loaded) -> None:
    state = lifecycle.set_rule_state("orders_id_not_null", "disabled", "alice", "noisy during the migration")
    row = _rule("orders_id_not_null")
    assert (row.enabled, row.status, row.status_reason, row.version) == (False, "disabled", "noisy during the migration", 2)
    assert state.version == 2
    version = lifecycle.history("orders_id_not_null")[-1]
    assert (version.change, version.reason, version.changed_by, version.diff) == (
        "disabled", "noisy during the migration", "alice", {"status": ["active", "disabled"], "enabled": [True, False]})
    with db.read() as conn:
        audit = conn.execute(sa.select(schema.audit_log).where(schema.audit_log.c.action == "rule.disabled")).one()
    assert (audit.actor, audit.entity_id, audit.details["reason"]) == ("alice", "orders_id_not_null", "noisy during the migration")


def test_a_retired_rule_keeps_its_history_and_can_be_reinstated(loaded) -> None:
    lifecycle.set_rule_state("customers_fresh", "disabled", "alice", "monitor 48 hours first")
    lifecycle.set_rule_state("customers_fresh", "retired", "alice", "table decommissioned")
    assert [v.change for v in lifecycle.history("customers_fresh")] == ["added", "disabled", "retired"]
    assert [r.name for r in lifecycle.list_rules(status="retired")] == ["customers_fresh"]
    # "active" (the status name the Rules page offers) means enabled.
    assert lifecycle.set_rule_state("customers_fresh", "active", "bob", "table is back").status == "active"


@pytest.mark.parametrize(
    ("rule", "first", "then", "message"),
    [
        ("orders_id_not_null", None, "enabled", "is already active"),
        ("orders_id_not_null", "disabled", "disabled", "is already disabled"),
        ("orders_id_not_null", "retired", "disabled", "is retired and cannot be disabled. Hint: a retired rule can be enabled"),
    ],
)
def test_invalid_transitions_say_what_is_allowed(loaded_sqlite, rule, first, then, message) -> None:
    if first:
        lifecycle.set_rule_state(rule, first, "alice", "setup")
    with pytest.raises(InvalidTransition, match=message):
        lifecycle.set_rule_state(rule, then, "alice", "again")


def test_unknown_rule_empty_reason_and_unknown_state_are_refused(loaded_sqlite) -> None:
    with pytest.raises(NotFound, match="no rule named 'nope'.*Hint: `python manage.py rules list`"):
        lifecycle.set_rule_state("nope", "disabled", "alice", "why")
    with pytest.raises(InvalidTransition, match="a reason is required"):
        lifecycle.set_rule_state("orders_id_not_null", "disabled", "alice", "  ")
    with pytest.raises(InvalidTransition, match="unknown rule state 'paused'"):
        lifecycle.set_rule_state("orders_id_not_null", "paused", "alice", "why")
    assert _rule("orders_id_not_null").version == 1


def test_a_rule_removed_from_the_manifests_cannot_be_enabled_here(loaded_sqlite, tmp_path) -> None:
    rules = tmp_path / "rules"
    (rules / "customers.yaml").write_text((rules / "customers.yaml").read_text().split("  - name: customers_fresh")[0])
    load_rules(rules)
    with pytest.raises(InvalidTransition, match="removed from the manifests.*load_dq_rules"):
        lifecycle.set_rule_state("customers_fresh", "enabled", "alice", "want it back")


def test_a_lifecycle_change_survives_reloading_the_unchanged_manifests(loaded, tmp_path) -> None:
    lifecycle.set_rule_state("orders_id_not_null", "retired", "alice", "replaced by a schema check")
    load_rules(tmp_path / "rules")
    assert _rule("orders_id_not_null").status == "retired"


def test_retiring_resolves_the_rules_open_violations_and_disabling_does_not(loaded) -> None:
    from tests.ops.store_data import NOW, add_run, add_violation

    with db.write() as conn:
        run_id = add_run(conn, NOW)
        still_open = add_violation(conn, run_id, NOW, NOW, status="open")
        acknowledged = add_violation(conn, run_id, NOW, NOW, status="acknowledged")
        done = add_violation(conn, run_id, NOW, NOW, status="resolved")
    assert lifecycle.set_rule_state("orders_amount_between", "disabled", "alice", "pause").violations_resolved == ()
    state = lifecycle.set_rule_state("orders_amount_between", "retired", "alice", "column dropped")
    assert state.violations_resolved == (still_open, acknowledged)
    with db.read() as conn:
        rows = conn.execute(sa.select(schema.violations).order_by(schema.violations.c.id)).all()
    by_id = {r.id: r for r in rows}
    assert {by_id[i].status for i in (still_open, acknowledged, done)} == {"resolved"}
    assert (by_id[still_open].resolution, by_id[still_open].resolution_note, by_id[still_open].acknowledged_by) == (
        "other", "rule retired: column dropped", "alice")
    assert by_id[done].resolution == "auto"  # already resolved: untouched
