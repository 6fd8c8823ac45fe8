"""load_dq_rules as the runbook calls it: dry run writes nothing, a bad file among good ones loads nothing."""

from __future__ import annotations

import json
import re
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


def suites_enabled(store: str) -> dict[str, bool]:
    engine = sa.create_engine(store)
    with engine.connect() as conn:
        rows = {r[0]: r[1] for r in conn.execute(sa.text("SELECT name, enabled FROM suites"))}
    engine.dispose()
    return {k: bool(v) for k, v in rows.items()}


def test_an_emptied_manifest_is_refused_unless_prune_is_given(store_url: str, tmp_path: Path) -> None:
    rules, env = setup(tmp_path, store_url)
    assert manage("load_dq_rules", str(rules), env=env).returncode == 0
    (rules / "s2.yaml").write_text("")  # an editor saved an empty buffer
    done = manage("load_dq_rules", str(rules), env=env)
    assert done.returncode == 2
    assert "s2.yaml: holds no suite (the file is empty or only comments)" in done.stderr
    assert "pass --prune to disable its suites on purpose" in done.stderr
    assert suites_enabled(store_url) == {"s1": True, "s2": True}
    done = manage("load_dq_rules", "--prune", str(rules), env=env)
    assert done.returncode == 0, done.stderr
    assert "disabled suite: s2" in done.stdout
    assert suites_enabled(store_url) == {"s1": True, "s2": False}


def test_a_rule_name_of_another_suite_is_refused_unless_move(store_url: str, tmp_path: Path) -> None:
    rules, env = setup(tmp_path, store_url)
    assert manage("load_dq_rules", str(rules), env=env).returncode == 0
    (rules / "s2.yaml").write_text(GOOD.format(n=2) + "  - {name: r1, check: not_null, column: b, severity: LOW}\n")
    (rules / "s1.yaml").write_text(GOOD.format(n=1).replace("name: r1", "name: r1b"))
    for dry in (["--dry-run"], []):
        done = manage("load_dq_rules", *dry, str(rules), env=env)
        assert done.returncode == 2, done.stdout
        assert re.search(r"rule 'r1' belongs to suite 's1' \(.*s1.yaml:6\), but .*s2.yaml:7 defines it in suite 's2'",
                         done.stderr), done.stderr
        assert "pass --move" in done.stderr
    assert rule_names(store_url) == ["r1", "r2"]
    done = manage("load_dq_rules", "--dry-run", "--move", str(rules), env=env)
    assert done.returncode == 0, done.stderr
    assert "would move: r1 [s2]" in done.stdout
    assert "suite: 's1' -> 's2'" in done.stdout
    assert manage("load_dq_rules", "--move", str(rules), env=env).returncode == 0
    engine = sa.create_engine(store_url)
    with engine.connect() as conn:
        suite, version = conn.execute(sa.text("SELECT suite, version FROM rules WHERE name = 'r1'")).one()
        changes = list(conn.execute(sa.text("SELECT change FROM rule_versions WHERE rule_name = 'r1' ORDER BY version")).scalars())
    engine.dispose()
    assert (suite, version, changes) == ("s2", 2, ["added", "moved"])
