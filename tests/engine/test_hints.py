"""use_index / query_hint: a safe grammar (attacks first), checked against the catalog, in the SQL each dialect gets."""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import replace
from pathlib import Path

import pymysql
import pytest
import sqlalchemy as sa

import clock
from engine import hints
from engine.evaluate import evaluate_suite
from engine.manifest import ManifestError, load_catalog
from engine.model import Catalog
from engine.plan import compile_suite, table_of
from engine.pushdown import executor
from engine.pushdown.backend import table_relation
from engine.reader import TableRef, reader_for
from engine.results import Verdict
from engine.sources import resolve
from tests.conftest import connectorx_url

HEAD = "suite: s\nsource: wh\ntable: orders\nlayer: silver\n{extra}rules:\n"
RULE = "  - name: {name}\n    check: not_null\n    column: {column}\n    severity: HIGH\n{keys}"


def catalog(tmp_path: Path, rules: str, *, extra: str = "") -> Catalog:
    (tmp_path / "sources.yaml").write_text("sources:\n  wh: {kind: sql, url_env: DQ_TEST_WH}\n")
    (tmp_path / "suite.yaml").write_text(HEAD.format(extra=extra) + rules)
    return load_catalog([tmp_path / "suite.yaml"], tmp_path / "sources.yaml")


def hinted(name: str, hint: str, column: str = "created_at", use_index: str = "") -> str:
    keys = f"    parameters:\n      query_hint: {hint!r}\n" + (f"      use_index: {use_index}\n" if use_index else "")
    return RULE.format(name=name, column=column, keys=keys)


# --- attacks on the grammar first ------------------------------------------------------------

ATTACKS = [
    "*/ DROP TABLE x; /*",
    "INDEX(orders, idx); DROP TABLE orders",
    "/*+ INDEX(orders, idx) */ */ DROP TABLE orders; /*",
    "INDEX(orders, idx) */",  # a closing comment without its opening one
    "/*+ INDEX(orders, idx)",  # an opening comment left open swallows the rest of the statement
    "INDEX(orders, 'idx')",
    'INDEX(orders, "idx") ',
    "INDEX(orders, idx -- )",
    "INDEX(orders, idx) INDEX(orders, other)",
    "INDEX(orders, idx, third)",
    "SLEEP(10)",
    "INDEX(orders, `idx`)",
    "INDEX(orders, idx\x00)",
    "INDEX(orders, " + "i" * 65 + ")",
    "INDEX(orders; DROP TABLE orders, idx)",
]


@pytest.mark.parametrize("attack", ATTACKS)
def test_a_hint_outside_the_grammar_is_refused(attack: str) -> None:
    with pytest.raises(hints.HintError, match="is not an index hint this engine can pass on"):
        hints.parse(attack)


def test_an_attack_through_the_manifest_names_file_line_rule_and_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ManifestError) as caught:
        catalog(tmp_path, hinted("r", "*/ DROP TABLE x; /*"))
    problem = next(p for p in caught.value.problems if p.key == "query_hint")
    assert (problem.rule, problem.line) == ("r", 11)
    assert "USE_INDEX(orders, idx_created_at)" in str(problem)


@pytest.mark.parametrize(("text", "expected"), [
    ("INDEX(table_name, column_name)", hints.IndexHint("column_name", "table_name")),  # the runbook's forms
    ("/*+ USE_INDEX(table_name, idx_created_at) */", hints.IndexHint("idx_created_at", "table_name")),
    ("FORCE_INDEX(orders idx)", hints.IndexHint("idx", "orders", force=True)),
    ("index_scan(idx)", hints.IndexHint("idx")),
    ("INDEX(sales.orders, idx)", hints.IndexHint("idx", "sales.orders")),
])
def test_the_forms_the_grammar_takes(text: str, expected: hints.IndexHint) -> None:
    assert hints.parse(text) == expected


# --- SQLite: INDEXED BY -----------------------------------------------------------------------


@pytest.fixture
def sqlite_orders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "wh.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, created_at TEXT, amount REAL)")
        conn.executemany("INSERT INTO orders VALUES (?, ?, ?)",
                         [(i, f"2026-03-{1 + i % 28:02d}", float(i)) for i in range(1, 500)])
        conn.execute("CREATE INDEX idx_orders_created ON orders (created_at)")
        conn.execute("CREATE INDEX idx_orders_amount ON orders (amount)")
    monkeypatch.setenv("DQ_TEST_WH", f"sqlite:///{path}")
    return path


def sent_select(cat: Catalog) -> str:
    """The local reader's SELECT for the suite, built as evaluate_suite builds it."""
    suite = cat.suites[0]
    reader = reader_for(resolve(cat.sources["wh"]))
    table = reader.describe(table_of(suite))
    hint, errors = hints.for_suite(reader.query, reader.location.dialect, "wh", suite.schema, suite.table, suite.rules)
    assert not errors
    plan = replace(compile_suite(suite, suite.rules, table.schema, dialect=reader.location.dialect,
                                 now=clock.utcnow()), hint=hint)
    (spec,) = plan.reads().values()
    return reader.select_sql(spec)  # type: ignore[attr-defined]


def test_sqlite_reads_through_the_index_a_column_hint_names(tmp_path: Path, sqlite_orders: Path) -> None:
    # created_at read through the amount index: a plan SQLite would never choose by itself (below).
    cat = catalog(tmp_path, hinted("created_nn", "INDEX(orders, amount)"))

    sql = sent_select(cat)

    assert sql.endswith('FROM "orders" INDEXED BY "idx_orders_amount"')
    assert "USING INDEX idx_orders_amount" in _query_plan(sqlite_orders, sql)
    report = evaluate_suite(cat.suites[0], cat.sources)
    assert [r.status for r in report.results] == [Verdict.PASSED]


def test_without_a_hint_sqlite_chooses_another_plan(tmp_path: Path, sqlite_orders: Path) -> None:
    cat = catalog(tmp_path, RULE.format(name="created_nn", column="created_at", keys=""))
    sql = sent_select(cat)
    assert "INDEXED BY" not in sql
    assert "idx_orders_amount" not in _query_plan(sqlite_orders, sql)


def _query_plan(path: Path, sql: str) -> str:
    with sqlite3.connect(path) as conn:
        return " ".join(str(row[-1]) for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}"))


def test_sqlite_pushdown_statements_carry_the_hint(tmp_path: Path, sqlite_orders: Path) -> None:
    cat = catalog(tmp_path, hinted("amount_nn", "/*+ USE_INDEX(orders, idx_orders_amount) */", column="amount"),
                  extra="execution: pushdown\n")
    statement = executor.statement(table_relation(TableRef(None, "orders")), [])
    rendered = hints.apply(statement, "sqlite", hints.TableHint(("idx_orders_amount",)), "orders").sql("sqlite")
    assert rendered == 'SELECT COUNT(*) AS "rows" FROM "orders" INDEXED BY "idx_orders_amount"'
    assert "idx_orders_amount" in _query_plan(sqlite_orders, rendered)

    with sqlite3.connect(sqlite_orders) as conn:
        conn.execute("UPDATE orders SET amount = NULL WHERE id = 7")
    (result,) = evaluate_suite(cat.suites[0], cat.sources).results
    assert (result.status, result.failing_rows) == (Verdict.FAILED, 1)


@pytest.mark.parametrize(("hint", "fragment"), [
    ("INDEX(orders, idx_nope)", "rule 'bad' : query_hint names index 'idx_nope', which table orders does not have "
                                "(it has idx_orders_amount (amount), idx_orders_created (created_at))"),
    ("INDEX(table_name, created_at)", "rule 'bad' : query_hint names table 'table_name', but the rule reads orders"),
])
def test_a_hint_the_catalog_cannot_serve_errors_that_rule_only(tmp_path: Path, sqlite_orders: Path,
                                                               hint: str, fragment: str) -> None:
    cat = catalog(tmp_path, hinted("bad", hint) + RULE.format(name="fine", column="id", keys=""))

    bad, fine = evaluate_suite(cat.suites[0], cat.sources).results

    assert bad.status is Verdict.ERROR and fragment.replace(" :", ":") in bad.message and "Hint:" in bad.message
    assert fine.status is Verdict.PASSED


def test_sqlite_cannot_take_two_indexes_for_one_read(tmp_path: Path, sqlite_orders: Path) -> None:
    cat = catalog(tmp_path, hinted("a", "INDEX(orders, created_at)") + hinted("b", "INDEX(orders, amount)", "amount"))
    a, b = evaluate_suite(cat.suites[0], cat.sources).results
    assert a.status is Verdict.PASSED
    assert b.status is Verdict.ERROR and "SQLite reads a table through one index" in b.message


def test_load_warns_where_a_hint_does_nothing(tmp_path: Path, sqlite_orders: Path) -> None:
    cat = catalog(tmp_path, RULE.format(name="only_flag", column="id", keys="    use_index: true\n")
                  + hinted("hint_off", "INDEX(orders, created_at)", use_index="false")
                  + hinted("placeholder", "INDEX(table_name, column_name)")
                  + hinted("good", "INDEX(orders, created_at)")
                  + hinted("parallel", "INDEX(orders, created_at)") + "      parallel_degree: 4\n")
    warned = {w.rule: w.message for w in cat.warnings}
    assert set(warned) == {"only_flag", "hint_off", "placeholder", "parallel"}
    assert "parallel_degree is not used" in warned["parallel"]
    assert "names no index" in warned["only_flag"] and "switches its query_hint off" in warned["hint_off"]
    assert "names table 'table_name', but the suite reads orders" in warned["placeholder"]


# --- MariaDB: USE INDEX / FORCE INDEX ---------------------------------------------------------


@pytest.fixture
def mariadb_orders(mariadb_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    engine = sa.create_engine(mariadb_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE orders (id INT PRIMARY KEY, created_at DATE, amount DOUBLE, "
                             "KEY idx_orders_created (created_at), KEY idx_orders_amount (amount))")
        conn.exec_driver_sql("INSERT INTO orders SELECT seq, DATE '2026-03-01' + INTERVAL MOD(seq, 28) DAY, seq "
                             "FROM seq_1_to_2000")
        conn.exec_driver_sql("ANALYZE TABLE orders")
    engine.dispose()
    monkeypatch.setenv("DQ_TEST_WH", connectorx_url(mariadb_url))
    return mariadb_url


def _explain_key(url: str, sql: str) -> str | None:
    parts = sa.engine.make_url(url)
    conn = pymysql.connect(host=parts.host, port=parts.port or 3306, user=parts.username, password=parts.password or "",
                           database=parts.database)
    try:
        with conn.cursor(pymysql.cursors.DictCursor) as cur:
            cur.execute(f"EXPLAIN {sql}")
            return cur.fetchone()["key"]
    finally:
        conn.close()


COUNT_RULE = "  - name: orders_not_empty\n    check: row_count\n    min: 1\n    severity: CRITICAL\n{keys}"


@pytest.mark.parametrize(("hint", "keyword"), [("USE_INDEX(orders, idx_orders_amount)", "USE"),
                                               ("FORCE_INDEX(orders, amount)", "FORCE")])
def test_mariadb_explain_shows_the_hinted_index(tmp_path: Path, mariadb_orders: str, hint: str, keyword: str) -> None:
    # Counting rows, MariaDB scans its smallest index (idx_orders_created) unless told otherwise.
    cat = catalog(tmp_path, COUNT_RULE.format(keys=f"    query_hint: {hint!r}\n"))

    sql = sent_select(cat)

    assert sql.endswith(f"FROM `orders` {keyword} INDEX (`idx_orders_amount`)")
    assert _explain_key(mariadb_orders, sql) == "idx_orders_amount"
    assert _explain_key(mariadb_orders, sql.split(f" {keyword} INDEX")[0]) == "idx_orders_created"  # unhinted
    (result,) = evaluate_suite(cat.suites[0], cat.sources).results
    assert (result.status, result.observed_value) == (Verdict.PASSED, 2000)


def test_mariadb_pushdown_statements_use_the_index(tmp_path: Path, mariadb_orders: str) -> None:
    cat = catalog(tmp_path, COUNT_RULE.format(keys="    query_hint: 'USE_INDEX(orders, idx_orders_amount)'\n"),
                  extra="execution: pushdown\n")
    statement = executor.statement(table_relation(TableRef(None, "orders")), [])
    rendered = hints.apply(statement, "mysql", hints.TableHint(("idx_orders_amount",)), "orders").sql("mysql")
    assert rendered == "SELECT COUNT(*) AS `rows` FROM `orders` USE INDEX (`idx_orders_amount`)"
    assert _explain_key(mariadb_orders, rendered) == "idx_orders_amount"
    assert _explain_key(mariadb_orders, statement.sql("mysql")) == "idx_orders_created"
    (result,) = evaluate_suite(cat.suites[0], cat.sources).results
    assert (result.status, result.observed_value) == (Verdict.PASSED, 2000)


# --- PostgreSQL: pg_hint_plan or a warning ----------------------------------------------------


def test_postgresql_without_pg_hint_plan_warns_at_load_and_run_and_still_checks(
        tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE orders (id INT PRIMARY KEY, created_at DATE)")
        conn.exec_driver_sql("CREATE INDEX idx_orders_created ON orders (created_at)")
        conn.exec_driver_sql("INSERT INTO orders SELECT g, DATE '2026-03-01' + mod(g, 28) FROM generate_series(1, 100) g")
        present = conn.exec_driver_sql(hints.PG_HINT_PLAN_SQL).scalar()
    engine.dispose()
    assert present == 0, "this test is for a server without pg_hint_plan"
    monkeypatch.setenv("DQ_TEST_WH", connectorx_url(pg_url))

    cat = catalog(tmp_path, hinted("created_nn", "INDEX(orders, idx_orders_created)"))
    (warning,) = cat.warnings
    assert "PostgreSQL has no index hints of its own" in warning.message and "pg_hint_plan" in str(warning)

    assert "IndexScan" not in sent_select(cat)
    with caplog.at_level(logging.WARNING, logger="engine.hints"):
        (result,) = evaluate_suite(cat.suites[0], cat.sources).results
    assert result.status is Verdict.PASSED
    assert "without pg_hint_plan: query_hint of created_nn is ignored" in caplog.text


def test_the_pg_hint_plan_comment_comes_before_the_cancel_tag() -> None:
    hint = hints.TableHint(("idx_orders_created",))
    sql = f"SELECT {hints.select_prefix(hint, 'postgresql', 'orders')}\"id\" FROM \"orders\""
    assert sql == 'SELECT /*+ IndexScan("orders" "idx_orders_created") */ "id" FROM "orders"'
    assert hints.tagged(sql, "/* dq-run-7 */") == (
        'SELECT /*+ IndexScan("orders" "idx_orders_created") */ /* dq-run-7 */ "id" FROM "orders"')
    assert hints.tagged('SELECT "id" FROM "orders"', "/* dq-run-7 */") == '/* dq-run-7 */ SELECT "id" FROM "orders"'


def test_the_postgresql_pushdown_form_is_valid_sql_and_keeps_the_hint_first(pg_url: str) -> None:
    # pg_hint_plan is not installed here: this shows the statement runs and where the hint sits, not its effect.
    statement = executor.statement(table_relation(TableRef(None, "orders")), [])
    rendered = hints.apply(statement, "postgres", hints.TableHint(("idx_orders_created",)), "orders").sql("postgres")
    assert rendered == 'SELECT /*+ IndexScan("orders" "idx_orders_created") */ COUNT(*) AS "rows" FROM "orders"'
    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE orders (id INT PRIMARY KEY, created_at DATE)")
        conn.exec_driver_sql("CREATE INDEX idx_orders_created ON orders (created_at)")
        assert conn.exec_driver_sql(rendered).scalar() == 0
    engine.dispose()
