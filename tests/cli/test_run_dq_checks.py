"""run_dq_checks as the runbooks call it, against a real SQLite warehouse, as a subprocess."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.cli.helpers import load_rules_in_process, manage

SUITE = """\
suite: silver.orders
source: warehouse
table: silver_orders
layer: silver
pii_columns: [email]
rules:
  - {name: sales_data_not_empty, check: row_count, min: 1, severity: CRITICAL}
  - {name: orders_id_unique, check: unique, column: order_id, severity: HIGH}
  - {name: orders_email_present, check: not_null, column: email, severity: LOW}
"""


@pytest.fixture
def env(tmp_path: Path, sqlite_store: str) -> dict[str, str]:
    warehouse = tmp_path / "wh.db"
    with sqlite3.connect(warehouse) as conn:
        conn.execute("CREATE TABLE silver_orders (order_id INTEGER, email TEXT)")
        conn.executemany("INSERT INTO silver_orders VALUES (?, ?)", [(1, "a@x.io"), (2, "b@x.io"), (3, "c@x.io")])
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "sources.yaml").write_text("sources:\n  warehouse: {kind: sql}\n")
    (rules / "orders.yaml").write_text(SUITE)
    env = {"DQ_STORE_URL": sqlite_store, "DQ_RULES_DIR": str(rules), "DQ_SOURCE_WAREHOUSE_URL": f"sqlite:///{warehouse}"}
    load_rules_in_process(env)
    return env


def count(store: str, table: str) -> int:
    engine = sa.create_engine(store)
    with engine.connect() as conn:
        value = conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()
    engine.dispose()
    return value


def test_a_passing_rule_exits_0_and_is_recorded(env: dict[str, str]) -> None:
    done = manage("run_dq_checks", "--rule-name", "sales_data_not_empty", env=env)
    assert done.returncode == 0, done.stderr
    assert "sales_data_not_empty" in done.stdout and "PASSED" in done.stdout
    assert (count(env["DQ_STORE_URL"], "runs"), count(env["DQ_STORE_URL"], "results")) == (1, 1)


def test_a_failing_rule_exits_1_and_opens_a_violation(env: dict[str, str], tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "wh.db") as conn:
        conn.execute("INSERT INTO silver_orders VALUES (1, NULL)")
    done = manage("run_dq_checks", "--suite", "silver.orders", "--format", "json", env=env)
    assert done.returncode == 1, done.stderr
    (suite,) = json.loads(done.stdout)
    verdicts = {r["rule"]: (r["verdict"], r["failing_rows"]) for r in suite["results"]}
    assert verdicts == {"sales_data_not_empty": ("PASSED", None), "orders_id_unique": ("FAILED", 2),
                        "orders_email_present": ("FAILED", 1)}
    assert count(env["DQ_STORE_URL"], "violations") == 2


def test_dry_run_writes_nothing(env: dict[str, str]) -> None:
    done = manage("run_dq_checks", "--all", "--dry-run", env=env)
    assert done.returncode == 0, done.stderr
    assert "dry run, not recorded" in done.stdout
    assert count(env["DQ_STORE_URL"], "runs") == 0


def test_a_dead_source_exits_2_without_the_password(env: dict[str, str]) -> None:
    env = {**env, "DQ_SOURCE_WAREHOUSE_URL": "postgresql://dq:s3cret-pw@127.0.0.1:1/nowhere"}
    done = manage("run_dq_checks", "--all", env=env)
    assert done.returncode == 2
    assert "ERROR" in done.stdout
    assert "s3cret-pw" not in done.stdout + done.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--rule-name", "nope"), "rule 'nope' is not in the store"),
        (("--suite", "gold.nope"), "suite 'gold.nope' is not in the store"),
        (("--all", "--async", "--dry-run"), "--async and --dry-run cannot be combined"),
        ((), "one of the arguments --rule-name --suite --all is required"),
    ],
)
def test_usage_errors_exit_3(env: dict[str, str], args: tuple[str, ...], message: str) -> None:
    done = manage("run_dq_checks", *args, env=env)
    assert done.returncode == 3
    assert message in done.stderr
