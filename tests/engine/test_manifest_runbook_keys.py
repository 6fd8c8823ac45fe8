"""The runbooks' own YAML loads: the `parameters:` block and the performance-tuning keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.manifest import ManifestError, load_catalog

SOURCES = "sources:\n  warehouse: {kind: sql, demo: true}\n"
HEAD = "suite: s\nsource: warehouse\ntable: t\nlayer: silver\nrules:\n"


def catalog(tmp_path: Path, rules: str):
    (tmp_path / "sources.yaml").write_text(SOURCES)
    (tmp_path / "suite.yaml").write_text(HEAD + rules)
    return load_catalog([tmp_path])


def test_the_alert_fatigue_cooldown_block_loads(tmp_path: Path) -> None:
    # docs: runbook "Issue: Alert Fatigue", resolution 2, pasted as written.
    rule = catalog(tmp_path, """\
  - name: orders_email_null_rate
    check: null_rate
    column: customer_email
    severity: HIGH
    # Example: Increase null rate threshold
    threshold: 0.05  # Allow 5% nulls instead of 1%
    # Add cooldown period for repeated violations
    parameters:
      alert_cooldown_minutes: 60
""").rules[0]
    assert (rule.alert_cooldown_minutes, rule.fail.max_fraction) == (60, 0.05)
    assert rule.definition["parameters"] == {"alert_cooldown_minutes": 60}  # stored as written, exports round-trip


def test_the_query_optimization_keys_load(tmp_path: Path) -> None:
    # runbook "Database Connection Timeouts" and "Performance Tuning", as written.
    cat = catalog(tmp_path, """\
  - name: big_table_not_null
    check: not_null
    column: created_date
    severity: LOW
    parameters:
      use_index: true
      query_hint: "INDEX(table_name, column_name)"
  - name: big_table_recent
    check: not_null
    column: id
    severity: LOW
    parameters:
      use_index: true
      query_hint: "/*+ USE_INDEX(table_name, idx_created_at) */"
      partition_column: "created_date"
      parallel_degree: 4
""")
    first, second = cat.rules
    assert (first.use_index, first.query_hint) == (True, "INDEX(table_name, column_name)")
    assert (second.partition_column, second.parallel_degree) == ("created_date", 4)
    assert [w.rule for w in cat.warnings] == ["big_table_not_null", "big_table_recent"]
    # The runbook's `table_name` is a placeholder: loading says so, and the rule errors at run time until fixed.
    assert "names table 'table_name', but the suite reads t" in cat.warnings[0].message and cat.warnings[0].line == 6


@pytest.mark.parametrize(("rules", "line", "fragment"), [
    ("  - name: r\n    check: not_null\n    column: a\n    severity: LOW\n    alert_cooldown_minutes: 5\n"
     "    parameters:\n      alert_cooldown_minutes: 60\n", 12, "set both on the rule and under `parameters:`"),
    ("  - name: r\n    check: not_null\n    column: a\n    severity: LOW\n    parameters:\n      use_idx: true\n",
     11, "unknown key in `parameters:` of rule 'r' (not_null)"),
    ("  - name: r\n    check: not_null\n    column: a\n    severity: LOW\n    parameters: [use_index]\n",
     10, "must be a mapping"),
    ("  - name: r\n    check: not_null\n    column: a\n    severity: LOW\n    parameters:\n      parallel_degree: 0\n",
     11, "a whole number from 1 to 64"),
    ("  - name: r\n    check: not_null\n    column: a\n    severity: LOW\n    parameters:\n"
     "      query_hint: \"*/ ; DROP TABLE orders; /*\"\n", 11, "is not an index hint"),
    ("  - name: r\n    check: not_null\n    severity: LOW\n    parameters:\n      column: 5\n", 10, "has the wrong type"),
])
def test_bad_parameters_blocks_name_their_line(tmp_path: Path, rules: str, line: int, fragment: str) -> None:
    with pytest.raises(ManifestError) as caught:
        catalog(tmp_path, rules)
    matching = [p for p in caught.value.problems if fragment in str(p)]
    assert matching, str(caught.value)
    assert matching[0].line == line


def test_check_parameters_may_sit_under_parameters_too(tmp_path: Path) -> None:
    # The runbook's DQRule model keeps a check's parameters in one `parameters` field.
    rule = catalog(tmp_path, "  - name: r\n    check: between\n    severity: LOW\n    parameters:\n"
                             "      column: amount\n      min: 0\n      max: 10\n").rules[0]
    assert (rule.param("column"), rule.param("min"), rule.param("max")) == ("amount", 0, 10)
