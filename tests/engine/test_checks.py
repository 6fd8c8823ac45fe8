"""Every check type on the edge-case table, the same verdict on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import pytest

from engine.checks import CHECKS
from engine.model import Level
from engine.results import Verdict
from tests.engine.conftest import Warehouse, rule

P, W, F, E = Verdict.PASSED, Verdict.WARNED, Verdict.FAILED, Verdict.ERROR

# (id, check, params, expected verdict, failing rows, rows tested); see EDGE_ROWS in conftest.py.
ROW_CASES = [
    ("not_null: NULL fails, '' passes", "not_null", {"column": "name"}, F, 1, 7),
    ("not_null: '' status is a value", "not_null", {"column": "status"}, F, 1, 7),
    ("not_null: key column", "not_null", {"column": "id"}, P, 0, 7),
    ("not_null: quoted reserved word", "not_null", {"column": "select"}, F, 2, 7),
    ("not_null: quoted mixed case", "not_null", {"column": "Mixed Case"}, F, 2, 7),
    ("not_null: a unicode column name", "not_null", {"column": "prénom"}, F, 1, 7),
    ("unique: a unicode column name", "unique", {"column": "prénom"}, F, 2, 7),
    ("null_rate above threshold", "null_rate", {"column": "amount", "threshold": 0.1}, F, 1, 7),
    ("null_rate within threshold", "null_rate", {"column": "amount", "threshold": 0.2}, P, 1, 7),
    ("unique a,a,b,b,b: 5 rows share a key", "unique", {"column": "select"}, F, 5, 7),
    ("unique composite, NULL keys never duplicate", "unique", {"columns": ["select", "Mixed Case"]}, F, 5, 7),
    ("unique primary key", "unique", {"column": "id"}, P, 0, 7),
    ("duplicate_rows: NULL equals NULL", "duplicate_rows", {"columns": ["select", "Mixed Case"]}, F, 7, 7),
    ("duplicate_rows over every column", "duplicate_rows", {}, P, 0, 7),
    ("accepted_values: '' must be listed", "accepted_values", {"column": "status", "values": ["NEW", "OLD"]}, F, 1, 7),
    ("accepted_values: '' listed, NULL passes", "accepted_values", {"column": "status", "values": ["NEW", "OLD", ""]}, P, 0, 7),
    ("accepted_values: booleans (MySQL TINYINT)", "accepted_values", {"column": "flag", "values": [True]}, F, 2, 7),
    ("accepted_values: integers", "accepted_values", {"column": "select", "values": [1, 2]}, P, 0, 7),
    ("accepted_values: decimals", "accepted_values", {"column": "amount", "values": [1.25, 2.5, 10, -1, 0.1]}, F, 1, 7),
    ("between decimal, both ends", "between", {"column": "amount", "min": 0, "max": 5}, F, 2, 7),
    ("between is inclusive", "between", {"column": "amount", "min": -1, "max": 10}, P, 0, 7),
    ("between a timestamp bound", "between", {"column": "ts", "min": "2024-03-01 10:30:00"}, F, 1, 7),
    ("between a timestamptz bound", "between", {"column": "tstz", "max": "2024-03-02 12:00:00"}, F, 1, 7),
    ("between a date bound", "between", {"column": "day", "min": "2024-03-02"}, F, 2, 7),
    ("regex ASCII letters: unicode and '' fail", "regex", {"column": "name", "pattern": "[A-Za-z]+"}, F, 3, 7),
    ("regex \\w is unicode-aware", "regex", {"column": "name", "pattern": r"\w+"}, F, 1, 7),
    ("regex search, not full match", "regex", {"column": "name", "pattern": "o", "full_match": False}, F, 4, 7),
    ("string_length counts characters, not bytes", "string_length", {"column": "name", "min": 1, "max": 3}, F, 1, 7),
    ("string_length max only", "string_length", {"column": "name", "max": 2}, F, 3, 7),
    ("referential: values exist", "referential", {"column": "select", "ref_table": "ref", "ref_column": "id"}, P, 0, 7),
    ("referential: decimal vs integer key", "referential", {"column": "amount", "ref_table": "ref", "ref_column": "id"}, F, 6, 7),
    ("row_condition: NULL result passes", "row_condition", {"expression": "amount >= 0"}, F, 1, 7),
    ("row_condition with quoted identifiers", "row_condition", {"expression": "\"select\" < 2 OR \"Mixed Case\" = 'b'"}, P, 0, 7),
]


@pytest.mark.parametrize(("check", "params", "verdict", "failing", "tested"),
                         [c[1:] for c in ROW_CASES], ids=[c[0] for c in ROW_CASES])
def test_row_checks(warehouse: Warehouse, check: str, params: dict, verdict: Verdict, failing: int, tested: int) -> None:
    result = warehouse.result(rule(check, **params))

    assert (result.status, result.failing_rows, result.rows_tested) == (verdict, failing, tested), result.message
    assert result.observed_value == pytest.approx(failing / tested)


def test_duplicates_report_rows_values_and_extra_copies(warehouse: Warehouse) -> None:
    result = warehouse.result(rule("unique", column="select"))

    assert result.failing_rows == 5
    assert dict(result.metrics) == {"duplicated_values": 2, "extra_copies": 3}
    assert "2 distinct duplicated value(s), 3 extra copies" in result.message


AGGREGATE_CASES = [
    ("row_count within", "row_count", {"min": 1, "max": 10}, P, 7),
    ("row_count below min", "row_count", {"min": 8}, F, 7),
    ("mean of a decimal", "aggregate", {"column": "amount", "stat": "mean", "min": 2, "max": 3}, P, 16.18 / 6),
    ("sum of a decimal", "aggregate", {"column": "amount", "stat": "sum", "max": 16}, F, 16.18),
    ("max", "aggregate", {"column": "amount", "stat": "max", "max": 10}, P, 10.0),
    ("min of a float", "aggregate", {"column": "score", "stat": "min", "min": 0}, F, -1.0),
    ("median (linear quantile)", "aggregate", {"column": "amount", "stat": "quantile", "quantile": 0.5, "min": 1.8, "max": 1.9}, P, 1.875),
    ("stddev", "aggregate", {"column": "select", "stat": "stddev", "max": 1}, P, 0.5477225575),
    ("freshness of a naive timestamp", "freshness", {"column": "ts", "max_age": "3h"}, P, 7200.0),
    ("freshness too old", "freshness", {"column": "ts", "max_age": "1h"}, F, 7200.0),
    ("freshness warn level", "freshness", {"column": "tstz", "max_age": "3h", "warn_age": "1h"}, W, 7200.0),
    ("freshness of a naive timestamp in a zone", "freshness", {"column": "ts", "max_age": "30m", "timezone": "Europe/Berlin"}, P, 0.0),
    ("freshness of a date", "freshness", {"column": "day", "max_age": "1d"}, P, 36000.0),
    ("count of non-NULL values", "count", {"column": "name", "min": 7}, F, 6),
    ("count_distinct, NULL is no value", "count_distinct", {"column": "select", "min": 1, "max": 2}, P, 2),
    ("reconciliation: rows vs the rows of ref", "reconciliation", {"stat": "count", "ref_table": "ref", "tolerance": 5}, P, 7),
    # Alone the engine has no history: the metric is measured, ops/anomaly.py judges it (tests/ops/test_anomaly_run.py).
    ("anomaly: rows, not judged without history", "anomaly", {"metric": "row_count"}, Verdict.NOT_ENOUGH_HISTORY, 7),
    ("anomaly: null rate of a column", "anomaly", {"metric": "null_rate", "column": "name"}, Verdict.NOT_ENOUGH_HISTORY, 1 / 7),
    ("anomaly: mean of a decimal", "anomaly", {"metric": "mean", "column": "amount"}, Verdict.NOT_ENOUGH_HISTORY, 16.18 / 6),
    ("anomaly: distinct values", "anomaly", {"metric": "distinct_count", "column": "select"}, Verdict.NOT_ENOUGH_HISTORY, 2),
]


@pytest.mark.parametrize(("check", "params", "verdict", "observed"),
                         [c[1:] for c in AGGREGATE_CASES], ids=[c[0] for c in AGGREGATE_CASES])
def test_aggregate_checks(warehouse: Warehouse, check: str, params: dict, verdict: Verdict, observed: float) -> None:
    # Berlin is UTC+1 in March: 08:00 there is 07:00 UTC ... 3h old; the case uses NOW shifted below.
    now = None
    if params.get("timezone") == "Europe/Berlin":
        from datetime import UTC, datetime

        now = datetime(2024, 3, 3, 7, 0, tzinfo=UTC)
    result = warehouse.result(rule(check, **params), **({"now": now} if now else {}))

    assert result.status is verdict, result.message
    assert result.observed_value == pytest.approx(observed)
    assert result.failing_rows is None and result.fail_level


SCHEMA_CASES = [
    ("portable types match everywhere",
     {"id": "int", "name": "string", "amount": "decimal", "score": "float", "ts": "datetime",
      "tstz": "datetime", "flag": "bool", "day": "date", "select": "int"}, None, P, []),
    ("a column that disappeared", {"id": "int", "gone": "string"}, None, F, ["gone"]),
    ("extra columns refused", {"id": "int"}, False, F, []),
    ("a changed type", {"name": "int"}, None, F, []),
]


@pytest.mark.parametrize(("columns", "allow_extra", "verdict", "missing"),
                         [c[1:] for c in SCHEMA_CASES], ids=[c[0] for c in SCHEMA_CASES])
def test_schema_check(warehouse: Warehouse, columns: dict, allow_extra: bool | None, verdict: Verdict,
                      missing: list) -> None:
    params = {"columns": columns} | ({"allow_extra": allow_extra} if allow_extra is not None else {})
    result = warehouse.result(rule("schema", **params))

    assert result.status is verdict, result.message
    assert result.metrics["missing"] == missing


LEVEL_CASES = [
    ("1 failing row, fail above 1 row", None, Level(max_rows=1), P),
    ("1 failing row, warn above 0 rows", Level(max_rows=0), Level(max_rows=1), W),
    ("1 of 7 rows, fail above 10%", None, Level(max_fraction=0.10), F),
    ("1 of 7 rows, warn above 10%, fail above 20%", Level(max_fraction=0.10), Level(max_fraction=0.20), W),
    ("no levels: any failing row fails", None, None, F),
]


@pytest.mark.parametrize(("warn", "fail", "verdict"), [c[1:] for c in LEVEL_CASES], ids=[c[0] for c in LEVEL_CASES])
def test_warn_and_fail_levels(warehouse: Warehouse, warn: Level | None, fail: Level | None, verdict: Verdict) -> None:
    result = warehouse.result(rule("not_null", column="name", _={"warn": warn, "fail": fail}))

    assert result.status is verdict
    assert result.fail_level == (fail or Level(max_rows=0)).describe()
    assert result.warn_level == (warn.describe() if warn else None)


WHERE_CASES = [
    ("not_null on matching rows only", "not_null", {"column": "name"}, "status = 'NEW'", P, 0, 4),
    ("unique among matching rows only", "unique", {"column": "select"}, "status = 'NEW'", P, 0, 4),
    ("duplicates within the scope", "duplicate_rows", {"columns": ["Mixed Case"]}, "\"select\" = 2", F, 3, 3),
    ("NULL in the filter excludes the row", "accepted_values", {"column": "status", "values": ["NEW"]}, "name <> ''", P, 0, 5),
]


@pytest.mark.parametrize(("check", "params", "where", "verdict", "failing", "tested"),
                         [c[1:] for c in WHERE_CASES], ids=[c[0] for c in WHERE_CASES])
def test_where_filters_the_rule(warehouse: Warehouse, check: str, params: dict, where: str, verdict: Verdict,
                                failing: int, tested: int) -> None:
    result = warehouse.result(rule(check, **params, _={"where": where}))

    assert (result.status, result.failing_rows, result.rows_tested) == (verdict, failing, tested), result.message


EMPTY_AND_NULL_CASES = [
    ("empty", "row_count", {"min": 1}, F), ("empty", "not_null", {"column": "name"}, P),
    ("empty", "unique", {"column": "select"}, P), ("empty", "freshness", {"column": "ts", "max_age": "1d"}, F),
    ("empty", "aggregate", {"column": "amount", "stat": "mean", "min": 0}, F),
    ("empty", "aggregate", {"column": "amount", "stat": "sum", "min": 0}, F),
    ("all_null", "not_null", {"column": "name"}, F), ("all_null", "between", {"column": "amount", "min": 0}, P),
    ("all_null", "accepted_values", {"column": "status", "values": ["NEW"]}, P),
    ("all_null", "unique", {"column": "select"}, P), ("all_null", "regex", {"column": "name", "pattern": "x"}, P),
    ("all_null", "freshness", {"column": "tstz", "max_age": "1d"}, F),
    ("all_null", "aggregate", {"column": "score", "stat": "max", "max": 1}, F),
]


@pytest.mark.parametrize(("table", "check", "params", "verdict"), EMPTY_AND_NULL_CASES,
                         ids=[f"{c[0]}-{c[1]}-{'-'.join(map(str, c[2].values()))}" for c in EMPTY_AND_NULL_CASES])
def test_empty_and_all_null_tables(warehouse: Warehouse, table: str, check: str, params: dict, verdict: Verdict) -> None:
    result = warehouse.result(rule(check, **params), table=table)

    assert result.status is verdict, result.message


def test_null_rate_reports_the_null_rate_on_an_all_null_table(warehouse: Warehouse) -> None:
    result = warehouse.result(rule("null_rate", column="name", threshold=0.5), table="all_null")

    assert (result.status, result.observed_value, result.failing_rows) == (F, 1.0, 3)


def test_every_check_type_has_a_builder_and_a_case() -> None:
    covered = {c[1] for c in ROW_CASES + AGGREGATE_CASES} | {"schema"}

    assert all(check.build is not None for check in CHECKS.values())
    assert covered == set(CHECKS)
