"""The ADBC reader (PostgreSQL, COPY in binary) beside connectorx: the same Polars types and values, the
same verdicts, the run's statement timeout and read tag, and `reader:` chosen per source or suite."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
import sqlalchemy as sa
from polars.testing import assert_frame_equal

from engine import cancel
from engine.errors import ManifestError, ReadCancelled, SourceNotConfigured
from engine.manifest import load_catalog
from engine.reader import (
    AdbcReader,
    ConnectorxReader,
    ParquetReader,
    ReadSpec,
    TableRef,
    reader_for,
)
from engine.results import Verdict
from engine.sources import Location
from tests.conftest import connectorx_url
from tests.engine.conftest import EDGE, Warehouse, rules_from_yaml
from tests.scheduler.helpers import Lock

TYPES = """
CREATE TABLE types (
    id integer, n numeric(18,4), big numeric, tstz timestamptz, ts timestamp, d date, s text,
    v varchar(10), b boolean, i8 bigint, i4 integer, i2 smallint, f double precision, r real, j jsonb, u uuid
)"""
ROWS = """
INSERT INTO types VALUES
 (1, 12345678901234.5678, 3.14159, '2024-03-31 01:30:00+02', '2024-03-31 02:30:00', '2024-02-29', 'Zoë 東京 ✓', '',
  true, 9223372036854775807, 2147483647, 32767, 'NaN', 'Infinity', '{"a": [1, "x"]}', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'),
 (2, -0.0001, -1e-10, '1970-01-01 00:00:00+00', '1900-01-01 00:00:00.000001', '0001-01-01', '', 'x',
  false, -9223372036854775808, -2147483648, -32768, '-Infinity', '-0', '[]', '00000000-0000-0000-0000-000000000000'),
 (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
 (4, 0, 0, '2038-01-19 03:14:08+00', '9999-12-31 23:59:59', '2024-01-01', E'tab\\tnew\\nline', 'ß',
  NULL, 9223372036854775806, 0, 0, 1.7976931348623157e308, 1.5, 'null', NULL)
"""


@pytest.fixture
def types_url(pg_url: str) -> Iterator[str]:
    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:
        conn.exec_driver_sql(TYPES)
        conn.exec_driver_sql(ROWS)
    engine.dispose()
    yield connectorx_url(pg_url)


def _both(url: str, spec: ReadSpec) -> tuple[pl.DataFrame, pl.DataFrame]:
    location = Location("wh", "postgresql", url)
    return (AdbcReader(location, partitions=1).read(spec).frame.collect(),
            ConnectorxReader(location, partitions=1).read(spec).frame.collect())


def test_adbc_delivers_connectorxs_polars_types_and_values(types_url: str) -> None:
    columns = ("id", "n", "big", "tstz", "ts", "d", "s", "v", "b", "i8", "i4", "i2", "f", "r", "j", "u")
    adbc, connectorx = _both(types_url, ReadSpec(TableRef(None, "types"), columns))

    assert adbc.schema == connectorx.schema
    assert_frame_equal(adbc.sort("id").drop("j"), connectorx.sort("id").drop("j"))
    # json is text either way; connectorx re-serialises it compactly, ADBC keeps PostgreSQL's spelling.
    assert [json.loads(v) if v else v for v in adbc.sort("id")["j"]] == [
        json.loads(v) if v else v for v in connectorx.sort("id")["j"]]
    assert adbc.schema["n"] == pl.Decimal(38, 10) and adbc.schema["tstz"] == pl.Datetime("us", "UTC")
    assert adbc.filter(pl.col("id") == 1).row(0, named=True)["i8"] == 2**63 - 1
    assert adbc["f"].is_nan().sum() == 1 and adbc["f"].is_infinite().sum() == 1


def test_adbc_describes_the_table_as_connectorx_does(types_url: str) -> None:
    location = Location("wh", "postgresql", types_url)
    adbc = AdbcReader(location).describe(TableRef(None, "types"))
    connectorx = ConnectorxReader(location).describe(TableRef(None, "types"))

    assert adbc.schema == connectorx.schema
    assert adbc.declared == connectorx.declared


@pytest.mark.parametrize("rules", [
    """
    - {name: a, check: not_null, column: name, severity: HIGH}
    - {name: b, check: unique, column: select, severity: HIGH}
    - {name: c, check: between, column: amount, min: 0, max: 5, severity: HIGH}
    - {name: d, check: accepted_values, column: status, values: [NEW, OLD], severity: HIGH}
    - {name: e, check: aggregate, column: score, stat: mean, min: 0, max: 2, severity: HIGH}
    - {name: f, check: freshness, column: tstz, max_age: 1h, severity: HIGH}
    - {name: g, check: row_condition, expression: "flag = true", severity: HIGH}
    - {name: h, check: regex, column: "Mixed Case", pattern: "^[a-z]$", severity: HIGH}
    """,
])
def test_the_verdicts_are_the_same_through_either_reader(pg_warehouse: str, rules: str,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    url = connectorx_url(pg_warehouse)
    monkeypatch.setenv("DQ_TEST_WH_URL", url)
    warehouse = Warehouse("postgresql", url)
    reports = {}
    for reader in ("adbc", "connectorx"):
        monkeypatch.setenv("DQ_READER", reader)
        reports[reader] = warehouse.run(rules_from_yaml(rules), sample_rows=5)

    def shown(report):  # everything a user sees of each result but its timing
        return [(r.status, r.message, r.observed_value, r.failing_rows, r.rows_tested, r.metrics, r.sample)
                for r in report.results]

    assert shown(reports["adbc"]) == shown(reports["connectorx"])
    assert {r.status for r in reports["adbc"].results} >= {Verdict.PASSED, Verdict.FAILED}


def test_auto_takes_adbc_for_postgresql_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    postgres = Location("wh", "postgresql", "postgresql://u@h/db")
    assert type(reader_for(postgres)) is AdbcReader
    assert type(reader_for(postgres, "connectorx")) is ConnectorxReader
    assert type(reader_for(Location("m", "mysql", "mysql://u@h/db"))) is ConnectorxReader
    monkeypatch.setenv("DQ_READER", "connectorx")
    assert type(reader_for(postgres)) is ConnectorxReader
    assert type(reader_for(postgres, "auto")) is AdbcReader
    monkeypatch.setenv("DQ_READER", "adbc")  # a global default names PostgreSQL's driver: others keep theirs
    assert type(reader_for(Location("m", "mysql", "mysql://u@h/db"))) is ConnectorxReader
    assert type(reader_for(Location("l", "parquet", str(tmp_path)))) is ParquetReader


@pytest.mark.parametrize(("location", "choice", "message"), [
    (Location("m", "mysql", "mysql://u@h/db"), "adbc", "ADBC reader reads PostgreSQL only. Hint: write `reader: connectorx`"),
    (Location("l", "parquet", "/tmp"), "connectorx", "Parquet, read by Polars' lazy scan.*Hint: remove `reader:`"),
    (Location("wh", "postgresql", "postgresql://u@h/db"), "odbc", "unknown reader 'odbc' in `reader:`. Hint: use one of auto"),
])
def test_a_reader_that_cannot_read_the_source_is_refused_with_a_hint(location: Location, choice: str,
                                                                     message: str) -> None:
    with pytest.raises(SourceNotConfigured, match=message):
        reader_for(location, choice)


def test_a_bad_dq_reader_setting_names_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DQ_READER", "fast")
    with pytest.raises(SourceNotConfigured, match="unknown reader 'fast' in the DQ_READER setting. Hint:"):
        reader_for(Location("wh", "postgresql", "postgresql://u@h/db"))


def test_reader_is_read_from_the_source_and_the_suite(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "sources.yaml").write_text("sources:\n  wh: {kind: sql, reader: connectorx}\n")
    (rules / "orders.yaml").write_text("suite: s\nsource: wh\ntable: t\nlayer: silver\nreader: adbc\nrules: []\n")
    catalog = load_catalog([rules], default_sources=rules / "sources.yaml")

    assert catalog.sources["wh"].reader == "connectorx"
    assert catalog.suites[0].reader == "adbc"


@pytest.mark.parametrize(("file", "text"), [
    ("sources.yaml", "sources:\n  wh:\n    kind: sql\n    reader: odbc\n"),
    ("orders.yaml", "suite: s\nsource: wh\ntable: t\nlayer: silver\nreader: turbo\nrules: []\n"),
])
def test_an_unknown_reader_names_file_line_and_the_choices(tmp_path: Path, file: str, text: str) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "sources.yaml").write_text("sources:\n  wh: {kind: sql}\n")
    (rules / "orders.yaml").write_text("suite: s\nsource: wh\ntable: t\nlayer: silver\nrules: []\n")
    (rules / file).write_text(text)
    with pytest.raises(ManifestError) as caught:
        load_catalog([rules], default_sources=rules / "sources.yaml")

    message = str(caught.value)
    line = 4 if file == "sources.yaml" else 5
    assert f"{file}:{line}" in message and "unknown reader" in message
    assert "use one of auto, adbc, connectorx" in message


@pytest.fixture
def locked_orders(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Lock]]:
    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE orders (id INTEGER PRIMARY KEY, amount INTEGER)")
        conn.exec_driver_sql("INSERT INTO orders VALUES (1, 10), (2, 20)")
    engine.dispose()
    lock = Lock(pg_url)
    try:
        yield connectorx_url(pg_url), lock
    finally:
        lock.release()


def test_an_adbc_read_ends_in_the_source_at_the_budget(locked_orders: tuple[str, Lock]) -> None:
    url, lock = locked_orders
    reader = AdbcReader(Location("wh", "postgresql", url), partitions=1)
    started = time.monotonic()
    with cancel.budget("dq-run-21", time.monotonic() + 2, 2), pytest.raises(ReadCancelled, match="longer than 2s"):
        reader.read(ReadSpec(TableRef(None, "orders"), ("id",)))
    assert time.monotonic() - started < 4.0
    time.sleep(0.3)
    assert lock.waiting() == 0


def test_the_edge_table_reads_through_adbc_with_quoted_names(pg_warehouse: str) -> None:
    reader = AdbcReader(Location("wh", "postgresql", connectorx_url(pg_warehouse)), partitions=1)
    frame = reader.read(ReadSpec(TableRef(None, EDGE), ("id", "Mixed Case", "prénom", "select"))).frame.collect()

    assert frame.columns == ["id", "Mixed Case", "prénom", "select"] and frame.height == 7
