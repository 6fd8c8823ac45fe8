import pytest

from store import lifecycle
from tests.cli.helpers import manage
from tests.ops.store_data import load_rules, write_manifests


@pytest.fixture
def loaded(store_url, tmp_path):
    load_rules(write_manifests(tmp_path / "rules"))
    return store_url


def test_disable_retire_enable_and_list(loaded) -> None:
    done = manage("rules", "disable", "orders_id_not_null", "--reason", "noisy during migration", "--actor", "alice")
    assert done.returncode == 0, done.stderr
    assert "orders_id_not_null (silver.orders) is now disabled (version 2): noisy during migration" in done.stdout
    done = manage("rules", "retire", "orders_id_not_null", "--reason", "replaced", env={"DQ_ACTOR": "bob"})
    assert done.returncode == 0, done.stderr
    done = manage("rules", "list", "--status", "retired")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["orders_id_not_null", "silver.orders", "retired", "v3", "replaced"]
    assert [v.changed_by for v in lifecycle.history("orders_id_not_null")] == ["tester", "alice", "bob"]


def test_bad_arguments(loaded) -> None:
    done = manage("rules", "disable", "orders_id_not_null")
    assert done.returncode == 3 and "disable needs --reason" in done.stderr
    done = manage("rules", "disable", "--reason", "x")
    assert done.returncode == 3 and "disable needs a rule name" in done.stderr
    done = manage("rules", "enable", "nope", "--reason", "x")
    assert done.returncode == 3 and "no rule named 'nope'" in done.stderr
    done = manage("rules", "enable", "orders_id_not_null", "--reason", "x")
    assert done.returncode == 2 and "is already active. Hint" in done.stderr
    done = manage("rules", "pause", "orders_id_not_null")
    assert done.returncode == 3 and "invalid choice: 'pause'" in done.stderr
