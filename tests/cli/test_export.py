import json
import re

import polars as pl
import pytest

from engine.manifest import load_catalog
from tests.cli.helpers import manage
from tests.cli.inprocess import run
from tests.ops.store_data import NOW, load_rules, populate, write_manifests


@pytest.fixture
def populated(store_url, tmp_path, monkeypatch):
    rules = write_manifests(tmp_path / "rules")
    monkeypatch.setenv("DQ_RULES_DIR", str(rules))
    monkeypatch.setenv("DQ_NOW", NOW.isoformat())
    load_rules(rules)
    return populate()


def test_runbook_forms(populated, tmp_path) -> None:
    # As the runbook writes it: kind, file, --days=1; the format follows the extension.
    done = manage("export_dq_data", "violations", str(tmp_path / "violations_last_hour.json"), "--days=1")
    assert done.returncode == 0, done.stderr
    assert "exported 2 rows of violations" in done.stdout
    rows = json.loads((tmp_path / "violations_last_hour.json").read_text())
    assert {r["status"] for r in rows} == {"open"}
    assert rows[0]["sample"] == [{"id": 1, "amount": -5, "email": "***"}]  # JSON nested, not a string
    assert rows[0]["detected_at"].endswith("+00:00")

    done = manage("export_dq_data", "rules", str(tmp_path / "current_rule.csv"), "--rule-name", "orders_amount_between")
    assert done.returncode == 0, done.stderr
    [rule] = pl.read_csv(tmp_path / "current_rule.csv").to_dicts()
    assert json.loads(rule["definition"])["fail"] == "1%" and rule["status"] == "active"


def test_manifest_export_loads_back(populated, tmp_path) -> None:
    done = manage("export_dq_data", "manifest", str(tmp_path / "dq_rules_backup.yaml"))
    assert done.returncode == 0, done.stderr
    assert "exported 2 suites of manifest" in done.stdout
    assert len(load_catalog([tmp_path / "dq_rules_backup.yaml"]).rules) == 5


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["alerts", "{dir}/x.json"], "unknown kind 'alerts'. Hint: export one of violations, runs, rules, manifest"),
        (["violations", "{dir}/x.json", "--days=-1"], "--days: -1 is negative"),
        (["violations", "{dir}/x.json", "--days", "soon"], "'soon' is not a number of days"),
        (["violations", "{dir}/missing/x.json"], "the folder .*missing does not exist"),
        (["violations", "{dir}"], "is a folder"),
        (["violations", "{dir}/x.txt"], "cannot tell the format .* from its extension .txt"),
        (["violations", "{dir}/x.json", "--format", "xml"], "invalid choice: 'xml'"),
        (["manifest", "{dir}/m.json"], "a manifest is YAML, not json"),
        (["manifest", "{dir}/m.yaml", "--rule-name", "r"], "--rule-name does not apply to manifest"),
        (["rules", "{dir}/r.json", "--days=1"], "--days does not apply to rules"),
        (["violations", "{dir}/x.json", "--rule-name", "nope"], "no rule named 'nope' in the store"),
        (["runs", "{dir}/x.json", "--suite", "nope"], "no suite named 'nope' in the store"),
        (["violations"], "the following arguments are required: file"),
    ],
)
def test_bad_arguments_exit_3_with_a_clear_message(sqlite_store, tmp_path, capsys, args, message) -> None:
    code, _, err = run(capsys, "export_dq_data", *[a.format(dir=tmp_path) for a in args])
    assert code == 3
    assert re.search(message, err), err
    assert not (tmp_path / "x.json").exists()


def test_bad_arguments_as_the_runbook_would_type_them(sqlite_store, tmp_path) -> None:
    for args, message in [
        (["alerts", str(tmp_path / "x.json")], "unknown kind 'alerts'"),
        (["violations", str(tmp_path / "x.json"), "--days=-1"], "-1 is negative"),
        (["violations", str(tmp_path / "no" / "x.json")], "cannot write .*does not exist. Hint"),
    ]:
        done = manage("export_dq_data", *args)
        assert done.returncode == 3, done.stderr
        assert re.search(message, done.stderr), done.stderr


def test_an_unknown_rule_on_postgresql(pg_store, tmp_path) -> None:
    done = manage("export_dq_data", "violations", str(tmp_path / "x.json"), "--rule-name", "nope")
    assert done.returncode == 3 and "no rule named 'nope' in the store" in done.stderr, done.stderr
