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
    done = manage("rules", "disable", "orders_id_not_null", "--reason", "noisy during migration", "--actor", "data-eng-lead@company.com")
    assert done.returncode == 0, done.stderr
    assert "orders_id_not_null (silver.orders) is now disabled (version 2): noisy during migration" in done.stdout
    done = manage("rules", "retire", "orders_id_not_null", "--reason", "replaced", env={"DQ_ACTOR": "lead2@company.com"})
    assert done.returncode == 0, done.stderr
    done = manage("rules", "list", "--status", "retired")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["orders_id_not_null", "silver.orders", "retired", "v3", "replaced"]
    assert [v.changed_by for v in lifecycle.history("orders_id_not_null")] == ["tester", "data-eng-lead@company.com", "lead2@company.com"]


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
