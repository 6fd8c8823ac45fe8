"""Every check type with a SQL form runs through both executors on SQLite, PostgreSQL and MariaDB:
the same verdicts, failing-row counts and observed values (floats within 1e-9 relative)."""

from __future__ import annotations

import math

import pytest

from engine.checks import CHECKS
from engine.errors import LocalOnlyHere
from tests.engine.conftest import BACKENDS, EDGE, LAKES, Warehouse, rule, warehouse_on

CORPUS = [
    rule("row_count", "rows", min=1),
    rule("row_count", "rows_scoped", min=5, _={"where": "status = 'NEW'"}),
    rule("not_null", "name_nn", column="name"),
    rule("not_null", "quoted_nn", column="Mixed Case"),
    rule("null_rate", "score_nulls", column="score"),
    rule("unique", "status_unique", column="status"),
    rule("unique", "pair_unique", columns=["select", "Mixed Case"]),
    rule("duplicate_rows", "dup_rows", columns=["select", "Mixed Case"]),
    rule("accepted_values", "status_values", column="status", values=["NEW", "OLD"]),
    rule("accepted_values", "unicode_values", column="prénom", values=["Zoë", "Ann", "Bob"]),
    rule("between", "amount_range", column="amount", min=0, max=5),
    rule("between", "score_open", column="score", min=0, min_exclusive=True),
    rule("string_length", "name_len", column="name", min=1, max=3),
    rule("count", "name_count", column="name", min=1),
    rule("count_distinct", "status_distinct", column="status", max=2),
    rule("aggregate", "amount_mean", column="amount", stat="mean", max=2),
    rule("aggregate", "score_sum", column="score", stat="sum", min=0),
    rule("aggregate", "score_max", column="score", stat="max", max=100),
    rule("schema", "shape", columns={"id": "int", "name": "string"}),
    rule("regex", "name_letters", column="name", pattern="[A-Za-z]+"),
    rule("regex", "status_contains", column="status", pattern="EW", full_match=False),
    rule("freshness", "ts_fresh", column="ts", max_age="1h"),
    rule("freshness", "tstz_fresh", column="tstz", max_age="1d"),
    rule("freshness", "ts_in_paris", column="ts", max_age="1d", timezone="Europe/Paris"),
    rule("freshness", "day_fresh", column="day", max_age="2d", _={"where": "status = 'NEW'"}),
    rule("between", "day_range", column="day", min="2024-03-02"),
    rule("between", "ts_range", column="ts", min="2024-03-01T10:30:00", max="2024-03-02T12:00:00"),
    rule("between", "tstz_range", column="tstz", max="2024-03-02T11:00:00+00:00", max_exclusive=True),
    rule("unique", "prenom_nfc_lower", column="prénom", normalize=["nfc", "lower"]),
    rule("unique", "name_trim_lower", column="name", normalize=["trim", "lower"]),
]
# SQLite has no STDDEV_SAMP and no PERCENTILE_CONT: an ERROR for that rule alone (docs/checks.md).
DIALECT_GAPS = [rule("aggregate", "score_sd", column="score", stat="stddev", max=100)]


def _run(warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch, execution: str, table: str = EDGE) -> dict:
    monkeypatch.setenv("DQ_EXECUTION", execution)
    return {r.rule_name: r for r in warehouse.run(CORPUS + DIALECT_GAPS, table=table).results}


def _same(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


# Spark runs every failing rule's sample and metrics as Spark jobs, seconds each on two shared cores: the
# all-NULL table (every rule failing) adds minutes, so Spark runs the edge and empty tables (docs/checks.md).
# py4j leaves its gateway sockets to the garbage collector: a ResourceWarning nobody can act on.
PY4J_SOCKETS = pytest.mark.filterwarnings("ignore:Exception ignored in. <socket.socket:pytest.PytestUnraisableExceptionWarning")
SLOW = [pytest.mark.timeout(1800), PY4J_SOCKETS]
PAIRS = [pytest.param(b, t, marks=SLOW if b == "spark" else ()) for b in [*BACKENDS, *LAKES]
         for t in (EDGE, "empty", "all_null") if (b, t) != ("spark", "all_null")]


@pytest.mark.parametrize(("backend", "table"), PAIRS)
def test_both_executors_agree(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, backend: str,
                              table: str) -> None:
    warehouse = warehouse_on(request, monkeypatch, backend)
    local = _run(warehouse, monkeypatch, "local", table)
    pushed = _run(warehouse, monkeypatch, "pushdown", table)
    for name, expected in local.items():
        got = pushed[name]
        if name == "score_sd" and warehouse.backend == "sqlite":
            assert got.status.value == "ERROR" and "execution: local" in got.message
            continue
        assert (got.status, got.failing_rows, got.rows_tested) == (
            expected.status, expected.failing_rows, expected.rows_tested), (name, got.message, expected.message)
        assert _same(got.observed_value, expected.observed_value), (name, got.message, expected.message)
        assert got.metrics.get("duplicated_values") == expected.metrics.get("duplicated_values"), name
        assert got.message == expected.message, name


@pytest.mark.timeout(1800)
@PY4J_SOCKETS
def test_failing_rule_has_a_sample_from_the_source(any_warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DQ_EXECUTION", "pushdown")
    result = any_warehouse.result(rule("accepted_values", "status_values", column="status", values=["NEW"]))
    assert result.status.value == "FAILED" and result.failing_rows == 2
    assert sorted(r["status"] for r in result.sample) == ["", "OLD"]
    duplicated = any_warehouse.result(rule("unique", "pair_unique", columns=["select", "Mixed Case"]))
    assert sorted((r["select"], r["Mixed Case"]) for r in duplicated.sample) == [(1, "a"), (1, "a"), (2, "b"), (2, "b"), (2, "b")]


def test_every_check_type_has_a_sql_form_or_says_why_not() -> None:
    missing = [c.name for c in CHECKS.values() if c.sql is None and not (c.local_only or "").strip()]
    assert not missing, f"check types with neither a SQL form nor local_only: {missing}"


# Functions these dialects lack (docs/checks.md): such a rule runs in the local executor of the same run.
GENERATED_GAPS = {"redshift": ["prenom_nfc_lower"], "snowflake": ["prenom_nfc_lower"], "spark": ["prenom_nfc_lower"]}


@pytest.mark.parametrize("dialect", ["trino", "redshift", "bigquery", "snowflake", "duckdb", "spark"])
def test_every_sql_form_renders_for_the_generated_only_dialects(dialect: str) -> None:
    import polars as pl
    from sqlglot import exp

    from engine.plan import ReadKey, RulePlan
    from engine.pushdown.executor import outputs, sql_form, statement

    schema = pl.Schema({"name": pl.String, "status": pl.String, "amount": pl.Decimal(10, 2), "score": pl.Float64,
                        "select": pl.Int64, "Mixed Case": pl.String, "prénom": pl.String, "id": pl.Int64,
                        "ts": pl.Datetime("us"), "tstz": pl.Datetime("us", "UTC"), "day": pl.Date})
    relation = exp.table_("Edge Cases", db="silver", quoted=True)
    gaps = []
    for index, r in enumerate(CORPUS + DIALECT_GAPS):
        try:
            form_ctx, form = sql_form(RulePlan(r, CHECKS[r.check], ReadKey()), relation, schema, dialect)
        except LocalOnlyHere:
            gaps.append(r.name)
            continue
        if form.catalog:
            continue
        text = statement(relation, outputs(index, form_ctx, form)).sql(dialect=dialect)
        assert "Edge Cases" in text and "SELECT" in text, (r.name, text)
    assert gaps == GENERATED_GAPS.get(dialect, []), "a new dialect gap: document it in docs/checks.md"


@pytest.mark.timeout(1800)
@PY4J_SOCKETS
def test_mariadb_collation_is_the_documented_difference(any_warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/checks.md: MariaDB's default collation is case-insensitive in IN; local compares exactly."""
    listed = rule("accepted_values", "names", column="prénom", values=["ann", "Zoë", "Bob", "Ken", "Xi"])
    monkeypatch.setenv("DQ_EXECUTION", "local")
    assert any_warehouse.result(listed).failing_rows == 2
    monkeypatch.setenv("DQ_EXECUTION", "pushdown")
    assert any_warehouse.result(listed).failing_rows == (0 if any_warehouse.backend == "mariadb" else 2)
