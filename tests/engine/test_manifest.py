"""The manifest parser: valid suites become frozen objects; every bad input names file, line, rule and fix."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from engine.manifest import ManifestError, load_catalog, parse_level
from engine.model import Layer, Level, Severity

SOURCES = "sources:\n  warehouse:\n    kind: sql\n    demo: true\n"

GOOD = """\
suite: silver.orders
source: warehouse
table: silver.orders
layer: silver
data_classes: []
pii_columns: [customer_email]
schedule: "*/15 * * * *"
owner: data-eng@company.com
rules:
  - name: orders_id_unique
    check: unique
    column: order_id
    severity: CRITICAL
  - name: orders_email_null_rate
    check: null_rate
    column: customer_email
    threshold: 0.05
    severity: HIGH
    alert_cooldown_minutes: 60
  - name: orders_amount_range
    check: between
    column: amount
    min: 0
    max: 100000
    warn: "0.1%"
    fail: "100 rows"
    where: "status = 'shipped'"
    use_sampling: true
    partition_column: order_date
    partition_lookback: 1d
    schedule: "0 * * * *"
    severity: MEDIUM
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def catalog_of(tmp_path: Path, text: str):
    write(tmp_path, "sources.yaml", SOURCES)
    write(tmp_path, "suite.yaml", text)
    return load_catalog([tmp_path])


def test_a_valid_suite_becomes_frozen_objects(tmp_path: Path) -> None:
    catalog = catalog_of(tmp_path, GOOD)
    suite = catalog.suite("silver.orders")
    assert (suite.schema, suite.table, suite.layer, suite.pii_columns) == ("silver", "orders", Layer.SILVER, ("customer_email",))
    unique, null_rate, amount = suite.rules
    assert (unique.severity, unique.fail, unique.line) == (Severity.CRITICAL, None, 10)
    assert null_rate.fail == Level(max_fraction=0.05)
    assert (amount.warn, amount.fail) == (Level(max_fraction=0.001), Level(max_rows=100))
    assert (amount.sample_size, amount.schedule, amount.owner) == (10_000, "0 * * * *", "data-eng@company.com")
    with pytest.raises(TypeError):
        amount.params["min"] = 5  # type: ignore[index]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("5%", Level(max_fraction=0.05)),
        ("0.5 %", Level(max_fraction=0.005)),
        ("10 rows", Level(max_rows=10)),
        ("1 row", Level(max_rows=1)),
        ({"max_rows": 3}, Level(max_rows=3)),
        ({"max_fraction": 0.2}, Level(max_fraction=0.2)),
    ],
)
def test_levels_are_counts_or_fractions(text: object, expected: Level) -> None:
    assert parse_level(text) == expected


@pytest.mark.parametrize("text", [5, 0.05, "5", "150%", {"max_rows": -1}, {"max_fraction": 2}, {"rows": 1}])
def test_ambiguous_levels_are_refused(text: object) -> None:
    with pytest.raises(ValueError, match="neither a count nor a fraction"):
        parse_level(text)


def _rule(extra: str, check: str = "not_null", column: str = "column: a\n    ") -> str:
    return (
        "suite: s\nsource: warehouse\ntable: t\nlayer: bronze\nrules:\n"
        f"  - name: r1\n    check: {check}\n    {column}severity: LOW\n{extra}"
    )


BAD_CASES = [
    # (manifest, line, rule, expected message fragment)
    (_rule("    colum: b\n"), 10, "r1", "key 'colum': unknown key in rule 'r1' (not_null). Hint: allowed keys are"),
    (_rule("", check="nope", column=""), 7, "r1", "unknown check type 'nope'. Hint: use any of row_count"),
    (_rule("", check="regex", column="column: a\n    pattern: '(?<=a)b'\n    "), 9, "r1", "invalid regular expression"),
    (_rule("    schedule: '61 * * * *'\n"), 10, "r1", "is not a valid cron expression"),
    (_rule("    fail: 5\n"), 10, "r1", "5 is ambiguous or invalid. Hint: write a fraction of rows as `fail: \"5%\"`"),
    (_rule("    threshold: 5\n"), 10, "r1", "5 is not a fraction between 0 and 1"),
    (_rule("    where: 'a >>> b'\n"), 10, "r1", "invalid SQL filter"),
    (_rule("    sample_size: -3\n"), 10, "r1", "must be a whole number from 1 to"),
    (_rule("    enabled: maybe\n"), 10, "r1", "must be true or false"),
    (_rule("    alert_cooldown_minutes: soon\n"), 10, "r1", "must be a whole number from 0 to 525600"),
    (_rule("", check="null_rate"), 6, "r1", "null_rate needs the largest acceptable null fraction"),
    (_rule("", check="row_count", column="min: 1\n    threshold: 0.1\n    "), 9, "r1", "`threshold` applies to row-level checks only"),
    (_rule("", check="accepted_values"), 6, "r1", "accepted_values needs `values`"),
    (_rule("", check="between"), 6, "r1", "between needs at least one of min, max"),
    (_rule("", check="aggregate", column="column: a\n    stat: median\n    max: 1\n    "), 9, "r1", "unknown value 'median'"),
    (_rule("", check="freshness", column="column: a\n    max_age: soon\n    "), 9, "r1", "'soon' is not a duration"),
    (_rule("", check="schema", column="columns: {a: varchar}\n    "), 8, "r1", "unknown column types"),
    (_rule("", check="unique", column="column: a\n    columns: [a, b]\n    "), 6, "r1", "unique needs exactly one of column or columns"),
    (_rule("  - name: r1\n    check: not_null\n    column: b\n    severity: LOW\n"), 10, "r1", "duplicate rule name (first at line 6)"),
    (_rule("").replace("severity: LOW", "severity: URGENT"), 9, "r1", "unknown severity 'URGENT'"),
    (_rule("").replace("layer: bronze", "layer: platinum"), 4, None, "unknown layer 'platinum'"),
    (_rule("").replace("source: warehouse", "source: lake"), 2, None, "source 'lake' is not defined (defined: warehouse)"),
    (_rule("").replace("table: t", "table: t\nurl: postgresql://u:p@h/db"), 4, None, "must not hold connection details"),
    (_rule("").replace("table: t", "table: t\ndata_classes: [secret]"), 4, None, "unknown value 'secret'. Hint: use any of pii, financial, compliance"),
    (_rule("").replace("table: t", "table: t\ntimezone: Mars/Base"), 4, None, "unknown time zone 'Mars/Base'"),
    (_rule("").replace("table: t", "table: t\ndata_classes: [pii]"), 4, None, "a pii suite must list its pii_columns. Hint: add `pii_columns: [...]`"),
    (_rule("").replace("table: t\n", ""), 1, None, "key 'table': is required"),
    ("suite: s\nsource: warehouse\ntable: t\nlayer: bronze\nlayer: gold\nrules: []\n", 5, None, "key 'layer' appears twice"),
    ("suite: s\n  bad: [\n", 2, None, "not valid YAML"),
]


@pytest.mark.parametrize(("text", "line", "rule", "fragment"), BAD_CASES)
def test_every_problem_names_file_line_rule_and_fix(tmp_path: Path, text: str, line: int | None, rule: str | None, fragment: str) -> None:
    with pytest.raises(ManifestError) as caught:
        catalog_of(tmp_path, text)
    matching = [p for p in caught.value.problems if fragment in str(p)]
    assert matching, str(caught.value)
    problem = matching[0]
    assert problem.file.endswith("suite.yaml")
    assert problem.line == line
    assert problem.rule == rule
    assert "Hint:" in str(problem)


def test_all_problems_of_a_file_are_reported_at_once(tmp_path: Path) -> None:
    text = _rule("    colum: b\n    schedule: 'x'\n  - name: r2\n    check: nope\n    severity: LOW\n")
    with pytest.raises(ManifestError) as caught:
        catalog_of(tmp_path, text)
    assert [p.line for p in caught.value.problems] == [10, 11, 13]
    assert str(caught.value).startswith("3 problems in rule manifests:")


def test_duplicate_rule_names_across_files_name_both_places(tmp_path: Path) -> None:
    write(tmp_path, "sources.yaml", SOURCES)
    write(tmp_path, "a.yaml", _rule(""))
    write(tmp_path, "b.yaml", _rule("").replace("suite: s", "suite: s2"))
    with pytest.raises(ManifestError, match=r"b.yaml:6 rule 'r1' key 'name': duplicate rule name, also at .*a.yaml:6"):
        load_catalog([tmp_path])


def test_a_stream_of_suites_in_one_file(tmp_path: Path) -> None:
    write(tmp_path, "sources.yaml", SOURCES)
    write(tmp_path, "all.yaml", _rule("") + "---\n" + _rule("").replace("suite: s", "suite: s2").replace("name: r1", "name: r2"))
    catalog = load_catalog([tmp_path])
    assert [s.name for s in catalog.suites] == ["s", "s2"]


def test_missing_path_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="no such file or folder. Hint: give a manifest file"):
        load_catalog([tmp_path / "nope.yaml"])
