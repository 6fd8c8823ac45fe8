"""reconciliation: a statistic of this table against one of another table or source, within a tolerance."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from engine.errors import ManifestError
from engine.model import Source
from engine.results import Verdict
from tests.engine.conftest import Database, rules_from_yaml

P, F, E = Verdict.PASSED, Verdict.FAILED, Verdict.ERROR
FLIGHTS = [("UA", 10.5), ("UA", 20.25), ("AA", None), ("DL", 100.0), (None, 5.0)]
AIRLINES = [("UA", "United"), ("AA", "American"), ("DL", "Delta")]


@pytest.fixture
def tables(database: Database) -> Database:
    database.execute(
        "CREATE TABLE flights (id INTEGER PRIMARY KEY, carrier VARCHAR(2), fare DECIMAL(10,2))",
        "CREATE TABLE airlines (carrier VARCHAR(2) PRIMARY KEY, name VARCHAR(20))",
        "CREATE TABLE silver_flights (id INTEGER PRIMARY KEY, carrier VARCHAR(2), fare DECIMAL(10,2))",
        "CREATE TABLE no_flights (id INTEGER PRIMARY KEY, fare DECIMAL(10,2))",
        rows={"flights": [{"id": i, "carrier": c, "fare": f} for i, (c, f) in enumerate(FLIGHTS)],
              "airlines": [{"carrier": c, "name": n} for c, n in AIRLINES],
              "silver_flights": [{"id": i, "carrier": c, "fare": f} for i, (c, f) in enumerate(FLIGHTS[:4])]})
    return database


# (id, rule params, verdict, here, there)
CASES = [
    ("distinct carriers vs the rows of airlines",
     "stat: count_distinct, column: carrier, ref_table: airlines, ref_stat: count", P, 3, 3),
    ("rows of bronze vs silver, exact", "stat: count, ref_table: silver_flights", F, 5, 4),
    ("rows of bronze vs silver, absolute tolerance", "stat: count, ref_table: silver_flights, tolerance: 1", P, 5, 4),
    ("rows within 20% of silver's", "stat: count, ref_table: silver_flights, tolerance: '20%'", F, 5, 4),
    ("rows within 25% of silver's", "stat: count, ref_table: silver_flights, tolerance: '25%'", P, 5, 4),
    ("sum of a decimal, NULL ignored", "stat: sum, column: fare, ref_table: silver_flights, ref_column: fare",
     F, 135.75, 130.75),
    ("sum within 5%", "stat: sum, column: fare, ref_table: silver_flights, ref_column: fare, tolerance: '5%'",
     P, 135.75, 130.75),
    ("non-NULL values vs distinct values", "stat: count, column: carrier, ref_table: airlines, "
     "ref_column: carrier, ref_stat: count_distinct, tolerance: 1", P, 4, 3),
    ("max against max", "stat: max, column: fare, ref_table: silver_flights, ref_column: fare", P, 100, 100),
]


@pytest.mark.parametrize(("params", "verdict", "here", "there"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_both_sides_are_compared_within_the_tolerance(tables: Database, params: str, verdict: Verdict,
                                                      here: float, there: float) -> None:
    result = tables.run(f"- {{name: r, check: reconciliation, {params}, severity: HIGH}}", "flights").results[0]

    assert result.status is verdict, result.message
    assert (result.metrics["value"], result.metrics["ref_value"]) == (pytest.approx(here), pytest.approx(there))
    assert result.metrics["difference"] == pytest.approx(here - there)


def test_the_message_shows_both_sides(tables: Database) -> None:
    result = tables.run("- {name: r, check: reconciliation, stat: count, ref_table: silver_flights, "
                        "tolerance: '10%', severity: HIGH}", "flights").results[0]

    assert result.message == ("count of flights must match count of silver_flights within 10%: "
                              "5 here vs 4 in silver_flights (difference 1, allowed 0.4).")
    assert result.metrics["allowed_difference"] == pytest.approx(0.4)


def test_where_scopes_this_side_only(tables: Database) -> None:
    result = tables.run("- {name: r, check: reconciliation, stat: count, ref_table: silver_flights, "
                        "where: 'carrier IS NOT NULL', severity: HIGH}", "flights").results[0]

    assert (result.status, result.metrics["value"]) == (P, 4)


def test_a_reference_side_without_a_value_fails(tables: Database) -> None:
    result = tables.run("- {name: r, check: reconciliation, stat: sum, column: fare, ref_table: no_flights, "
                        "ref_column: fare, severity: HIGH}", "flights").results[0]

    assert result.status is F
    assert "no_flights.fare has no sum" in result.message


def test_a_missing_reference_table_errors_only_its_rule(tables: Database) -> None:
    results = tables.results("""
        - {name: r, check: reconciliation, stat: count, ref_table: gone, severity: HIGH}
        - {name: rows, check: row_count, min: 1, severity: HIGH}
    """, "flights")

    assert results["r"].status is E and "gone" in results["r"].message
    assert results["rows"].status is P


def test_the_other_side_may_be_another_source(tables: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "lake.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE carriers (code TEXT)")
        conn.executemany("INSERT INTO carriers VALUES (?)", [("UA",), ("AA",), ("DL",), ("B6",)])
    monkeypatch.setenv("DQ_SOURCE_LAKE_URL", f"sqlite:///{path}")
    sources = {"db": Source(name="db", url_env="DQ_TEST_DB_URL"), "lake": Source(name="lake")}

    result = tables.run("- {name: r, check: reconciliation, stat: count_distinct, column: carrier, ref_source: lake, "
                        "ref_table: carriers, ref_column: code, ref_stat: count_distinct, severity: HIGH}",
                        "flights", sources=sources).results[0]

    assert (result.status, result.metrics["value"], result.metrics["ref_value"]) == (F, 3, 4), result.message


MANIFEST_PROBLEMS = [
    ("a sum needs a column", "stat: sum, ref_table: t, ref_column: x", "stat: sum needs `column:`"),
    ("the other side's sum needs a column", "stat: count, ref_stat: sum, ref_table: t",
     "ref_stat: sum needs `ref_column:`"),
    ("a tolerance is a number or a percentage", "stat: count, ref_table: t, tolerance: lots",
     "write an absolute difference"),
    ("a negative tolerance", "stat: count, ref_table: t, tolerance: -1", "wrong type"),
    ("an unknown statistic", "stat: median, ref_table: t", "unknown value 'median'"),
]


@pytest.mark.parametrize(("params", "problem"), [c[1:] for c in MANIFEST_PROBLEMS], ids=[c[0] for c in MANIFEST_PROBLEMS])
def test_manifest_problems(params: str, problem: str) -> None:
    with pytest.raises(ManifestError, match=problem.replace("(", r"\(")):
        rules_from_yaml(f"- {{name: r, check: reconciliation, {params}, severity: HIGH}}")
