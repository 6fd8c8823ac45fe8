"""Parallel reads split on any integer, date or timestamp column (the suite's `partition_column:` or an
indexed NOT NULL one from the catalog), on PostgreSQL and MariaDB: a NULL or a duplicate in the
partition column never loses or doubles a row."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
import sqlalchemy as sa
from polars.testing import assert_frame_equal

from engine import reader as reader_module
from engine.evaluate import evaluate_suite
from engine.manifest import load_catalog
from engine.reader import ConnectorxReader, ReadSpec, TableRef, reader_for, split_points
from engine.results import SuiteReport, Verdict
from engine.sources import Location
from tests.conftest import connectorx_url

ROWS = 1_000
BASE = datetime(2024, 1, 1)


def _rows() -> list[dict]:
    """ids repeat three times and every 7th is NULL; `at` is NOT NULL, indexed, and repeats twice."""
    return [{"id": None if i % 7 == 0 else i // 3, "at": BASE + timedelta(minutes=i // 2),
             "tstz": (BASE + timedelta(hours=i)).replace(tzinfo=UTC), "label": f"r{i}", "amount": i % 50}
            for i in range(ROWS)]


@pytest.fixture(params=["postgresql", "mariadb"])
def events(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Location]:
    """A table with no primary key: the runbooks' warehouse tables, which connectorx could not split."""
    url = request.getfixturevalue("pg_url" if request.param == "postgresql" else "mariadb_url")
    stamp = "timestamptz" if request.param == "postgresql" else "timestamp"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE TABLE events (id bigint, at {'timestamp' if request.param == 'postgresql' else 'datetime'} "
                             f"NOT NULL, tstz {stamp} NULL, label varchar(20), amount integer)")
        conn.exec_driver_sql("CREATE INDEX events_at ON events (at)")
        conn.execute(sa.Table("events", sa.MetaData(), autoload_with=conn).insert(), _rows())
    engine.dispose()
    monkeypatch.setenv("DQ_SOURCE_WH_URL", connectorx_url(url))
    monkeypatch.setenv("DQ_READ_PARTITIONS", "4")
    monkeypatch.setenv("DQ_PARTITION_MIN_ROWS", "0")
    yield Location("wh", "postgresql" if request.param == "postgresql" else "mysql", connectorx_url(url))


def _queries(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many queries each read of rows was split into (the real read, counted)."""
    counts: list[int] = []
    real = ConnectorxReader._read

    def counting(self, sql, **options):
        if isinstance(sql, list):
            counts.append(len(sql))
        return real(self, sql, **options)

    monkeypatch.setattr(ConnectorxReader, "_read", counting)
    return counts


SUITE = """\
suite: events
source: wh
table: events
layer: silver
{extra}
rules:
  - {{name: id_unique, check: unique, column: id, severity: HIGH}}
  - {{name: id_present, check: not_null, column: id, severity: HIGH}}
  - {{name: rows, check: row_count, min: 1, severity: HIGH}}
  - {{name: amount_sum, check: aggregate, column: amount, stat: sum, min: 0, severity: HIGH}}
"""


def _run(tmp_path: Path, extra: str = "") -> SuiteReport:
    rules = tmp_path / "rules"
    rules.mkdir(exist_ok=True)
    (rules / "sources.yaml").write_text("sources:\n  wh: {kind: sql}\n")
    (rules / "events.yaml").write_text(SUITE.format(extra=extra))
    catalog = load_catalog([rules], default_sources=rules / "sources.yaml")
    return evaluate_suite(catalog.suites[0], catalog.sources)


def _figures(report: SuiteReport) -> list[tuple]:
    return [(r.rule_name, r.status, r.failing_rows, r.rows_tested, r.observed_value, r.metrics) for r in report.results]


def test_the_catalog_picks_an_indexed_not_null_timestamp_when_there_is_no_key(
        events: Location, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    reader = reader_for(events)
    assert reader._partition_key(ReadSpec(TableRef(None, "events"), ("id", "amount"))) == "at"  # type: ignore[attr-defined]
    monkeypatch.setenv("DQ_READ_PARTITIONS", "1")
    single = _run(tmp_path)
    monkeypatch.setenv("DQ_READ_PARTITIONS", "4")
    counts = _queries(monkeypatch)

    parallel = _run(tmp_path)

    assert counts == [4]  # four ranges of `at`; NOT NULL in the catalog: no IS NULL part
    assert _figures(parallel) == _figures(single)
    assert parallel.rows_read == ROWS


@pytest.mark.parametrize("column", ["id", "tstz", "at"])
def test_a_declared_column_with_nulls_and_duplicates_loses_and_doubles_no_row(
        events: Location, column: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DQ_READ_PARTITIONS", "1")
    single = _run(tmp_path)
    monkeypatch.setenv("DQ_READ_PARTITIONS", "4")
    counts = _queries(monkeypatch)

    parallel = _run(tmp_path, f"partition_column: {column}")

    assert counts == [4 if column == "at" else 5]  # a nullable column gets its IS NULL part
    assert _figures(parallel) == _figures(single)
    assert parallel.rows_read == ROWS
    by_name = {r.rule_name: r for r in parallel.results}
    assert by_name["id_present"].failing_rows == len([r for r in _rows() if r["id"] is None])


def test_the_partitioned_frame_is_the_single_reads_frame(events: Location) -> None:
    spec = ReadSpec(TableRef(None, "events"), ("id", "label", "amount"), partitions=4, partition_column="id")
    parallel = reader_for(events).read(spec).frame.collect()
    single = reader_for(events).read(ReadSpec(spec.table, spec.columns, partitions=1)).frame.collect()

    assert parallel.height == single.height == ROWS
    assert_frame_equal(parallel.sort("label"), single.sort("label"))
    assert parallel.columns == ["id", "label", "amount"]


def test_a_partition_column_of_another_type_errors_every_rule_of_the_read_with_a_hint(
        events: Location, tmp_path: Path) -> None:
    report = _run(tmp_path, "partition_column: label")

    assert {r.status for r in report.results} == {Verdict.ERROR}
    message = report.results[0].message
    assert "partition_column 'label' of events cannot split a parallel read" in message
    assert "Hint: name an integer, date or timestamp column" in message


def test_a_table_whose_column_is_all_null_is_read_whole(events: Location) -> None:
    engine = sa.create_engine(events.url.replace("postgresql://", "postgresql+psycopg://").replace("mysql://", "mysql+pymysql://"))
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE events SET id = NULL")
    engine.dispose()
    before = reader_module.SCANS["wh"]
    spec = ReadSpec(TableRef(None, "events"), ("id",), partitions=4, partition_column="id")

    assert reader_for(events).read(spec).frame.collect().height == ROWS
    assert reader_module.SCANS["wh"] - before == 1


@pytest.mark.parametrize(("low", "high", "count", "points"), [
    (0, 100, 4, [25, 50, 75]),
    (1, 3, 4, [2]),  # a short range: a bound at the low end or repeated is dropped
    (5, 5, 4, []),  # one value: one range
    (None, None, 4, []),  # no rows, or only NULLs
    (-(2**63), 2**63 - 1, 2, [-1]),
    (date(2024, 1, 1), date(2024, 1, 5), 2, [date(2024, 1, 3)]),
    (datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 2, tzinfo=UTC), 2, [datetime(2024, 1, 1, 12, tzinfo=UTC)]),
])
def test_split_points(low: object, high: object, count: int, points: list) -> None:
    assert split_points(low, high, count) == points


def test_every_row_falls_in_exactly_one_range() -> None:
    values = pl.Series([1, 1, 2, 5, 5, 5, 9, 10, 10, None])
    bounds = split_points(1, 10, 4)
    ranges = [values < bounds[0], *[(values >= a) & (values < b) for a, b in zip(bounds, bounds[1:], strict=False)],
              values >= bounds[-1], values.is_null()]
    hits = sum(r.fill_null(False).cast(pl.Int32) for r in ranges)

    assert hits.to_list() == [1] * len(values)
