"""The plan: rules grouped by read spec, only the needed columns, problems kept per rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from engine.model import Layer, Suite
from engine.plan import ReadKey, compile_suite
from engine.reader import ReadSpec, TableRef, Window
from tests.engine.conftest import rule

SCHEMA = pl.Schema({"id": pl.Int64, "name": pl.String, "amount": pl.Float64, "ts": pl.Datetime("us"),
                    "status": pl.String})
NOW = datetime(2024, 1, 1, tzinfo=UTC)


def _plan(*rules):
    suite = Suite(name="s", source="wh", table="orders", schema="silver", layer=Layer.SILVER, data_classes=(),
                  pii_columns=(), rules=tuple(rules))
    return compile_suite(suite, list(rules), SCHEMA, dialect="postgresql", now=NOW)


READ_CASES = [
    ("one read for same settings", [rule("not_null", "a", column="name"), rule("between", "b", column="amount", min=0)],
     {ReadKey(): ("name", "amount")}),
    ("where columns are read too", [rule("not_null", "a", column="name", _={"where": "status = 'NEW'"})],
     {ReadKey(): ("name", "status")}),
    ("row_count alone reads the first column", [rule("row_count", "a", min=1)], {ReadKey(): ("id",)}),
    ("schema reads nothing", [rule("schema", "a", columns={"id": "int"})], {}),
    ("a sample is its own read", [rule("not_null", "a", column="name"),
                                  rule("not_null", "b", column="id", _={"use_sampling": True, "sample_size": 5})],
     {ReadKey(): ("name",), ReadKey(5): ("id",)}),
    ("use_sampling without a size samples 10000", [rule("not_null", "a", column="id", _={"use_sampling": True})],
     {ReadKey(10_000): ("id",)}),
    ("a window is its own read", [rule("not_null", "a", column="id", _={"partition_column": "ts", "partition_lookback": "2h"})],
     {ReadKey(None, Window("ts", timedelta(hours=2))): ("id",)}),
    ("an erroring rule adds no column", [rule("not_null", "a", column="id"), rule("not_null", "b", column="gone")],
     {ReadKey(): ("id",)}),
]


@pytest.mark.parametrize(("rules", "reads"), [c[1:] for c in READ_CASES], ids=[c[0] for c in READ_CASES])
def test_reads(rules: list, reads: dict) -> None:
    plan = _plan(*rules)

    assert plan.reads() == {key: ReadSpec(TableRef("silver", "orders"), cols, key.sample_size, key.window)
                            for key, cols in reads.items()}


ERROR_CASES = [
    ("unknown check", rule("nope", column="id"), "unknown check type 'nope'. Hint: use one of"),
    ("bad lookback", rule("row_count", min=1, _={"partition_column": "ts", "partition_lookback": "soon"}),
     "'soon' is not a duration. Hint:"),
    ("missing partition column", rule("row_count", min=1, _={"partition_column": "day"}),
     "partition_column 'day' does not exist"),
    ("case-sensitive column", rule("not_null", column="Name"), "did you mean 'name'"),
    ("where on a missing column", rule("not_null", column="id", _={"where": "gone = 1"}), "'gone' (used in where"),
    ("type mismatch", rule("string_length", column="amount", max=3), "needs a text column"),
    ("aggregate of text", rule("aggregate", column="name", stat="mean", min=0), "needs a numeric column"),
    ("freshness of a number", rule("freshness", column="amount", max_age="1h"), "needs a timestamp or date"),
    ("unknown schema type", rule("schema", columns={"id": "bigint"}), "unknown type 'bigint'"),
    ("accepted text values on a number", rule("accepted_values", column="amount", values=["x"]), "is not a number"),
]


@pytest.mark.parametrize(("bad", "message"), [c[1:] for c in ERROR_CASES], ids=[c[0] for c in ERROR_CASES])
def test_problems_stay_with_their_rule(bad, message: str) -> None:
    plan = _plan(bad, rule("not_null", "fine", column="id"))

    assert message in (plan.rules[0].error or "")
    assert plan.rules[1].error is None
