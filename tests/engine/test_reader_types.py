"""Columns are read by their declared type: the three read failures of issue 11, on every database.

SQLite keeps a storage class per value, so a NUMERIC(18,4) column holds INTEGER 10 and REAL 0.1,
and a TIMESTAMPTZ column holds ISO text with offsets; connectorx typed such a column from its
first row and the read failed. The same rows on PostgreSQL and MariaDB must give the same verdicts.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from engine.results import Verdict
from tests.engine.conftest import Database

P, F, E = Verdict.PASSED, Verdict.FAILED, Verdict.ERROR
NUMERIC = {"sqlite": "NUMERIC(18,4)", "postgresql": "numeric(18,4)", "mariadb": "decimal(18,4)"}
# MariaDB has no type that keeps an offset: the same instants are loaded as naive UTC (docs/checks.md).
INSTANT = {"sqlite": "TIMESTAMPTZ", "postgresql": "timestamptz", "mariadb": "datetime"}


def test_a_numeric_column_holding_integers_and_reals_is_read(database: Database) -> None:
    database.execute(f"CREATE TABLE amounts (id INTEGER PRIMARY KEY, amount {NUMERIC[database.backend]})",
                     "INSERT INTO amounts VALUES (1, '10.0000'), (2, '0.1000'), (3, NULL)")

    results = database.results("""
        - {name: in_range, check: between, column: amount, min: 0, max: 10, severity: HIGH}
        - {name: total, check: aggregate, column: amount, stat: sum, min: 10.1, max: 10.1, severity: HIGH}
        - {name: present, check: not_null, column: amount, severity: HIGH}
    """, "amounts")

    assert (results["in_range"].status, results["in_range"].failing_rows) == (P, 0), results["in_range"].message
    assert (results["total"].status, results["total"].observed_value) == (P, pytest.approx(10.1))
    assert (results["present"].status, results["present"].failing_rows) == (F, 1)


def test_a_timestamptz_column_with_offsets_is_read_as_instants(database: Database) -> None:
    if database.backend == "mariadb":
        values = "(1, '2024-03-03 08:00:00'), (2, '2024-03-03 07:00:00')"
    else:  # 09:00+02:00 is 07:00 UTC: the newest instant is the first row's
        values = "(1, '2024-03-03 08:00:00+00:00'), (2, '2024-03-03T09:00:00+02:00')"
    database.execute(f"CREATE TABLE events (id INTEGER PRIMARY KEY, happened_at {INSTANT[database.backend]})",
                     f"INSERT INTO events VALUES {values}")

    results = database.results("""
        - {name: fresh, check: freshness, column: happened_at, max_age: 3h, severity: HIGH}
        - {name: early, check: between, column: happened_at, max: "2024-03-03 07:30:00", severity: HIGH}
    """, "events", now=datetime(2024, 3, 3, 10, 0, tzinfo=UTC))

    assert (results["fresh"].status, results["fresh"].observed_value) == (P, 7200.0), results["fresh"].message
    assert (results["early"].status, results["early"].failing_rows) == (F, 1), results["early"].message


def test_a_partition_window_over_offsets_compares_instants(database: Database) -> None:
    if database.backend == "mariadb":
        values = ["'2024-03-03 08:00:00'", "'2024-03-03 07:30:00'", "'2024-03-03 06:00:00'"]
    else:  # as text, '...T09:30:00+02:00' sorts last, but 08:00Z is the newest instant
        values = ["'2024-03-03 08:00:00+00:00'", "'2024-03-03T09:30:00+02:00'", "'2024-03-03 06:00:00Z'"]
    database.execute(f"CREATE TABLE loads (id INTEGER PRIMARY KEY, loaded_at {INSTANT[database.backend]})",
                     *(f"INSERT INTO loads VALUES ({i}, {v})" for i, v in enumerate(values)))

    results = database.results("""
        - {name: last_hour, check: row_count, min: 1, partition_column: loaded_at, partition_lookback: 1h, severity: HIGH}
        - {name: newest, check: row_count, min: 1, partition_column: loaded_at, severity: HIGH}
    """, "loads")

    assert results["last_hour"].observed_value == 2, results["last_hour"].message
    assert results["newest"].observed_value == 1, results["newest"].message


# A column whose values this backend's driver cannot deliver, per backend: SQLite text in a NUMERIC
# column, PostgreSQL numeric NaN, MariaDB a decimal(65,30) beyond connectorx's decimal128.
BAD_COLUMN = {
    "sqlite": ("NUMERIC(18,4)", "'abc'"),
    "postgresql": ("numeric", "'NaN'"),
    "mariadb": ("decimal(65,30)", "12345678901234567890123456789012345.5"),
}


def _bad_table(database: Database, name: str, *, bad_first: bool = False) -> None:
    kind, bad = BAD_COLUMN[database.backend]
    columns = [f"amount {kind}", "label VARCHAR(10)"]
    database.execute(
        f"CREATE TABLE {name} ({', '.join(columns if bad_first else ['id INTEGER PRIMARY KEY', *columns])})",
        *(f"INSERT INTO {name} VALUES ({'' if bad_first else f'{i}, '}{value}, 'x')"
          for i, value in enumerate(["10.5", bad, "0.25"], start=1)))


def test_one_unreadable_column_errors_only_its_rules(database: Database) -> None:
    _bad_table(database, "mixed")

    results = database.results("""
        - {name: rows, check: row_count, min: 3, max: 3, severity: HIGH}
        - {name: labelled, check: not_null, column: label, severity: HIGH}
        - {name: positive, check: between, column: amount, min: 0, severity: HIGH}
        - {name: amount_sum, check: aggregate, column: amount, stat: sum, min: 0, severity: HIGH}
    """, "mixed")

    assert (results["rows"].status, results["rows"].observed_value) == (P, 3.0), results["rows"].message
    assert (results["labelled"].status, results["labelled"].rows_tested) == (P, 3)
    for name in ("positive", "amount_sum"):
        assert results[name].status is E
        assert "column 'amount' cannot be read" in results[name].message
        assert "Hint:" in results[name].message
    if database.backend == "sqlite":
        assert "1 of 3 rows hold values that cannot be read as decimal(18,4) (e.g. 'abc')" in results["positive"].message


def test_row_count_passes_when_the_first_column_is_unreadable(database: Database) -> None:
    _bad_table(database, "first_bad", bad_first=True)

    result = database.run("- {name: rows, check: row_count, min: 3, severity: HIGH}", "first_bad").results[0]

    assert (result.status, result.observed_value) == (P, 3.0), result.message


SQLITE_TRAPS = [
    ("text in an INTEGER column", "INTEGER", ["1", "'two'", "3"], "between", "min: 0", 1, "an integer (e.g. 'two')"),
    ("a real in an INTEGER column", "INTEGER", ["1", "2.5", "3"], "between", "min: 0", 1, "an integer (e.g. '2.5')"),
    ("words in a TIMESTAMP column", "TIMESTAMP", ["'2024-03-03 08:00:00'", "'yesterday'", "''"], "freshness",
     "max_age: 1d", 2, "a timestamp (ISO 8601 text) (e.g. 'yesterday', '')"),
    ("a unix time in a TIMESTAMPTZ column", "TIMESTAMPTZ", ["'2024-03-03 08:00:00Z'", "1709452800"], "freshness",
     "max_age: 1d", 1, "a timestamp with time zone (ISO 8601 text) (e.g. '1709452800')"),
    ("a month name in a DATE column", "DATE", ["'2024-03-01'", "'March 2nd'"], "freshness", "max_age: 5d", 1,
     "a date (YYYY-MM-DD) (e.g. 'March 2nd')"),
    ("text in a BOOLEAN column", "BOOLEAN", ["1", "0", "'yes'"], "not_null", "", 1,
     "a boolean (an integer, non-zero is true) (e.g. 'yes')"),
    ("text in a REAL column", "REAL", ["1.5", "'NaN'", "'Infinity'"], "between", "min: 0", 2,
     "a number (e.g. 'NaN', 'Infinity')"),
    ("beyond the declared precision", "DECIMAL(5,2)", ["1.5", "123456.5"], "between", "min: 0", 1,
     "decimal(5,2) (e.g. '123456.5')"),
]


@pytest.mark.parametrize(("declared", "values", "check", "params", "bad", "expected"),
                         [c[1:] for c in SQLITE_TRAPS], ids=[c[0] for c in SQLITE_TRAPS])
def test_sqlite_values_of_the_wrong_type_are_counted_and_named(tmp_path, monkeypatch: pytest.MonkeyPatch,
                                                                declared: str, values: list[str], check: str,
                                                                params: str, bad: int, expected: str) -> None:
    database = _sqlite(tmp_path, monkeypatch)
    database.execute(f"CREATE TABLE t (v {declared}, other TEXT)",
                     *(f"INSERT INTO t VALUES ({v}, 'x')" for v in values))

    results = database.results(f"""
        - {{name: bad, check: {check}, column: v, {params + ', ' if params else ''}severity: HIGH}}
        - {{name: fine, check: not_null, column: other, severity: HIGH}}
    """, "t")

    assert results["bad"].status is E
    assert f"column 'v' cannot be read: {bad} of {len(values)} rows hold values that cannot be read as {expected}" \
        in results["bad"].message
    assert results["fine"].status is P


def test_sqlite_text_timestamps_with_offsets_become_utc(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    database = _sqlite(tmp_path, monkeypatch)
    database.execute("CREATE TABLE t (naive TIMESTAMP, aware TIMESTAMP WITH TIME ZONE)",
                     "INSERT INTO t VALUES ('2024-03-03T09:30:00+02:00', '2024-03-03 07:30:00')",
                     "INSERT INTO t VALUES ('2024-03-03 07:00:00.250', '2024-03-03T09:00:00.5-01:00')")
    from engine.reader import ReadSpec, TableRef, reader_for
    from engine.sources import Location

    frame = reader_for(Location("db", "sqlite", database.cx_url)).read(ReadSpec(TableRef(None, "t"), ("naive", "aware")))

    rows = frame.frame.collect().rows()
    assert rows == [(datetime(2024, 3, 3, 7, 30), datetime(2024, 3, 3, 7, 30, tzinfo=UTC)),
                    (datetime(2024, 3, 3, 7, 0, 0, 250000), datetime(2024, 3, 3, 10, 0, 0, 500000, tzinfo=UTC))]


def _sqlite(tmp_path, monkeypatch: pytest.MonkeyPatch) -> Database:
    url = f"sqlite:///{tmp_path / 'traps.sqlite'}"
    (tmp_path / "traps.sqlite").touch()
    monkeypatch.setenv("DQ_TEST_DB_URL", url)
    return Database("sqlite", url, url)


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_postgresql_infinity_is_a_value_not_a_crash(database: Database) -> None:
    """'infinity' arrives as year 262142, beyond Python's datetime: the engine keeps it in Polars."""
    database.execute("CREATE TABLE versions (id INTEGER PRIMARY KEY, valid_from date, valid_to timestamptz, n numeric)",
                     "INSERT INTO versions VALUES (1, '-infinity', 'infinity', 1), (2, '2024-01-01', '2024-03-03 08:00Z', 'Infinity')")

    results = database.results("""
        - {name: fresh, check: freshness, column: valid_to, max_age: 1d, severity: HIGH}
        - {name: bounded, check: between, column: valid_to, max: '2030-01-01', severity: HIGH}
        - {name: started, check: between, column: valid_from, min: '2000-01-01', severity: HIGH}
        - {name: amounts, check: between, column: n, min: 0, severity: HIGH}
        - {name: rows, check: row_count, min: 2, severity: HIGH}
    """, "versions")

    assert (results["fresh"].status, results["fresh"].observed_text) == (P, "infinity")
    assert results["fresh"].message.endswith("newest value is infinity.")
    assert (results["bounded"].status, results["bounded"].failing_rows) == (F, 1)
    assert results["bounded"].sample[0]["valid_to"].startswith("+262142-12-31")  # shown as text, not lost
    assert (results["started"].status, results["started"].failing_rows) == (F, 1)
    # connectorx names the value ('Infinity'); ADBC's numeric arrives as text the decimal cast refuses.
    assert results["amounts"].status is E and "column 'n' cannot be read" in results["amounts"].message
    assert results["rows"].status is P


def test_sqlite_tables_made_by_create_table_as_select_are_read_by_what_they_store(tmp_path,
                                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """CREATE TABLE AS declares NUMERIC(10,2) as NUM and expressions (SUM, COUNT, n * 1.5) with no type."""
    database = _sqlite(tmp_path, monkeypatch)
    database.execute("CREATE TABLE orders (amount NUMERIC(10,2), n INTEGER, region TEXT)",
                     "INSERT INTO orders VALUES (1.5, 2, 'north'), (2, 3, 'north'), (NULL, 4, 'south')",
                     "CREATE TABLE totals AS SELECT region, SUM(amount) AS total, COUNT(*) AS orders, "
                     "MAX(n) * 1.5 AS peak, MIN(amount) AS smallest, NULL AS missing FROM orders GROUP BY region")

    results = database.results("""
        - {name: total, check: aggregate, column: total, stat: sum, min: 3.5, max: 3.5, severity: HIGH}
        - {name: orders, check: aggregate, column: orders, stat: sum, min: 3, max: 3, severity: HIGH}
        - {name: peak, check: between, column: peak, max: 6, severity: HIGH}
        - {name: smallest, check: aggregate, column: smallest, stat: min, min: 1.5, severity: HIGH}
        - {name: regions, check: count_distinct, column: region, min: 2, max: 2, severity: HIGH}
        - {name: missing, check: not_null, column: missing, severity: HIGH}
        - {name: types, check: schema, columns: {total: float, orders: int, peak: float, region: string}, severity: HIGH}
    """, "totals")

    assert {n: r.status for n, r in results.items()} == {
        "total": P, "orders": P, "peak": P, "smallest": P, "regions": P, "missing": F, "types": P}, \
        {n: r.message for n, r in results.items()}
