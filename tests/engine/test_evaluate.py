"""evaluate_suite end to end: errors stay with their rule, dead sources, samples, windows, one read per spec."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from engine import reader as reader_module
from engine.errors import EngineError
from engine.evaluate import evaluate_suite
from engine.model import Layer, Source, Suite
from engine.results import Verdict
from tests.engine.conftest import EDGE, Warehouse, create_tables, rule

P, F, E, S = Verdict.PASSED, Verdict.FAILED, Verdict.ERROR, Verdict.SKIPPED


def _suite(*rules, table: str = EDGE, source: str = "wh") -> Suite:
    return Suite(name="s", source=source, table=table, schema=None, layer=Layer.SILVER, data_classes=(),
                 pii_columns=(), rules=tuple(rules))


def test_a_bad_rule_errors_alone_and_the_others_still_run(warehouse: Warehouse) -> None:
    rules = [
        rule("not_null", "good", column="name"),
        rule("not_null", "missing_column", column="gone"),
        rule("regex", "regex_on_a_number", column="id", pattern="x"),
        rule("regex", "bad_pattern", column="name", pattern="[unclosed"),
        rule("row_condition", "bad_sql", expression="name = = 'x'"),
        rule("not_null", "bad_where", column="name", _={"where": "nope > 1"}),
        rule("no_such_check", "unknown_check"),
        rule("row_condition", "fails_only_on_data", expression="CAST(name AS INTEGER) > 0"),
        rule("row_count", "also_good", min=1),
    ]
    report = warehouse.run(rules)
    status = {r.rule_name: r.status for r in report.results}

    assert status == {"good": F, "missing_column": E, "regex_on_a_number": E, "bad_pattern": E, "bad_sql": E,
                      "bad_where": E, "unknown_check": E, "fails_only_on_data": E, "also_good": P}
    assert report.results[0].failing_rows == 1
    assert all("Hint:" in r.message for r in report.results if r.status is E)
    assert "'gone' does not exist" in report.results[1].message


def test_a_dead_source_errors_every_rule_without_the_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DQ_SOURCE_DEAD_URL", "postgresql://dq:s3cr3t-pw@127.0.0.1:1/warehouse")
    report = evaluate_suite(_suite(rule("not_null", "a", column="x"), rule("row_count", "b", min=1), source="dead"),
                            {"dead": Source("dead")})

    assert [r.status for r in report.results] == [E, E]
    assert report.error and "unreachable" in report.error and "Hint:" in report.error
    assert all("s3cr3t-pw" not in r.message and "dq:***@" in r.message for r in report.results)


def test_an_unconfigured_source_names_the_variable_to_set() -> None:
    report = evaluate_suite(_suite(rule("row_count", min=1), source="sales"), {"sales": Source("sales")})

    assert report.results[0].status is E
    assert "DQ_SOURCE_SALES_URL" in report.results[0].message


def test_a_missing_table_errors_every_rule(warehouse: Warehouse) -> None:
    report = warehouse.run([rule("row_count", "a", min=1), rule("not_null", "b", column="id")], table="no_such_table")

    assert [r.status for r in report.results] == [E, E]
    assert "no_such_table" in report.results[0].message


def test_a_column_that_disappeared_errors_only_its_rule(warehouse: Warehouse) -> None:
    url = warehouse.url if warehouse.backend == "sqlite" else _sqlalchemy(warehouse)
    engine = sa.create_engine(url)
    table = f"shrinking_{uuid.uuid4().hex[:6]}"
    metadata = sa.MetaData()
    sa.Table(table, metadata, sa.Column("id", sa.Integer, primary_key=True), sa.Column("note", sa.String(10)))
    metadata.create_all(engine)
    rules = [rule("not_null", "note_present", column="note"), rule("not_null", "id_present", column="id")]
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(f"INSERT INTO {table} (id, note) VALUES (1, 'a')"))
        before = warehouse.run(rules, table=table)
        with engine.begin() as conn:
            conn.execute(sa.text(f"ALTER TABLE {table} DROP COLUMN note"))
        after = warehouse.run(rules, table=table)
    finally:
        metadata.drop_all(engine)
        engine.dispose()

    assert [r.status for r in before.results] == [P, P]
    assert [r.status for r in after.results] == [E, P]
    assert "'note' does not exist" in after.results[0].message


def _sqlalchemy(warehouse: Warehouse) -> str:
    driver = {"postgresql": "postgresql+psycopg", "mariadb": "mysql+pymysql"}[warehouse.backend]
    return driver + warehouse.url[warehouse.url.index("://"):]


def test_failing_rows_are_a_capped_json_safe_sample_with_pii_masked(warehouse: Warehouse) -> None:
    rules = [rule("between", "range", column="amount", min=0, max=2), rule("not_null", "names", column="name")]
    result = warehouse.run(rules, pii=["name"], sample_rows=2).results[0]

    assert result.failing_rows == 4
    assert len(result.sample) == 2
    first = result.sample[0]
    assert list(first) == ["amount", "name"]  # the rule's column first, then the rest of the read
    assert first["name"] == "***"
    assert json.loads(json.dumps(list(result.sample))) == list(result.sample)


def test_pii_masking_keeps_null_visible(warehouse: Warehouse) -> None:
    result = warehouse.result(rule("not_null", column="name"), pii=["name"])

    assert [row["name"] for row in result.sample] == [None]


def test_sample_rows_zero_keeps_no_sample(warehouse: Warehouse) -> None:
    assert warehouse.result(rule("not_null", column="name"), sample_rows=0).sample == ()


def test_default_sample_size_comes_from_settings(warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DQ_FAILING_ROWS_SAMPLE", "1")

    assert len(warehouse.result(rule("regex", column="name", pattern="[a-z]+")).sample) == 1


WINDOW_CASES = [
    ("newest timestamp only", "ts", None, 1),
    ("timestamps within a day of the newest", "ts", "1d", 4),
    ("newest date only", "day", None, 2),
    ("dates within a day of the newest", "day", "1d", 5),
    ("newest integer key only", "id", None, 1),
    ("timestamptz within a day of the newest", "tstz", "1d", 4),
    ("timestamptz within 90 minutes", "tstz", "90m", 1),
]


@pytest.mark.parametrize(("column", "lookback", "rows"), [c[1:] for c in WINDOW_CASES], ids=[c[0] for c in WINDOW_CASES])
def test_partition_window_restricts_the_read(warehouse: Warehouse, column: str, lookback: str | None, rows: int) -> None:
    result = warehouse.result(rule("row_count", min=0, _={"partition_column": column, "partition_lookback": lookback}))

    assert (result.status, result.observed_value) == (P, rows)


def test_partition_window_on_an_empty_table_reads_nothing(warehouse: Warehouse) -> None:
    result = warehouse.result(rule("row_count", min=1, _={"partition_column": "ts"}), table="empty")

    assert (result.status, result.observed_value) == (F, 0)


def test_sampling_reads_a_random_sample_of_the_requested_size(warehouse: Warehouse) -> None:
    report = warehouse.run([rule("not_null", "sampled", column="id", _={"use_sampling": True, "sample_size": 3}),
                            rule("not_null", "full", column="id")])

    assert [r.rows_tested for r in report.results] == [3, 7]
    assert report.rows_read == 10  # two read specs: the sample and the full table


def test_disabled_rules_are_skipped_and_rule_names_select(warehouse: Warehouse) -> None:
    rules = [rule("not_null", "on", column="id"), rule("not_null", "off", column="id", _={"enabled": False}),
             rule("row_count", "other", min=1)]
    report = warehouse.run(rules, rule_names=["on", "off"])

    assert [(r.rule_name, r.status) for r in report.results] == [("on", P), ("off", S)]
    with pytest.raises(EngineError, match=r"rule\(s\) nope are not in suite 'edge'"):
        warehouse.run(rules, rule_names=["nope"])


def test_referential_integrity_across_sources(warehouse: Warehouse, tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    other = tmp_path / "other.db"
    create_tables(f"sqlite:///{other}", "sqlite")
    monkeypatch.setenv("DQ_SOURCE_OTHER_URL", f"sqlite:///{other}")
    sources = {"wh": warehouse.source, "other": Source("other")}
    ok = rule("referential", "ok", column="id", ref_source="other", ref_table=EDGE, ref_column="id")
    missing = rule("referential", "ref_missing", column="select", ref_source="other", ref_table="ref",
                   ref_column="nope")
    report = warehouse.run([ok, missing], sources=sources)

    assert [r.status for r in report.results] == [P, E]
    assert "'nope' does not exist in ref" in report.results[1].message


class CountingReader:
    """A real reader that counts its scans (the engine must read a table once per read spec)."""

    scans: list = []

    def __init__(self, location) -> None:
        self.inner = reader_module.SqliteReader(location)
        self.location = location

    def probe(self, table):
        return self.inner.probe(table)

    def describe(self, table):
        return self.inner.describe(table)

    def read(self, spec):
        CountingReader.scans.append(spec)
        return self.inner.read(spec)




@pytest.fixture
def counting(monkeypatch: pytest.MonkeyPatch) -> type[CountingReader]:
    CountingReader.scans = []
    monkeypatch.setitem(reader_module.READERS, "sqlite", CountingReader)
    return CountingReader


def test_one_read_per_read_spec(counting: type[CountingReader], tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "wh.db"
    create_tables(f"sqlite:///{path}", "sqlite")
    monkeypatch.setenv("DQ_SOURCE_WH_URL", f"sqlite:///{path}")
    rules = [rule("not_null", "a", column="name"), rule("unique", "b", column="select"),
             rule("between", "c", column="amount", min=0), rule("row_count", "d", min=1),
             rule("row_condition", "e", expression="score > 0", _={"where": "status = 'NEW'"}),
             rule("schema", "f", columns={"id": "int"}),
             rule("not_null", "g", column="id", _={"use_sampling": True, "sample_size": 2})]
    report = evaluate_suite(_suite(*rules), {"wh": Source("wh")}, now=datetime(2024, 3, 3, tzinfo=UTC))

    assert report.status is F
    assert [set(spec.columns) for spec in counting.scans] == [
        {"name", "select", "amount", "score", "status"}, {"id"}]


def test_an_undeclared_reference_source_errors_only_its_rule(warehouse: Warehouse) -> None:
    rules = [rule("referential", "ref", column="id", ref_source="lake", ref_table="t", ref_column="id"),
             rule("row_count", "count", min=1)]
    report = warehouse.run(rules)

    assert [r.status for r in report.results] == [E, P]
    assert "source 'lake' is not declared" in report.results[0].message


def test_the_demo_source_reads_the_demo_warehouse(isolated_env) -> None:
    isolated_env.mkdir(parents=True, exist_ok=True)
    create_tables(f"sqlite:///{isolated_env / 'demo_warehouse.db'}", "sqlite")
    report = evaluate_suite(_suite(rule("row_count", min=7, max=7), source="demo"), {"demo": Source("demo", demo=True)})

    assert report.results[0].status is P


def test_a_schema_qualified_table(warehouse: Warehouse) -> None:
    schema = {"postgresql": "public", "mariadb": warehouse.url.rsplit("/", 1)[-1]}.get(warehouse.backend)
    if schema is None:
        return  # SQLite has no schemas (test_reader checks the refusal)
    report = warehouse.run([rule("row_count", min=7, max=7), rule("unique", "key", column="id")], schema=schema)

    assert [r.status for r in report.results] == [P, P]
