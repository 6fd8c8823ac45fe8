"""count and count_distinct: non-NULL and distinct non-NULL values in scope, the same on every database."""

from __future__ import annotations

import pytest

from engine.errors import ManifestError
from engine.results import Verdict
from tests.engine.conftest import Database, rules_from_yaml

P, F = Verdict.PASSED, Verdict.FAILED
STATUSES = ["NEW", "OLD", "NEW", None, "", "new"]


@pytest.fixture
def orders(database: Database) -> Database:
    database.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, status VARCHAR(10))",
                     "CREATE TABLE no_orders (id INTEGER PRIMARY KEY, status VARCHAR(10))",
                     rows={"orders": [{"id": i, "status": s} for i, s in enumerate(STATUSES, start=1)]})
    return database


# (id, rule params, table, verdict, observed)
CASES = [
    ("count: NULL is not counted, '' is", "check: count, column: status, min: 5", "orders", P, 5),
    ("count below its minimum", "check: count, column: status, min: 6", "orders", F, 5),
    ("count in scope", "check: count, column: status, max: 2, where: 'id > 3'", "orders", P, 2),
    ("count of an empty table is 0", "check: count, column: status, min: 1", "no_orders", F, 0),
    ("count_distinct: case matters, '' is a value", "check: count_distinct, column: status, min: 4, max: 4",
     "orders", P, 4),
    ("count_distinct above its maximum", "check: count_distinct, column: status, max: 3", "orders", F, 4),
    ("count_distinct of an empty table is 0", "check: count_distinct, column: status, max: 0", "no_orders", P, 0),
]


@pytest.mark.parametrize(("params", "table", "verdict", "observed"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_counts(orders: Database, params: str, table: str, verdict: Verdict, observed: int) -> None:
    result = orders.run(f"- {{name: c, {params}, severity: HIGH}}", table).results[0]

    assert (result.status, result.observed_value) == (verdict, observed), result.message


def test_count_distinct_reports_the_number_of_distinct_values(orders: Database) -> None:
    result = orders.run("- {name: c, check: count_distinct, column: status, min: 1, severity: HIGH}", "orders").results[0]

    assert result.metrics == {"distinct_values": 4}
    assert result.message == "distinct status values must be at least 1: 4 distinct values."


def test_a_count_without_bounds_is_a_manifest_problem() -> None:
    with pytest.raises(ManifestError, match="count needs at least one of min, max"):
        rules_from_yaml("- {name: c, check: count, column: status, severity: HIGH}")
