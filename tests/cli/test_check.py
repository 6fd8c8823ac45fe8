"""`manage.py check`, the runbook's "Check database connectivity", as a subprocess."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.cli.helpers import load_rules_in_process, manage

SUITE = "suite: silver.orders\nsource: warehouse\ntable: silver_orders\nlayer: silver\nrules:\n  - {name: r, check: not_null, column: id, severity: LOW}\n"


def env_for(tmp_path: Path, store: str, warehouse_url: str) -> dict[str, str]:
    rules = tmp_path / "rules"
    rules.mkdir(exist_ok=True)
    (rules / "sources.yaml").write_text("sources:\n  warehouse: {kind: sql}\n")
    (rules / "orders.yaml").write_text(SUITE)
    return {"DQ_STORE_URL": store, "DQ_RULES_DIR": str(rules), "DQ_SOURCE_WAREHOUSE_URL": warehouse_url}


def test_everything_in_order_exits_0(sqlite_store: str, tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "wh.db") as conn:
        conn.execute("CREATE TABLE silver_orders (id INTEGER, amount REAL)")
    env = env_for(tmp_path, sqlite_store, f"sqlite:///{tmp_path / 'wh.db'}")
    load_rules_in_process(env)
    done = manage("check", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "OK   store:" in done.stdout
    assert "OK   source of silver.orders:" in done.stdout and "silver_orders has 2 columns" in done.stdout


def test_a_dead_source_exits_1_with_the_fix_and_no_password(sqlite_store: str, tmp_path: Path) -> None:
    env = env_for(tmp_path, sqlite_store, "postgresql://dq:s3cret-pw@127.0.0.1:1/warehouse")
    load_rules_in_process(env)
    done = manage("check", env=env)
    assert done.returncode == 1
    line = next(line for line in done.stdout.splitlines() if "source of silver.orders" in line)
    assert line.startswith("FAIL") and "Hint:" in line
    assert "s3cret-pw" not in done.stdout + done.stderr


def test_an_unmigrated_store_says_how_to_fix_it(tmp_path: Path) -> None:
    env = env_for(tmp_path, f"sqlite:///{tmp_path / 'new.db'}", "sqlite:////nowhere.db")
    done = manage("check", env=env)
    assert done.returncode == 1
    assert "FAIL store:" in done.stdout and "python manage.py migrate" in done.stdout


def test_check_validates_the_four_config_files_with_file_line_and_key(sqlite_store: str, tmp_path: Path) -> None:
    import shutil

    config = tmp_path / "config"
    shutil.copytree(Path(__file__).resolve().parents[2] / "config", config)
    (config / "roles.yaml").write_text("users:\n  oncall@company.com: [on_call]\n  lead@company.com: [data_eng_lead\n")
    (config / "alerting.yaml").write_text("delivery:\n  max_attempt: 3\n")
    env = {**env_for(tmp_path, sqlite_store, "sqlite:////nowhere.db"), "DQ_CONFIG_DIR": str(config)}
    done = manage("check", env=env)
    assert done.returncode == 1 and "Traceback" not in done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert [line.split(":")[0] for line in lines if " config " in line] == [
        "FAIL config alerting.yaml", "OK   config approval_matrix.yaml", "OK   config dq.yaml", "FAIL config roles.yaml",
        "OK   config reports.yaml",
    ]
    assert f"  {config / 'roles.yaml'}:4: not valid YAML" in done.stdout
    assert f"  {config / 'alerting.yaml'}:2 key 'delivery.max_attempt': unknown key. Hint: did you mean max_attempts?" in done.stdout
