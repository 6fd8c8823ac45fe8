"""load_dq_rules as the runbook calls it: dry run writes nothing, a bad file among good ones loads nothing."""

from __future__ import annotations

import json
from pathlib import Path

import sqlalchemy as sa

from tests.cli.helpers import manage

SOURCES = "sources:\n  warehouse: {kind: sql, demo: true}\n"
GOOD = "suite: s{n}\nsource: warehouse\ntable: t{n}\nlayer: silver\nrules:\n  - {{name: r{n}, check: not_null, column: a, severity: LOW}}\n"


def rule_names(store: str) -> list[str]:
    engine = sa.create_engine(store)
    with engine.connect() as conn:
        names = list(conn.execute(sa.text("SELECT name FROM rules ORDER BY name")).scalars())
    engine.dispose()
    return names


def setup(tmp_path: Path, store_url: str) -> tuple[Path, dict[str, str]]:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "sources.yaml").write_text(SOURCES)
    for n in (1, 2):
        (rules / f"s{n}.yaml").write_text(GOOD.format(n=n))
    return rules, {"DQ_STORE_URL": store_url, "DQ_RULES_DIR": str(rules)}


def test_dry_run_prints_the_plan_and_writes_nothing(store_url: str, tmp_path: Path) -> None:
    rules, env = setup(tmp_path, store_url)
    done = manage("load_dq_rules", "--dry-run", str(rules), env=env)
    assert done.returncode == 0, done.stderr
    assert "would add: r1 [s1]" in done.stdout
    assert "Dry run, nothing written: added 2" in done.stdout
    assert rule_names(store_url) == []


def test_load_then_json_diff(store_url: str, tmp_path: Path) -> None:
    rules, env = setup(tmp_path, store_url)
    assert manage("load_dq_rules", str(rules), env=env).returncode == 0
    (rules / "s1.yaml").write_text(GOOD.format(n=1).replace("LOW", "HIGH"))
    done = manage("load_dq_rules", "--dry-run", "--format", "json", str(rules / "s1.yaml"), env=env)
    plan = json.loads(done.stdout)
    assert [(c["rule"], c["change"], c["diff"]) for c in plan["changes"]] == [("r1", "changed", {"severity": ["LOW", "HIGH"]})]
    assert rule_names(store_url) == ["r1", "r2"]


def test_a_bad_file_among_good_ones_loads_nothing(store_url: str, tmp_path: Path) -> None:
    rules, env = setup(tmp_path, store_url)
    (rules / "s3.yaml").write_text(GOOD.format(n=3).replace("not_null", "not_nul"))
    done = manage("load_dq_rules", str(rules), env=env)
    assert done.returncode == 2
    assert "s3.yaml:6 rule 'r3' key 'check': unknown check type 'not_nul'" in done.stderr
    assert rule_names(store_url) == []


def test_unmigrated_store_says_how_to_fix(tmp_path: Path) -> None:
    rules, env = setup(tmp_path, f"sqlite:///{tmp_path / 'fresh.db'}")
    done = manage("load_dq_rules", str(rules), env=env)
    assert done.returncode == 2
    assert "Hint: run `python manage.py migrate`" in done.stderr
