import pytest

from store import lifecycle
from tests.cli.helpers import manage
from tests.cli.inprocess import run
from tests.ops.store_data import load_rules, write_manifests


@pytest.fixture(autouse=True)
def lead(monkeypatch):
    """The rule lifecycle needs data_eng_lead (config/roles.yaml); refusals are tests/security/'s."""
    monkeypatch.setenv("DQ_ACTOR", "data-eng-lead@company.com")


@pytest.fixture
def loaded(store_url, tmp_path):
    load_rules(write_manifests(tmp_path / "rules"))
    return store_url


@pytest.fixture
def loaded_sqlite(sqlite_store, tmp_path):
    load_rules(write_manifests(tmp_path / "rules"))
    return sqlite_store


def test_disable_retire_enable_and_list(loaded) -> None:
    done = manage("rules", "disable", "customers_fresh", "--reason", "noisy during migration", "--actor", "data-eng-lead@company.com")
    assert done.returncode == 0, done.stderr
    assert "customers_fresh (gold.customers) is now disabled (version 2): noisy during migration" in done.stdout
    done = manage("rules", "retire", "customers_fresh", "--reason", "replaced", env={"DQ_ACTOR": "lead2@company.com"})
    assert done.returncode == 0, done.stderr
    done = manage("rules", "list", "--status", "retired")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["customers_fresh", "gold.customers", "retired", "v3", "replaced"]
    assert [v.changed_by for v in lifecycle.history("customers_fresh")] == ["tester", "data-eng-lead@company.com", "lead2@company.com"]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["disable", "orders_id_not_null"], 3, "disable needs --reason"),
        (["disable", "--reason", "x"], 3, "disable needs a rule name"),
        (["list", "orders_id_not_null"], 3, "list takes no rule name"),
        (["enable", "nope", "--reason", "x"], 3, "no rule named 'nope'"),
        (["enable", "orders_id_not_null", "--reason", "x"], 2, "is already active. Hint"),
        (["pause", "orders_id_not_null"], 3, "invalid choice: 'pause'"),
    ],
)
def test_bad_arguments(loaded_sqlite, capsys, args, code, message) -> None:
    exit_code, _, err = run(capsys, "rules", *args)
    assert exit_code == code and message in err, err


def test_bad_arguments_as_a_subprocess(loaded) -> None:
    done = manage("rules", "disable", "nope", "--reason", "x")
    assert done.returncode == 3 and "no rule named 'nope'" in done.stderr


def test_a_sensitive_rule_waits_for_a_second_lead(loaded_sqlite, capsys, monkeypatch) -> None:
    """orders_id_not_null is HIGH on a financial table: disabling it is a request until another lead approves."""
    code, out, err = run(capsys, "rules", "disable", "orders_id_not_null", "--reason", "noisy")
    assert code == 0 and "change #1 (disabled) waits for a second person" in out, err
    assert [s.status for s in lifecycle.list_rules(suite="silver.orders") if s.name == "orders_id_not_null"] == ["active"]
    code, out, _ = run(capsys, "rules", "changes")
    assert out.startswith("#1 disabled orders_id_not_null (silver.orders, HIGH, financial) by data-eng-lead@company.com")
    code, _, err = run(capsys, "rules", "approve-change", "1")
    assert code == 2 and "cannot approve it (four eyes)" in err
    monkeypatch.setenv("DQ_ACTOR", "lead2@company.com")
    code, out, err = run(capsys, "rules", "approve-change", "1")
    assert code == 0 and "rule orders_id_not_null is now disabled" in out, err
    assert [v.changed_by for v in lifecycle.history("orders_id_not_null")] == ["tester", "lead2@company.com"]
