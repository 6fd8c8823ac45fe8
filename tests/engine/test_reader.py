"""Readers: identifier quoting, window literals, Parquet layouts, partitioned reads, a read-only role."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
import sqlalchemy as sa

from engine.errors import SchemaMismatch, SourceUnavailable
from engine.evaluate import evaluate_suite
from engine.model import Layer, Source, Suite
from engine.reader import (
    ConnectorxReader,
    ReadSpec,
    TableRef,
    lower_bound,
    quote,
    reader_for,
    sql_literal,
)
from engine.results import Verdict
from engine.sources import Location
from tests.conftest import connectorx_url
from tests.engine.conftest import EDGE, NOW, Warehouse, edge_frame, rule, write_parquet
from tests.engine.test_checks import AGGREGATE_CASES, ROW_CASES

QUOTE_CASES = [
    ("sqlite", "Order Items", '"Order Items"'), ("postgresql", "Order Items", '"Order Items"'),
    ("mysql", "Order Items", "`Order Items`"), ("postgresql", "select", '"select"'),
    ("postgresql", 'we"ird', '"we""ird"'), ("mysql", "we`ird", "`we``ird`"), ("postgresql", "lower", '"lower"'),
]


@pytest.mark.parametrize(("dialect", "name", "quoted"), QUOTE_CASES)
def test_identifiers_are_always_quoted_by_the_dialect(dialect: str, name: str, quoted: str) -> None:
    assert quote(dialect, name) == quoted


LITERAL_CASES = [
    (42, "postgresql", "42"), (1.5, "mysql", "1.5"), (Decimal("2.50"), "postgresql", "2.50"),
    (date(2024, 3, 1), "mysql", "'2024-03-01'"),
    (datetime(2024, 3, 1, 10, tzinfo=UTC), "postgresql", "'2024-03-01 10:00:00+00:00'"),
    (datetime(2024, 3, 1, 12, tzinfo=UTC).astimezone(), "mysql", "'2024-03-01 12:00:00'"),
    ("it's", "sqlite", "'it''s'"), ("a\\'b", "mysql", "'a\\\\''b'"),
]


@pytest.mark.parametrize(("value", "dialect", "literal"), LITERAL_CASES)
def test_window_bounds_render_as_literals(value: object, dialect: str, literal: str) -> None:
    assert sql_literal(value, dialect) == literal


BOUND_CASES = [
    ("2024-03-03", timedelta(days=1), "2024-03-02"),
    ("2024-03-03 08:00:00.000000", timedelta(hours=1), "2024-03-03 07:00:00"),
    (datetime(2024, 3, 3, 8), timedelta(days=2), datetime(2024, 3, 1, 8)),
    (17, None, 17),
]


@pytest.mark.parametrize(("newest", "lookback", "bound"), BOUND_CASES)
def test_window_lower_bound(newest: object, lookback: timedelta | None, bound: object) -> None:
    assert lower_bound(newest, lookback) == bound


def test_a_lookback_on_a_number_is_refused() -> None:
    with pytest.raises(SchemaMismatch, match="partition lookback needs a date or timestamp"):
        lower_bound(17, timedelta(days=1))


def test_select_sql_quotes_every_name_and_samples_randomly() -> None:
    reader = ConnectorxReader(Location("wh", "mysql", "mysql://r@127.0.0.1/db"), partitions=1)
    spec = ReadSpec(TableRef("Sales Db", "Order Items"), ("id", "select"), sample_size=100)

    assert reader.select_sql(spec) == "SELECT `id`, `select` FROM `Sales Db`.`Order Items` ORDER BY RAND() LIMIT 100"


def test_sqlite_schema_is_refused_with_a_hint(warehouse: Warehouse) -> None:
    if warehouse.backend != "sqlite":
        return
    reader = reader_for(Location("wh", "sqlite", warehouse.url))
    with pytest.raises(SchemaMismatch, match="SQLite has no schema 'main'"):
        reader.probe(TableRef("main", EDGE))


def test_a_missing_sqlite_file_is_not_created(tmp_path: Path) -> None:
    reader = reader_for(Location("wh", "sqlite", f"sqlite://{tmp_path}/absent.db"))
    with pytest.raises(SourceUnavailable, match="does not exist"):
        reader.probe(TableRef(None, "t"))
    assert not (tmp_path / "absent.db").exists()


@pytest.mark.parametrize("backend", ["postgresql", "mariadb"])
def test_partitioned_read_gives_the_same_verdicts(backend: str, request: pytest.FixtureRequest,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    url = connectorx_url(request.getfixturevalue("pg_warehouse" if backend == "postgresql" else "mariadb_warehouse"))
    monkeypatch.setenv("DQ_TEST_WH_URL", url)
    warehouse = Warehouse(backend, url)
    rules = [rule("not_null", "a", column="name"), rule("unique", "b", column="id"),
             rule("aggregate", "c", column="amount", stat="sum", min=16, max=17)]
    single = warehouse.run(rules)
    monkeypatch.setenv("DQ_READ_PARTITIONS", "3")
    monkeypatch.setenv("DQ_PARTITION_MIN_ROWS", "0")
    reader = reader_for(Location("wh", "postgresql" if backend == "postgresql" else "mysql", url))
    assert reader._partition_key(ReadSpec(TableRef(None, EDGE), ("id", "name"))) == "id"
    parallel = warehouse.run(rules)

    assert [(r.status, r.failing_rows, r.observed_value) for r in parallel.results] == [
        (r.status, r.failing_rows, r.observed_value) for r in single.results]
    assert parallel.rows_read == 7


# ----------------------------------------------------------------------------------------- Parquet


@pytest.fixture(params=["file", "folder"])
def lake(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The edge rows as `<base>/silver/Edge Cases.parquet` or a folder of two files."""
    base = tmp_path / "lake"
    write_parquet(base, "silver", EDGE, edge_frame(), folder=request.param == "folder")
    write_parquet(base, "silver", "ref", pl.DataFrame({"id": [1, 2], "label": ["one", "two"]}))
    monkeypatch.setenv("DQ_SOURCE_LAKE_URL", str(base))
    return base


def _lake_result(check: str, params: dict, **options):
    if "ref_table" in params:
        params["ref_table"] = "silver.ref"
    suite = Suite(name="edge", source="lake", table=EDGE, schema="silver", layer=Layer.SILVER, data_classes=(),
                  pii_columns=(), rules=(rule(check, **params),))
    return evaluate_suite(suite, {"lake": Source("lake", kind="parquet")}, now=options.get("now", NOW)).results[0]


@pytest.mark.parametrize(("check", "params", "verdict", "failing", "tested"),
                         [c[1:] for c in ROW_CASES], ids=[c[0] for c in ROW_CASES])
def test_parquet_row_checks_agree_with_the_databases(lake: Path, check: str, params: dict, verdict: Verdict,
                                                     failing: int, tested: int) -> None:
    result = _lake_result(check, dict(params))

    assert (result.status, result.failing_rows, result.rows_tested) == (verdict, failing, tested), result.message


@pytest.mark.parametrize(("check", "params", "verdict", "observed"),
                         [c[1:] for c in AGGREGATE_CASES if "timezone" not in c[2]],
                         ids=[c[0] for c in AGGREGATE_CASES if "timezone" not in c[2]])
def test_parquet_aggregates_agree_with_the_databases(lake: Path, check: str, params: dict, verdict: Verdict,
                                                     observed: float) -> None:
    result = _lake_result(check, dict(params))

    assert result.status is verdict, result.message
    assert result.observed_value == pytest.approx(observed)


def test_parquet_partition_window(lake: Path) -> None:
    result = _lake_result("row_count", {"min": 1, "_": {"partition_column": "ts", "partition_lookback": "1d"}})

    assert result.observed_value == 4


def test_a_missing_parquet_table_lists_the_paths_tried(lake: Path) -> None:
    suite = Suite(name="x", source="lake", table="nope", schema="silver", layer=Layer.SILVER, data_classes=(),
                  pii_columns=(), rules=(rule("row_count", min=1),))
    result = evaluate_suite(suite, {"lake": Source("lake", kind="parquet")}).results[0]

    assert result.status is Verdict.ERROR
    assert "silver/nope.parquet" in result.message and "silver/nope/**/*.parquet" in result.message


NAN_CASES = [
    ("not_null: NaN is a value", "not_null", {"column": "score"}, Verdict.FAILED, 1),
    ("between: NaN is in no range", "between", {"column": "score", "min": 0}, Verdict.FAILED, 3),
    ("between max only: NaN still fails", "between", {"column": "score", "max": 100}, Verdict.FAILED, 2),
    ("accepted_values: NaN must be listed", "accepted_values", {"column": "score", "values": [1.5]}, Verdict.FAILED, 3),
    ("unique: NaN equals NaN", "unique", {"column": "score"}, Verdict.FAILED, 2),
]


@pytest.fixture(params=["parquet", "postgresql"])
def nan_source(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Source:
    """score = 1.5, NaN, NULL, -2.0, NaN on Parquet and on PostgreSQL (MySQL and SQLite cannot store NaN)."""
    frame = pl.DataFrame({"id": [1, 2, 3, 4, 5], "score": [1.5, float("nan"), None, -2.0, float("nan")]})
    if request.param == "parquet":
        write_parquet(tmp_path / "lake", "silver", "nan", frame)
        monkeypatch.setenv("DQ_SOURCE_NANS_URL", str(tmp_path / "lake"))
        return Source("nans", kind="parquet")
    url = request.getfixturevalue("pg_url")
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE SCHEMA silver")
        conn.exec_driver_sql("CREATE TABLE silver.nan (id integer primary key, score double precision)")
        conn.exec_driver_sql("INSERT INTO silver.nan VALUES (1, 1.5), (2, 'NaN'), (3, NULL), (4, -2.0), (5, 'NaN')")
    engine.dispose()
    monkeypatch.setenv("DQ_SOURCE_NANS_URL", connectorx_url(url))
    return Source("nans")


@pytest.mark.parametrize(("check", "params", "verdict", "failing"), [c[1:] for c in NAN_CASES], ids=[c[0] for c in NAN_CASES])
def test_nan_is_not_null(nan_source: Source, check: str, params: dict, verdict: Verdict, failing: int) -> None:
    suite = Suite(name="n", source="nans", table="nan", schema="silver", layer=Layer.SILVER, data_classes=(),
                  pii_columns=(), rules=(rule(check, **params),))
    result = evaluate_suite(suite, {"nans": nan_source}).results[0]

    assert (result.status, result.failing_rows) == (verdict, failing), result.message


def test_aggregates_ignore_nan(nan_source: Source) -> None:
    suite = Suite(name="n", source="nans", table="nan", schema="silver", layer=Layer.SILVER, data_classes=(),
                  pii_columns=(), rules=(rule("aggregate", column="score", stat="mean", min=-1, max=0),))
    result = evaluate_suite(suite, {"nans": nan_source}).results[0]

    assert (result.status, result.observed_value) == (Verdict.PASSED, -0.25)


# ------------------------------------------------------------------------------ read-only role


def test_a_read_only_role_lets_the_engine_read_and_refuses_writes(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    role = f"dq_reader_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    database = sa.engine.make_url(pg_url).database
    with admin.connect() as conn:
        conn.exec_driver_sql("CREATE TABLE orders (id integer primary key, amount numeric(10,2))")
        conn.exec_driver_sql("INSERT INTO orders VALUES (1, 9.99)")
        conn.exec_driver_sql("CREATE TABLE scratch AS SELECT * FROM orders")
        # What docs/checks.md tells users to do: read-only by default, SELECT only, a statement timeout.
        conn.exec_driver_sql(f"CREATE ROLE {role} LOGIN")
        conn.exec_driver_sql(f"ALTER ROLE {role} SET default_transaction_read_only = on")
        conn.exec_driver_sql(f"ALTER ROLE {role} SET statement_timeout = '5min'")
        conn.exec_driver_sql(f"GRANT SELECT ON orders TO {role}")
    url = connectorx_url(str(sa.engine.make_url(pg_url).set(username=role).render_as_string(hide_password=False)))
    monkeypatch.setenv("DQ_SOURCE_WH_URL", url)
    try:
        reader = reader_for(Location("wh", "postgresql", url))
        with pytest.raises(SourceUnavailable, match="cannot execute .* in a read-only transaction"):
            reader.query(DELETE_THROUGH_A_SELECT.format(table="orders"))
        # The control: connectorx itself enforces nothing, the same statement as the owner deletes.
        owner = reader_for(Location("wh", "postgresql", connectorx_url(pg_url)))
        deleted = owner.query(DELETE_THROUGH_A_SELECT.format(table="scratch"))
        suite = Suite(name="o", source="wh", table="orders", schema=None, layer=Layer.SILVER, data_classes=(),
                      pii_columns=(), rules=(rule("not_null", column="amount"),))
        report = evaluate_suite(suite, {"wh": Source("wh")})
        with admin.connect() as conn:
            remaining = conn.exec_driver_sql("SELECT count(*) FROM orders").scalar()
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"REVOKE ALL ON orders FROM {role}")
            conn.exec_driver_sql(f"DROP ROLE {role}")
        admin.dispose()

    assert report.results[0].status is Verdict.PASSED, report.results[0].message
    assert remaining == 1
    assert deleted.to_series().to_list() == [1]
    assert database


DELETE_THROUGH_A_SELECT = "WITH gone AS (DELETE FROM {table} RETURNING id) SELECT id FROM gone"


def test_parallel_degree_of_the_rules_sets_the_reads_partitions(pg_warehouse: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The runbook's `parallel_degree: 4`: the read uses the largest degree its rules ask for, with no
    global setting and whatever the table's size; the verdicts are the single read's."""
    url = connectorx_url(pg_warehouse)
    monkeypatch.setenv("DQ_TEST_WH_URL", url)
    warehouse = Warehouse("postgresql", url)
    plain = [rule("not_null", "a", column="name"), rule("unique", "b", column="id")]
    tuned = [rule("not_null", "a", column="name", _={"parallel_degree": 2}),
             rule("unique", "b", column="id", _={"parallel_degree": 4})]
    reader = reader_for(Location("wh", "postgresql", url))
    spec = ReadSpec(TableRef(None, EDGE), ("id", "name"), partitions=4)
    assert reader._partition_key(ReadSpec(TableRef(None, EDGE), ("id", "name"))) is None  # default: one read
    assert reader._partition_key(spec) == "id"
    single = warehouse.run(plain)
    asked: list[object] = []
    real_read = ConnectorxReader._read

    def recording(self, sql, **options):  # the real read, noting how many queries (connections) it was given
        asked.append(len(sql) if isinstance(sql, list) else 1)
        return real_read(self, sql, **options)

    monkeypatch.setattr(ConnectorxReader, "_read", recording)
    parallel = warehouse.run(tuned)
    assert 4 in asked  # four ranges of the NOT NULL primary key: no IS NULL part
    assert [(r.status, r.failing_rows) for r in parallel.results] == [(r.status, r.failing_rows) for r in single.results]
    assert parallel.rows_read == 7
