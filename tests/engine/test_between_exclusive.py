"""between with exclusive bounds: `min_exclusive` / `max_exclusive` leave the bound itself out."""

from __future__ import annotations

from datetime import date

import pytest

from engine.errors import ManifestError
from engine.results import Verdict
from tests.engine.conftest import Database, rules_from_yaml

P, F = Verdict.PASSED, Verdict.FAILED


@pytest.fixture
def readings(database: Database) -> Database:
    database.execute("CREATE TABLE readings (id INTEGER PRIMARY KEY, v DECIMAL(6,2), day DATE)",
                     rows={"readings": [{"id": 1, "v": 0, "day": date(2024, 3, 1)}, {"id": 2, "v": 5, "day": date(2024, 3, 2)},
                                        {"id": 3, "v": 10, "day": date(2024, 3, 3)}, {"id": 4, "v": None, "day": None}]})
    return database


# (id, params, failing rows, sentence)
CASES = [
    ("inclusive by default", "min: 0, max: 10", 0, "v must be between 0 and 10"),
    ("exclusive minimum", "min: 0, max: 10, min_exclusive: true", 1, "v must be greater than 0 and at most 10"),
    ("exclusive maximum", "min: 0, max: 10, max_exclusive: true", 1, "v must be at least 0 and less than 10"),
    ("both exclusive", "min: 0, max: 10, min_exclusive: true, max_exclusive: true", 2,
     "v must be greater than 0 and less than 10"),
    ("exclusive minimum alone", "min: 5, min_exclusive: true", 2, "v must be greater than 5"),
    ("exclusive maximum alone, NULL passes", "max: 5, max_exclusive: true", 2, "v must be less than 5"),
]


@pytest.mark.parametrize(("params", "failing", "sentence"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_exclusive_bounds(readings: Database, params: str, failing: int, sentence: str) -> None:
    result = readings.run(f"- {{name: b, check: between, column: v, {params}, severity: HIGH}}", "readings").results[0]

    assert (result.status, result.failing_rows, result.rows_tested) == (F if failing else P, failing, 4), result.message
    assert result.message.startswith(f"{sentence}: {failing} of 4 rows failed")


def test_an_exclusive_date_bound(readings: Database) -> None:
    result = readings.run("- {name: b, check: between, column: day, max: '2024-03-03', max_exclusive: true, "
                          "severity: HIGH}", "readings").results[0]

    assert (result.status, result.failing_rows) == (F, 1)


def test_exclusive_takes_a_boolean() -> None:
    with pytest.raises(ManifestError, match=r"key 'min_exclusive': has the wrong type \('yes', expected boolean\)"):
        rules_from_yaml("- {name: b, check: between, column: v, min: 0, min_exclusive: 'yes', severity: HIGH}")


BAD_BOUNDS = [
    ("min: 5, max: 5, min_exclusive: true", "min and max are both 5 with an exclusive bound: no value can pass"),
    ("max: 5, min_exclusive: true", "min_exclusive needs `min:`"),
]


@pytest.mark.parametrize(("params", "problem"), BAD_BOUNDS, ids=[b[1] for b in BAD_BOUNDS])
def test_bounds_no_value_can_meet_are_manifest_problems(params: str, problem: str) -> None:
    with pytest.raises(ManifestError, match=problem.replace("(", r"\(")):
        rules_from_yaml(f"- {{name: b, check: between, column: v, {params}, severity: HIGH}}")
