"""Index hints from the runbook's `use_index` / `query_hint`: one safe grammar, checked against the catalog, rendered per dialect.

`query_hint` is parsed, never pasted: a hint is NAME(index) or NAME(table, index) with NAME one of
HINT_NAMES, optionally wrapped in `/*+ ... */` (the runbook's form), and plain identifiers as
arguments. At run time the index must exist on the suite's table (a column name picks the index
that leads with it: the runbook's `INDEX(table_name, column_name)`); identifiers in the SQL are the
catalog's names quoted by sqlglot. MySQL/MariaDB get `USE INDEX (i)` / `FORCE INDEX (i)`, SQLite
`INDEXED BY i`, PostgreSQL a pg_hint_plan comment `/*+ IndexScan(t i) */` when the source has
pg_hint_plan, else nothing (with a warning). Rules of one suite share one read, so the read carries
the union of its rules' hints.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlglot import exp

from engine.errors import EngineError
from engine.model import Rule

HINT_NAMES = {"INDEX": False, "USE_INDEX": False, "INDEX_SCAN": False, "INDEXSCAN": False, "FORCE_INDEX": True}
_IDENTIFIER = r"[A-Za-z_][A-Za-z0-9_$]{0,63}"
_GRAMMAR = re.compile(
    rf"^\s*(?P<open>/\*\+)?\s*(?P<name>[A-Za-z_]+)\s*\(\s*(?P<args>{_IDENTIFIER}(?:\.{_IDENTIFIER})?"
    rf"(?:\s*[,\s]\s*{_IDENTIFIER})?)\s*\)\s*(?P<close>\*/)?\s*$")
_SQLGLOT_DIALECT = {"postgresql": "postgres", "postgres": "postgres", "mysql": "mysql", "sqlite": "sqlite"}
_log = logging.getLogger(__name__)


class HintError(EngineError):
    """A query_hint that does not fit the grammar or names an index the table does not have."""


@dataclass(frozen=True)
class IndexHint:
    """A rule's hint as written: the index (or a column it leads with) and the table it names."""

    index: str
    table: str | None = None
    force: bool = False


@dataclass(frozen=True)
class TableHint:
    """What a read of the table carries: indexes by their catalog names; `force` for MySQL's FORCE INDEX."""

    indexes: tuple[str, ...]
    force: bool = False


def parse(text: str) -> IndexHint:
    """The hint in `text`, or HintError saying what the grammar allows."""
    found = _GRAMMAR.match(text)
    name = found.group("name").upper() if found else ""
    if found is None or name not in HINT_NAMES or bool(found.group("open")) != bool(found.group("close")):
        raise HintError(
            f"{text!r} is not an index hint this engine can pass on. Hint: write one of "
            f"{', '.join(HINT_NAMES)} with (index) or (table, index), e.g. \"/*+ USE_INDEX(orders, idx_created_at) */\" "
            "or \"INDEX(orders, created_at)\": letters, digits and _ only, an optional /*+ */ around it")
    parts = [p for p in re.split(r"[\s,]+", found.group("args")) if p]
    table, index = (None, parts[0]) if len(parts) == 1 else (parts[0], parts[1])
    return IndexHint(index, table, HINT_NAMES[name])


def of_rule(rule: Rule) -> IndexHint | None:
    """The rule's hint; `use_index: false` switches a written query_hint off."""
    if rule.query_hint is None or rule.use_index is False:
        return None
    return parse(rule.query_hint)


def resolve(rule: Rule, hint: IndexHint, table: str, indexes: Mapping[str, Sequence[str]]) -> str:
    """The catalog name of the index the rule's hint means on `table`, or HintError naming rule, table and index."""
    written = hint.table.rpartition(".")[2] if hint.table else None
    if written is not None and written.lower() != table.lower():
        raise HintError(
            f"rule {rule.name!r}: query_hint names table {hint.table!r}, but the rule reads {table}. "
            f"Hint: write the suite's table, e.g. \"INDEX({table}, {hint.index})\".")
    by_name = {name.lower(): name for name in indexes}
    if hint.index.lower() in by_name:
        return by_name[hint.index.lower()]
    leading = [name for name, columns in indexes.items() if columns and columns[0].lower() == hint.index.lower()]
    if leading:
        return sorted(leading)[0]
    have = ", ".join(f"{n} ({', '.join(c)})" for n, c in sorted(indexes.items())) or "no index"
    raise HintError(
        f"rule {rule.name!r}: query_hint names index {hint.index!r}, which table {table} does not have "
        f"(it has {have}). Hint: name one of its indexes or a column an index starts with, or create the index.")


def combine(dialect: str, wanted: Mapping[str, tuple[str, bool]]) -> tuple[TableHint | None, dict[str, str]]:
    """One hint for the read from each rule's (index, force); rules SQLite cannot serve together get an error."""
    indexes = tuple(dict.fromkeys(index for index, _ in wanted.values()))
    if not indexes:
        return None, {}
    if dialect == "sqlite" and len(indexes) > 1:
        first = indexes[0]
        message = (f"SQLite reads a table through one index (INDEXED BY), and this suite's rules ask for "
                   f"{', '.join(indexes)}. Hint: give every rule of the suite the same query_hint index.")
        return TableHint((first,)), {rule: message for rule, (index, _) in wanted.items() if index != first}
    return TableHint(indexes, any(force for _, force in wanted.values())), {}


# --- the catalog -----------------------------------------------------------------------------


def catalog_sql(dialect: str, schema: str | None, table: str) -> str:
    """(index, column, position) rows of the table's indexes; names go in as sqlglot-quoted literals."""
    name, owner = exp.Literal.string(table).sql(_SQLGLOT_DIALECT[dialect]), (
        exp.Literal.string(schema).sql(_SQLGLOT_DIALECT[dialect]) if schema else None)
    if dialect == "sqlite":
        return ("SELECT il.name AS idx, ii.name AS col, ii.seqno AS pos "
                f"FROM pragma_index_list({name}) AS il JOIN pragma_index_info(il.name) AS ii ORDER BY idx, pos")
    if dialect == "mysql":
        where_schema = f"table_schema = {owner}" if owner else "table_schema = DATABASE()"
        return ("SELECT CAST(index_name AS CHAR) AS idx, CAST(column_name AS CHAR) AS col, "
                "CAST(seq_in_index AS SIGNED) AS pos FROM information_schema.statistics "
                f"WHERE {where_schema} AND table_name = {name} ORDER BY idx, pos")
    relation = exp.table_(table, db=schema, quoted=True).sql("postgres")
    regclass = exp.Literal.string(relation).sql("postgres")
    return ("SELECT CAST(i.relname AS TEXT) AS idx, CAST(a.attname AS TEXT) AS col, "
            "CAST(array_position(CAST(x.indkey AS INT[]), CAST(a.attnum AS INT)) AS INT) AS pos "
            "FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
            "JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = ANY(x.indkey) "
            f"WHERE x.indrelid = to_regclass({regclass}) ORDER BY idx, pos")


# pg_hint_plan reads hints only once its module is loaded in the session (shared_ or session_preload_libraries);
# CREATE EXTENSION alone is not enough. Its `enable_hint` setting exists exactly then.
PG_HINT_PLAN_SQL = ("SELECT CAST(CASE WHEN current_setting('pg_hint_plan.enable_hint', true) = 'on' "
                    "THEN 1 ELSE 0 END AS INT) AS n")


def indexes_of(rows: Sequence[tuple[str, str, int]]) -> dict[str, tuple[str, ...]]:
    found: dict[str, list[str]] = {}
    for index, column, _ in rows:
        found.setdefault(str(index), []).append(str(column))
    return {index: tuple(columns) for index, columns in found.items()}


def pg_hint_plan_missing(source: str, rules: Sequence[str]) -> None:
    _log.warning("source %r is PostgreSQL without pg_hint_plan: query_hint of %s is ignored. Hint: install "
                 "pg_hint_plan in the source and load it (shared_preload_libraries) or remove query_hint",
                 source, ", ".join(rules))


# --- rendering -------------------------------------------------------------------------------


def _quoted(name: str, dialect: str) -> str:
    return exp.to_identifier(name, quoted=True).sql(_SQLGLOT_DIALECT[dialect])


def pg_comment(hint: TableHint, table: str) -> str:
    """pg_hint_plan's comment; it must precede any other comment of the statement (pg_hint_plan reads the first)."""
    names = " ".join(_quoted(n, "postgresql") for n in (table, *hint.indexes))
    return f"/*+ IndexScan({names}) */"


def table_suffix(hint: TableHint | None, dialect: str) -> str:
    """What follows the table name in FROM: ` USE INDEX (...)`, ` INDEXED BY ...`, or nothing."""
    if hint is None:
        return ""
    if dialect == "mysql":
        return f" {'FORCE' if hint.force else 'USE'} INDEX ({', '.join(_quoted(n, dialect) for n in hint.indexes)})"
    if dialect == "sqlite":
        return f" INDEXED BY {_quoted(hint.indexes[0], dialect)}"
    return ""


def select_prefix(hint: TableHint | None, dialect: str, table: str) -> str:
    """What follows SELECT: the pg_hint_plan comment on PostgreSQL, else nothing."""
    return f"{pg_comment(hint, table)} " if hint is not None and dialect in ("postgresql", "postgres") else ""


def apply(statement: exp.Expression, dialect: str, hint: TableHint | None, table: str) -> exp.Expression:
    """The pushdown statement with the hint on every read of `table` (its subqueries too); unchanged without one."""
    if hint is None:
        return statement
    hinted = statement.copy()
    for node in list(hinted.find_all(exp.Table)):
        if node.name != table:
            continue
        if dialect == "mysql":
            node.set("hints", [exp.IndexTableHint(this="FORCE" if hint.force else "USE",
                                                  expressions=[exp.to_identifier(n, quoted=True) for n in hint.indexes])])
        elif dialect == "sqlite":
            # sqlglot has no INDEXED BY: the table and the catalog's index name, each quoted by sqlglot.
            node.replace(exp.Table(this=exp.Var(this=node.sql("sqlite") + table_suffix(hint, "sqlite"))))
    if dialect in ("postgresql", "postgres"):
        for select in [hinted] if isinstance(hinted, exp.Select) else []:
            first = select.expressions[0]
            select.expressions[0].replace(exp.Var(this=select_prefix(hint, dialect, table) + first.sql("postgres")))
    return hinted


# --- one suite's read ------------------------------------------------------------------------


def for_suite(query: Callable[[str], Any] | None, dialect: str, source: str, schema: str | None, table: str,
              rules: Sequence[Rule]) -> tuple[TableHint | None, dict[str, str]]:
    """The read's hint from the rules' hints checked against the catalog, and an error per rule whose hint cannot work.

    `query(sql)` runs a catalog query in the source (the local reader's), returning a Polars frame.
    """
    written: dict[str, IndexHint] = {}
    errors: dict[str, str] = {}
    for rule in rules:
        try:
            hint = of_rule(rule)
        except HintError as exc:
            errors[rule.name] = f"rule {rule.name!r}: {exc}"
            continue
        if hint is not None:
            written[rule.name] = hint
    if not written or query is None or dialect not in ("sqlite", "mysql", "postgresql"):
        return None, errors
    try:
        if dialect == "postgresql" and not int(query(PG_HINT_PLAN_SQL).item() or 0):
            pg_hint_plan_missing(source, sorted(written))
            return None, errors
        indexes = indexes_of(list(query(catalog_sql(dialect, schema, table)).iter_rows()))
    except EngineError as exc:
        return None, errors | {name: f"its query_hint could not be checked against the catalog: {exc}" for name in written}
    wanted: dict[str, tuple[str, bool]] = {}
    for rule in rules:
        if rule.name in written:
            try:
                wanted[rule.name] = (resolve(rule, written[rule.name], table, indexes), written[rule.name].force)
            except HintError as exc:
                errors[rule.name] = str(exc)
    read_hint, conflicts = combine(dialect, wanted)
    return read_hint, errors | conflicts


def tagged(sql: str, tag_comment: str) -> str:
    """The read tagged for cancelling; after a leading pg_hint_plan comment, which must be the first comment."""
    head = "SELECT /*+ "
    if sql.startswith(head) and "*/" in sql:
        hint_end = sql.index("*/") + 2
        return f"{sql[:hint_end]} {tag_comment}{sql[hint_end:]}"
    return f"{tag_comment} {sql}"


class HintedBackend:
    """A pushdown backend whose every statement carries the read's hint (engine/pushdown/run.py wraps it)."""

    def __init__(self, inner: Any, hint: TableHint, table: str) -> None:
        self.inner, self.hint, self.table = inner, hint, table
        self.dialect = inner.dialect

    def relation(self, table: Any) -> exp.Expression:
        return self.inner.relation(table)

    def run(self, statement: exp.Expression, *, timeout_seconds: float) -> Any:
        return self.inner.run(apply(statement, self.dialect, self.hint, self.table), timeout_seconds=timeout_seconds)

    def estimated_rows(self, table: Any) -> int | None:
        return self.inner.estimated_rows(table)

    def close(self) -> None:
        self.inner.close()


def hinted(backend: Any, hint: TableHint | None, table: str) -> Any:
    return backend if hint is None else HintedBackend(backend, hint, table)
