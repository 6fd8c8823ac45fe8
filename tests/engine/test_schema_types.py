"""schema with precise types: decimal precision and scale, varchar/char length, timestamp vs timestamptz.

The expectation is compared with the catalog's declaration (information_schema, SQLite's declared
type, Parquet's logical type): connectorx delivers every PostgreSQL numeric as decimal(38,10).
"""

from __future__ import annotations

import pytest

from engine.errors import ManifestError
from engine.results import Verdict
from tests.engine.conftest import Database, rules_from_yaml

P, F = Verdict.PASSED, Verdict.FAILED
# MariaDB: TIMESTAMP stores an instant (converted from the session zone), DATETIME a wall-clock time.
NAIVE = {"sqlite": "TIMESTAMP", "postgresql": "timestamp", "mariadb": "datetime"}
AWARE = {"sqlite": "TIMESTAMPTZ", "postgresql": "timestamptz", "mariadb": "timestamp NULL"}


@pytest.fixture
def ledger(database: Database) -> Database:
    database.execute(f"CREATE TABLE ledger (id BIGINT PRIMARY KEY, amount DECIMAL(18,4), rate NUMERIC(10,2), "
                     f"name VARCHAR(50), code CHAR(3), body TEXT, booked {NAIVE[database.backend]}, "
                     f"settled {AWARE[database.backend]}, ratio DOUBLE PRECISION)")
    return database


# (id, expected columns, verdict, retyped columns)
CASES = [
    ("every declaration as stated",
     "{amount: 'decimal(18,4)', rate: 'numeric(10,2)', name: 'varchar(50)', code: 'char(3)', "
     "booked: timestamp, settled: timestamptz}", P, {}),
    ("portable types still match", "{id: int, amount: decimal, rate: decimal, name: string, body: string, "
     "booked: datetime, settled: datetime, ratio: float}", P, {}),
    ("a scale that changed", "{amount: 'decimal(18,2)'}", F, {"amount": "decimal(18,2)"}),
    ("a precision that changed", "{rate: 'decimal(12,2)'}", F, {"rate": "decimal(12,2)"}),
    ("a shorter varchar", "{name: 'varchar(20)'}", F, {"name": "varchar(20)"}),
    ("char is not varchar", "{code: 'varchar(3)'}", F, {"code": "varchar(3)"}),
    ("unbounded text is no varchar", "{body: 'varchar(50)'}", F, {"body": "varchar(50)"}),
    ("a wall-clock column is no timestamptz", "{booked: timestamptz}", F, {"booked": "timestamptz"}),
    ("an instant column is no naive timestamp", "{settled: timestamp}", F, {"settled": "timestamp"}),
    ("a float is no decimal", "{ratio: 'decimal(10,2)'}", F, {"ratio": "decimal(10,2)"}),
]


@pytest.mark.parametrize(("columns", "verdict", "retyped"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_precise_types(ledger: Database, columns: str, verdict: Verdict, retyped: dict) -> None:
    result = ledger.run(f"- {{name: s, check: schema, columns: {columns}, severity: HIGH}}", "ledger").results[0]

    assert result.status is verdict, result.message
    assert {c: v["expected"] for c, v in result.metrics["retyped"].items()} == retyped


def test_the_detail_names_the_declared_type(ledger: Database) -> None:
    result = ledger.run("- {name: s, check: schema, columns: {amount: 'decimal(18,2)', name: 'varchar(20)'}, "
                        "severity: HIGH}", "ledger").results[0]

    assert result.metrics["retyped"]["amount"]["actual"] in {"numeric(18,4)", "decimal(18,4)"}
    assert result.metrics["retyped"]["name"]["actual"] in {"character varying(50)", "varchar(50)"}
    assert "amount is " in result.message and "(expected decimal(18,2))" in result.message


BAD_TYPES = [("decimal(x)", "unknown type 'decimal(x)'"), ("decimal(4,6)", "scale at most the precision"),
             ("varchar", "unknown type 'varchar'"), ("timestamp(3)", "unknown type 'timestamp(3)'")]


@pytest.mark.parametrize(("kind", "problem"), BAD_TYPES, ids=[b[0] for b in BAD_TYPES])
def test_an_unknown_type_is_a_manifest_problem(kind: str, problem: str) -> None:
    with pytest.raises(ManifestError, match=r"unknown column types"):
        rules_from_yaml(f"- {{name: s, check: schema, columns: {{a: '{kind}'}}, severity: HIGH}}")

    from engine.coltypes import expected_type_error

    assert problem in (expected_type_error(kind) or "")
