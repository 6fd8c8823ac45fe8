"""The flat table of check types: parameters, kind and the sentence used by console, CLI and alerts.

Row-level checks ("row") yield a Polars expression that is True for a row that passes; the
engine counts the rows where it is False. Aggregate checks ("aggregate") yield one observed
value compared with bounds; "schema" compares the table's real columns and types; "reference"
looks values up in another table. Exact semantics per check: docs/checks.md.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

# Parameter kinds understood by the manifest validator (engine/manifest.py).
PARAM_KINDS = (
    "column", "columns", "number", "integer", "string", "values", "regex", "duration", "sql",
    "mapping", "boolean", "bound", "choice",
)


@dataclass(frozen=True)
class Param:
    name: str
    kind: str
    required: bool = False
    doc: str = ""
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class CheckType:
    name: str
    kind: str  # row | aggregate | schema | reference
    sentence: str  # "{column} must not be null"; filled from the rule's params
    params: tuple[Param, ...]
    validate: Callable[[Mapping[str, Any]], list[str]] | None = None

    @property
    def row_level(self) -> bool:
        return self.kind in {"row", "reference"}

    def param_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)


def _one_of(*names: str) -> Callable[[Mapping[str, Any]], list[str]]:
    def check(params: Mapping[str, Any]) -> list[str]:
        if not any(params.get(n) is not None for n in names):
            return [f"needs at least one of {', '.join(names)}"]
        return []

    return check


def _exactly_one(*names: str) -> Callable[[Mapping[str, Any]], list[str]]:
    def check(params: Mapping[str, Any]) -> list[str]:
        given = [n for n in names if params.get(n) is not None]
        if len(given) != 1:
            return [f"needs exactly one of {' or '.join(names)}"]
        return []

    return check


def _aggregate_rules(params: Mapping[str, Any]) -> list[str]:
    errors = _one_of("min", "max")(params)
    if params.get("stat") == "quantile" and params.get("quantile") is None:
        errors.append("stat: quantile needs `quantile:` between 0 and 1")
    q = params.get("quantile")
    if q is not None and not (isinstance(q, int | float) and 0 <= q <= 1):
        errors.append("quantile must be a number between 0 and 1")
    return errors


COLUMN = Param("column", "column", True, "the column checked")
STATS = ("min", "max", "mean", "stddev", "sum", "quantile")

CHECKS: dict[str, CheckType] = {
    c.name: c
    for c in [
        CheckType("row_count", "aggregate", "{table} must have between {min} and {max} rows",
                  (Param("min", "integer"), Param("max", "integer")), _one_of("min", "max")),
        CheckType("not_null", "row", "{column} must not be null", (COLUMN,)),
        CheckType("null_rate", "row", "{column} null rate must stay within the threshold", (COLUMN,)),
        CheckType("unique", "row", "{columns} must be unique (NULLs are not duplicates)",
                  (Param("column", "column"), Param("columns", "columns")), _exactly_one("column", "columns")),
        CheckType("duplicate_rows", "row", "rows must not repeat over {columns}",
                  (Param("columns", "columns", doc="default: every column of the table"),)),
        CheckType("accepted_values", "row", "{column} must be one of {values}",
                  (COLUMN, Param("values", "values", True))),
        CheckType("between", "row", "{column} must be between {min} and {max} (inclusive)",
                  (COLUMN, Param("min", "bound"), Param("max", "bound")), _one_of("min", "max")),
        CheckType("regex", "row", "{column} must match {pattern}",
                  (COLUMN, Param("pattern", "regex", True),
                   Param("full_match", "boolean", doc="default true: the whole string must match"))),
        CheckType("string_length", "row", "{column} length must be between {min} and {max} characters",
                  (COLUMN, Param("min", "integer"), Param("max", "integer")), _one_of("min", "max")),
        CheckType("freshness", "aggregate", "newest {column} must be at most {max_age} old",
                  (COLUMN, Param("max_age", "duration", True), Param("warn_age", "duration"),
                   Param("timezone", "string", doc="zone of naive timestamps; default UTC"))),
        CheckType("schema", "schema", "{table} must have the expected columns and types",
                  (Param("columns", "mapping", True, "column name -> type (int, float, decimal, string, bool, date, datetime, any)"),
                   Param("allow_extra", "boolean", doc="default true: columns not listed are fine"))),
        CheckType("aggregate", "aggregate", "{stat} of {column} must be between {min} and {max}",
                  (COLUMN, Param("stat", "choice", True, choices=STATS), Param("quantile", "number"),
                   Param("min", "number"), Param("max", "number")), _aggregate_rules),
        CheckType("referential", "reference", "{column} must exist in {ref_table}.{ref_column}",
                  (COLUMN, Param("ref_table", "string", True), Param("ref_column", "column", True),
                   Param("ref_source", "string", doc="default: the suite's source"))),
        CheckType("row_condition", "row", "rows must satisfy {expression}",
                  (Param("expression", "sql", True, "a Polars SQL boolean expression"),)),
    ]
}
