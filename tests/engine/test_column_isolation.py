"""A column the driver cannot read errors only the rules that need it; the others run from one read.

Read-time failures (a value the driver cannot deliver) are in test_reader_types.py on all three
databases; here the type itself defeats connectorx, which PostgreSQL (interval) and MariaDB
(geometry) have and SQLite cannot have (every SQLite column is read as one of its storage classes).
"""

from __future__ import annotations

import pytest

from engine import reader as reader_module
from engine.reader import ReadSpec
from engine.results import Verdict
from tests.engine.conftest import Database

P, E = Verdict.PASSED, Verdict.ERROR
UNSUPPORTED = {"postgresql": ("interval", "'1 day'"), "mariadb": ("geometry", "POINT(1, 2)")}


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[ReadSpec]:
    """Every ReadSpec the engine reads through connectorx (the real reader, counted)."""
    seen: list[ReadSpec] = []
    original = reader_module.ConnectorxReader.read

    def counted(self: reader_module.ConnectorxReader, spec: ReadSpec) -> reader_module.TableRead:
        seen.append(spec)
        return original(self, spec)

    monkeypatch.setattr(reader_module.ConnectorxReader, "read", counted)
    return seen


SERVERS = pytest.mark.parametrize("database", ["postgresql", "mariadb"], indirect=True)


@SERVERS
def test_a_type_the_driver_lacks_errors_only_its_rules(database: Database, reads: list[ReadSpec]) -> None:
    kind, value = UNSUPPORTED[database.backend]
    database.execute(f"CREATE TABLE odd (shape {kind}, id INTEGER PRIMARY KEY, label VARCHAR(10))",
                     f"INSERT INTO odd VALUES ({value}, 1, 'a')", f"INSERT INTO odd VALUES ({value}, 2, NULL)")

    results = database.results("""
        - {name: rows, check: row_count, min: 2, max: 2, severity: HIGH}
        - {name: ids, check: unique, column: id, severity: HIGH}
        - {name: labels, check: not_null, column: label, severity: HIGH}
        - {name: shapes, check: not_null, column: shape, severity: HIGH}
        - {name: shaped, check: row_condition, expression: "shape IS NOT NULL OR id > 0", severity: HIGH}
        - {name: layout, check: schema, columns: {id: int, label: "varchar(10)", shape: any}, severity: HIGH}
    """, "odd")

    assert {n: r.status for n, r in results.items()} == {
        "rows": P, "ids": P, "labels": Verdict.FAILED, "shapes": E, "shaped": E, "layout": P}
    for name in ("shapes", "shaped"):
        assert f"column 'shape' cannot be read: the driver cannot read its type {kind}" in results[name].message
        assert "Hint: read it through a view that casts it" in results[name].message
    assert [set(spec.columns) for spec in reads] == [{"id", "label"}]  # one read, without the column


@SERVERS
def test_a_suite_of_only_row_count_reads_rows_when_every_column_is_unreadable(database: Database) -> None:
    kind, value = UNSUPPORTED[database.backend]
    database.execute(f"CREATE TABLE only_odd (shape {kind})", f"INSERT INTO only_odd VALUES ({value})")

    result = database.run("- {name: rows, check: row_count, min: 1, severity: HIGH}", "only_odd").results[0]

    assert (result.status, result.observed_value) == (P, 1.0), result.message
