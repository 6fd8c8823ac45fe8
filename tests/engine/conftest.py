"""A small warehouse of edge-case tables, built once per test session on SQLite, PostgreSQL and MariaDB.

The same rows go into every database through SQLAlchemy, so a case table can assert the same
verdict everywhere (decimals, time zones and MySQL booleans are delivered differently).
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import sqlalchemy as sa
import yaml

from engine.evaluate import evaluate_suite
from engine.model import Layer, Level, Rule, Severity, Source, Suite
from engine.results import RuleResult, SuiteReport
from tests.conftest import MARIADB_ADMIN_URL, PG_ADMIN_URL, _fresh_database, connectorx_url

EDGE = "Edge Cases"  # a space and mixed case: every read exercises identifier quoting
NOW = datetime(2024, 3, 3, 10, 0, tzinfo=UTC)  # newest ts is 2024-03-03 08:00 UTC: 2 hours old

COLUMNS: list[tuple[str, Any]] = [
    ("name", sa.String(50)), ("status", sa.String(20)), ("amount", sa.Numeric(10, 2)),
    ("score", sa.Float), ("ts", sa.DateTime), ("tstz", sa.DateTime(timezone=True)),
    ("flag", sa.Boolean), ("select", sa.Integer), ("Mixed Case", sa.String(20)), ("day", sa.Date),
    ("prénom", sa.String(20)),
]


def _ts(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2024, 3, day, hour, minute)


# id, name, status, amount, score, ts, tstz (UTC), flag, "select", "Mixed Case", day, "prénom"
EDGE_ROWS: list[tuple] = [
    (1, "Zoë", "NEW", Decimal("1.25"), 1.25, _ts(1, 10), _ts(1, 10), True, 1, "a", date(2024, 3, 1), "Zoë"),
    (2, "", "OLD", Decimal("2.50"), 2.5, _ts(1, 11), _ts(1, 11), False, 1, "a", date(2024, 3, 1), "Ann"),
    (3, None, "", None, None, None, None, None, 2, "b", date(2024, 3, 2), None),
    (4, "東京", "NEW", Decimal("10.00"), 10.0, _ts(2, 9), _ts(2, 9), True, 2, "b", date(2024, 3, 2), "Ken"),
    (5, "x", None, Decimal("-1.00"), -1.0, _ts(2, 11, 30), _ts(2, 11, 30), True, 2, "b", date(2024, 3, 2), "Xi"),
    (6, "Bob", "NEW", Decimal("0.10"), 0.1, _ts(2, 12), _ts(2, 12), False, None, None, date(2024, 3, 3), "Bob"),
    (7, "ann", "NEW", Decimal("3.33"), 3.33, _ts(3, 8), _ts(3, 8), True, None, None, date(2024, 3, 3), "Ann"),
]
ALL_NULL_ROWS = [(i, *([None] * len(COLUMNS))) for i in (1, 2, 3)]
REF_ROWS = [(1, "one"), (2, "two")]
BACKENDS = ["sqlite", "postgresql", "mariadb"]


def edge_table(metadata: sa.MetaData, name: str) -> sa.Table:
    return sa.Table(name, metadata, sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
                    *(sa.Column(column, kind) for column, kind in COLUMNS))


def create_tables(url: str, dialect: str) -> None:
    engine = sa.create_engine(url)
    metadata = sa.MetaData()
    tables = {name: edge_table(metadata, name) for name in (EDGE, "empty", "all_null")}
    ref = sa.Table("ref", metadata, sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
                   sa.Column("label", sa.String(10)))
    metadata.create_all(engine)
    names = ["id", *(c for c, _ in COLUMNS)]
    with engine.begin() as conn:
        conn.execute(tables[EDGE].insert(), [dict(zip(names, _for(dialect, row), strict=True)) for row in EDGE_ROWS])
        conn.execute(tables["all_null"].insert(), [dict(zip(names, row, strict=True)) for row in ALL_NULL_ROWS])
        conn.execute(ref.insert(), [{"id": i, "label": label} for i, label in REF_ROWS])
    engine.dispose()


def _for(dialect: str, row: tuple) -> tuple:
    """PostgreSQL gets aware UTC for timestamptz; the others store naive UTC (they have no zone type)."""
    values = list(row)
    if dialect == "postgresql" and values[6] is not None:
        values[6] = values[6].replace(tzinfo=UTC)
    return tuple(values)


@dataclass(frozen=True)
class Warehouse:
    backend: str
    url: str  # connectorx form, or a Parquet base for the lakes
    kind: str = "sql"

    @property
    def source(self) -> Source:
        pushdown = self.backend if self.kind == "parquet" else "duckdb"
        return Source(name="wh", url_env="DQ_TEST_WH_URL", kind=self.kind, pushdown=pushdown)

    def run(self, rules: Sequence[Rule], *, table: str = EDGE, pii: Sequence[str] = (), schema: str | None = None,
            sources: Mapping[str, Source] | None = None, **options: Any) -> SuiteReport:
        suite = Suite(name="edge", source="wh", table=table, schema=schema, layer=Layer.SILVER,
                      data_classes=(), pii_columns=tuple(pii), rules=tuple(rules))
        return evaluate_suite(suite, sources or {"wh": self.source}, now=options.pop("now", NOW), **options)

    def result(self, rule: Rule, **options: Any) -> RuleResult:
        return self.run([rule], **options).results[0]


@pytest.fixture(scope="session")
def sqlite_warehouse(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("warehouse") / "warehouse.db"
    create_tables(f"sqlite:///{path}", "sqlite")
    return f"sqlite:///{path}"


@pytest.fixture(scope="session")
def pg_warehouse() -> Iterator[str]:
    for url in _fresh_database(PG_ADMIN_URL, "PostgreSQL"):
        create_tables(url, "postgresql")
        yield url


@pytest.fixture(scope="session")
def mariadb_warehouse() -> Iterator[str]:
    for url in _fresh_database(MARIADB_ADMIN_URL, "MariaDB"):
        create_tables(url, "mariadb")
        yield url


@pytest.fixture(params=BACKENDS)
def warehouse(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Warehouse:
    """The edge-case warehouse on each database in turn; DQ_TEST_WH_URL points the source at it."""
    return _database_warehouse(request, monkeypatch, request.param)


LAKES = ["duckdb", "spark"]  # Parquet sources whose pushdown runs in DuckDB or Spark


@pytest.fixture(scope="session")
def parquet_lake(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The edge, empty and all-NULL tables as Parquet files (the types PostgreSQL delivers)."""
    base = tmp_path_factory.mktemp("lake")
    edge = edge_frame()
    edge.write_parquet(base / f"{EDGE}.parquet")
    edge.clear().write_parquet(base / "empty.parquet")
    pl.DataFrame(ALL_NULL_ROWS, schema=edge.schema, orient="row").write_parquet(base / "all_null.parquet")
    return str(base)


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    """ONE local SparkSession for the whole test session (a JVM start costs seconds): 4 shuffle partitions, no UI."""
    from engine.pushdown.backends.spark import spark_session

    session = spark_session("local[2]")
    yield session
    session.stop()


@pytest.fixture(params=BACKENDS + LAKES)
def any_warehouse(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Warehouse:
    """The edge-case warehouse on each database, then as a Parquet lake pushed down to DuckDB and to Spark."""
    return warehouse_on(request, monkeypatch, request.param)


def warehouse_on(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, backend: str) -> Warehouse:
    """The edge-case warehouse on one backend; DQ_TEST_WH_URL points the source `wh` at it."""
    if backend not in LAKES:
        return _database_warehouse(request, monkeypatch, backend)
    if backend == "spark":
        request.getfixturevalue("spark")
    base = request.getfixturevalue("parquet_lake")
    monkeypatch.setenv("DQ_TEST_WH_URL", base)
    return Warehouse(backend, base, kind="parquet")


def _database_warehouse(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, backend: str) -> Warehouse:
    url = request.getfixturevalue(f"{'pg' if backend == 'postgresql' else backend}_warehouse")
    url = connectorx_url(url) if backend != "sqlite" else url
    monkeypatch.setenv("DQ_TEST_WH_URL", url)
    return Warehouse(backend, url)


def rule(check: str, name: str = "r", **params: Any) -> Rule:
    """A rule built directly (the manifest parser is not needed here); options go through `_`."""
    options = params.pop("_", {})
    return Rule(name=name, suite="edge", check=check, params=params, severity=Severity.HIGH, **options)


def edge_frame() -> pl.DataFrame:
    """The edge rows as a Polars frame (for Parquet sources), with the types PostgreSQL delivers."""
    names = ["id", *(c for c, _ in COLUMNS)]
    frame = pl.DataFrame([dict(zip(names, _for("postgresql", r), strict=True)) for r in EDGE_ROWS],
                         infer_schema_length=None)
    return frame.with_columns(pl.col("amount").cast(pl.Decimal(10, 2)))


def write_parquet(base: Path, schema: str, table: str, frame: pl.DataFrame, *, folder: bool = False) -> None:
    target = base / schema
    if folder:
        (target / table).mkdir(parents=True, exist_ok=True)
        half = frame.height // 2
        frame.slice(0, half).write_parquet(target / table / "part-0.parquet")
        frame.slice(half).write_parquet(target / table / "part-1.parquet")
    else:
        target.mkdir(parents=True, exist_ok=True)
        frame.write_parquet(target / f"{table}.parquet")




# ------------------------------------------------------------ fresh databases and rules from YAML


def rules_from_yaml(text: str) -> list[Rule]:
    """Rules through the manifest parser (the front door), from an inline YAML list of rules."""
    from engine.manifest import suite_from_definitions

    definitions = yaml.safe_load(textwrap.dedent(text))
    suite = suite_from_definitions({"suite": "t", "source": "db", "table": "t", "layer": "silver"}, definitions)
    return list(suite.rules)


@dataclass
class Database:
    """A fresh, empty database on one backend; `run` evaluates YAML rules against one of its tables."""

    backend: str
    url: str  # SQLAlchemy
    cx_url: str  # connectorx

    def execute(self, *statements: str, rows: Mapping[str, Sequence[Mapping[str, Any]]] | None = None) -> None:
        """Run DDL written for this backend, then insert `rows` (table -> list of dicts) through SQLAlchemy."""
        engine = sa.create_engine(self.url)
        with engine.begin() as conn:
            for statement in statements:
                conn.exec_driver_sql(statement)
            for table, values in (rows or {}).items():
                if values:
                    reflected = sa.Table(table, sa.MetaData(), autoload_with=conn)
                    conn.execute(reflected.insert(), list(values))
        engine.dispose()

    def run(self, rules_yaml: str, table: str, *, now: datetime = NOW,
            sources: Mapping[str, Source] | None = None) -> SuiteReport:
        suite = Suite(name="t", source="db", table=table, schema=None, layer=Layer.SILVER, data_classes=(),
                      pii_columns=(), rules=tuple(rules_from_yaml(rules_yaml)))
        return evaluate_suite(suite, sources or {"db": Source(name="db", url_env="DQ_TEST_DB_URL")}, now=now)

    def results(self, rules_yaml: str, table: str, **options: Any) -> dict[str, RuleResult]:
        return {r.rule_name: r for r in self.run(rules_yaml, table, **options).results}


@pytest.fixture(params=BACKENDS)
def database(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Database]:
    """A fresh database on SQLite, PostgreSQL and MariaDB in turn; DQ_TEST_DB_URL points source `db` at it."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'db.sqlite'}"
        (tmp_path / "db.sqlite").touch()
        monkeypatch.setenv("DQ_TEST_DB_URL", url)
        yield Database("sqlite", url, url)
        return
    admin = PG_ADMIN_URL if request.param == "postgresql" else MARIADB_ADMIN_URL
    for url in _fresh_database(admin, "PostgreSQL" if request.param == "postgresql" else "MariaDB"):
        monkeypatch.setenv("DQ_TEST_DB_URL", connectorx_url(url))
        yield Database(request.param, url, connectorx_url(url))


__all__ = ["EDGE", "LAKES", "NOW", "Database", "Level", "Warehouse", "warehouse_on", "edge_frame", "rule", "rules_from_yaml", "write_parquet"]
