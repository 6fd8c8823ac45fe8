"""DuckDB and Spark over Parquet: the paths they read, their timeouts, and a missing package as one ERROR per rule."""

from __future__ import annotations

import importlib
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
import sqlglot

from engine.evaluate import evaluate_suite
from engine.model import Layer, Source, Suite
from engine.pushdown.backend import PushdownTimeout, backend_for
from engine.pushdown.backends.duckdb import parquet_paths, read_parquet
from engine.reader import TableRef
from tests.engine.conftest import rule


def test_a_file_a_folder_and_an_s3_prefix(tmp_path: Path) -> None:
    (tmp_path / "silver").mkdir()
    pl.DataFrame({"a": [1]}).write_parquet(tmp_path / "silver" / "one.parquet")
    assert parquet_paths(str(tmp_path), TableRef("silver", "one")) == (f"{tmp_path}/silver/one.parquet", False)
    assert parquet_paths(str(tmp_path), TableRef("silver", "many")) == (f"{tmp_path}/silver/many/**/*.parquet", True)
    generated = sqlglot.exp.select("*").from_(read_parquet("s3://lake/gold", TableRef("silver", "it's"))).sql("duckdb")
    assert generated == "SELECT * FROM READ_PARQUET('s3://lake/gold/silver/it''s/**/*.parquet', hive_partitioning = TRUE)"


def _lake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pushdown: str) -> tuple[Suite, dict[str, Source]]:
    (tmp_path / "t").mkdir()
    pl.DataFrame({"a": [1, None, 1]}).write_parquet(tmp_path / "t" / "part-0.parquet")
    monkeypatch.setenv("DQ_TEST_LAKE", str(tmp_path))
    suite = Suite(name="s", source="lake", table="t", schema=None, layer=Layer.SILVER, data_classes=(),
                  pii_columns=(), rules=(rule("not_null", "a_nn", column="a"), rule("unique", "a_unique", column="a")),
                  execution="pushdown")
    return suite, {"lake": Source("lake", kind="parquet", url_env="DQ_TEST_LAKE", pushdown=pushdown)}


def test_a_folder_of_parquet_files_runs_in_duckdb(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    suite, sources = _lake(tmp_path, monkeypatch, "duckdb")
    results = {r.rule_name: r for r in evaluate_suite(suite, sources).results}
    assert (results["a_nn"].status.value, results["a_nn"].failing_rows) == ("FAILED", 1)
    assert (results["a_unique"].failing_rows, results["a_unique"].metrics["duplicated_values"]) == (2, 1)
    assert [row["a"] for row in results["a_unique"].sample] == [1, 1]


@pytest.fixture
def without(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """Import a backend module again as if its package were not installed; restored afterwards."""
    reloaded: list[str] = []

    def hide(package: str, module: str) -> None:
        monkeypatch.setitem(sys.modules, package, None)
        importlib.reload(importlib.import_module(module))
        reloaded.append(module)

    yield hide
    monkeypatch.undo()
    for module in reloaded:
        importlib.reload(importlib.import_module(module))


@pytest.mark.parametrize(("pushdown", "package", "module"), [
    ("duckdb", "duckdb", "engine.pushdown.backends.duckdb"), ("spark", "pyspark", "engine.pushdown.backends.spark")])
def test_a_missing_package_is_one_error_per_rule_naming_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                without: object, pushdown: str, package: str,
                                                                module: str) -> None:
    suite, sources = _lake(tmp_path, monkeypatch, pushdown)
    without(package, module)  # type: ignore[operator]
    results = evaluate_suite(suite, sources).results
    assert [r.status.value for r in results] == ["ERROR", "ERROR"]
    for result in results:
        assert result.rule_name in result.message and "table t" in result.message, result.message
        assert f"the `{package}` package is not installed" in result.message and "execution: local" in result.message


def test_a_duckdb_statement_past_its_timeout_is_interrupted(tmp_path: Path) -> None:
    backend = backend_for(Source("lake", kind="parquet"), str(tmp_path), "parquet")
    slow = sqlglot.parse_one("SELECT sum(a.range * b.range) FROM range(1000000) AS a, range(1000000) AS b", read="duckdb")
    started = time.monotonic()
    with pytest.raises(PushdownTimeout, match="ran past 0.3 s.*Hint: raise DQ_PUSHDOWN_TIMEOUT_SECONDS"):
        backend.run(slow, timeout_seconds=0.3)
    assert time.monotonic() - started < 5
    assert backend.run(sqlglot.parse_one("SELECT 42 AS n"), timeout_seconds=5).item() == 42
    backend.close()


@pytest.mark.filterwarnings("ignore:Exception ignored in. <socket.socket:pytest.PytestUnraisableExceptionWarning")
def test_a_spark_statement_past_its_timeout_is_interrupted(tmp_path: Path, spark: object) -> None:
    backend = backend_for(Source("lake", kind="parquet", pushdown="spark"), str(tmp_path), "parquet")
    slow = sqlglot.parse_one("SELECT sum(a.id * b.id) FROM range(100000000) AS a CROSS JOIN range(100000) AS b",
                             read="spark")
    started = time.monotonic()
    with pytest.raises(PushdownTimeout, match="ran past 2 s"):
        backend.run(slow, timeout_seconds=2)
    assert time.monotonic() - started < 60
    backend.close()


def test_a_sources_pushdown_engine_is_declared_and_a_typo_named() -> None:
    import yaml

    from engine.manifest import parse_sources

    problems: list = []
    document = yaml.safe_load("sources: {lake: {kind: parquet, pushdown: spark}, l2: {kind: parquet, pushdown: duck}}")
    sources = parse_sources(document, "sources.yaml", problems)
    assert sources["lake"].pushdown == "spark"
    assert [p.message for p in problems] == ["unknown pushdown engine 'duck' for a Parquet source"]
    assert "use duckdb or spark" in problems[0].hint
