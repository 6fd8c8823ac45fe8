"""`execution: local | pushdown | auto`: the manifest key, the global default and auto's catalog estimate."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from engine.evaluate import evaluate_suite
from engine.manifest import ManifestError, suite_from_definitions
from engine.model import Source

RULES = [{"name": "a_nn", "check": "not_null", "column": "a", "severity": "HIGH"},
         {"name": "a_re", "check": "regex", "column": "a", "pattern": "^[0-9]+$", "severity": "HIGH"}]


def _suite(**keys: object):
    return suite_from_definitions({"suite": "s", "source": "wh", "table": "t", "layer": "silver", **keys}, RULES)


def test_the_manifest_takes_execution_and_refuses_a_typo() -> None:
    assert _suite(execution="pushdown").execution == "pushdown"
    assert _suite().execution is None
    with pytest.raises(ManifestError, match="unknown execution 'push'.*local, pushdown, auto"):
        _suite(execution="push")


def _warehouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, analyze: bool) -> dict[str, Source]:
    path = tmp_path / "w.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (a TEXT, n REAL)")
        conn.executemany("INSERT INTO t VALUES (?, ?)", [("1", 1.0), (None, 2.0), ("x", 3.0)])
        conn.execute("CREATE INDEX t_a ON t (a)")
        if analyze:
            conn.execute("ANALYZE")
    monkeypatch.setenv("DQ_TEST_WH", f"sqlite:///{path}")
    return {"wh": Source("wh", url_env="DQ_TEST_WH")}


@pytest.mark.parametrize(("execution", "analyze", "threshold", "pushed"), [
    ("pushdown", False, "1000000", True), ("local", True, "1", False),
    ("auto", True, "1", True), ("auto", True, "1000000", False), ("auto", False, "1", False)])
def test_where_a_suite_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, execution: str, analyze: bool,
                            threshold: str, pushed: bool) -> None:
    sources = _warehouse(tmp_path, monkeypatch, analyze)
    monkeypatch.setenv("DQ_PUSHDOWN_AUTO_ROWS", threshold)
    monkeypatch.setenv("DQ_EXECUTION", execution)
    # stddev has no SQL form on SQLite: an ERROR naming `execution: local` shows the rule was pushed down.
    suite = suite_from_definitions({"suite": "s", "source": "wh", "table": "t", "layer": "silver"}, [
        *RULES, {"name": "n_sd", "check": "aggregate", "column": "n", "stat": "stddev", "max": 5,
                 "severity": "HIGH"}])
    suite = replace(suite, execution=None)
    report = evaluate_suite(suite, sources)
    by_name = {r.rule_name: r for r in report.results}
    assert by_name["a_nn"].status.value == "FAILED" and by_name["a_nn"].failing_rows == 1
    assert by_name["a_re"].status.value == "FAILED"  # local_only: the local executor in the same run
    assert by_name["a_re"].failing_rows == 1
    sd = by_name["n_sd"]
    assert (sd.status.value, "execution: local" in sd.message) == (("ERROR", True) if pushed else ("PASSED", False))
