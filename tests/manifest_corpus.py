"""A corpus of malformed rule manifests: what tired and hostile people (and scripts) write.

Each variant is (name, bytes, has_line): the file's content and whether its problem has a line
to name. Used by tests/cli/test_manifest_corpus.py (every variant is a clear error naming the
file, no traceback, nothing loaded) and bench/manifest_fuzz.py (time and memory per file).
"""

from __future__ import annotations

import gzip
import random
from collections.abc import Iterator

SOURCES = "sources:\n  warehouse: {kind: sql, demo: true}\n"
GOOD = """\
suite: silver.fuzz
source: warehouse
table: fuzz
layer: silver
owner: fuzz@company.com
rules:
  - name: fuzz_id_not_null
    check: not_null
    column: id
    severity: HIGH
  - name: fuzz_amount_range
    check: between
    column: amount
    min: 0
    max: 100
    severity: MEDIUM
"""
LOADED = GOOD.replace("fuzz", "loaded")  # the good file beside each variant, already in the store
HEAD = "suite: silver.fuzz\nsource: warehouse\ntable: fuzz\nlayer: silver\nrules:\n"


def _rule(body: str, name: str = "fuzz_r1", check: str = "not_null", severity: str = "LOW") -> str:
    """A suite with one rule whose extra lines are `body` (already indented by four spaces)."""
    head = f"  - name: {name}\n    check: {check}\n    severity: {severity}\n"
    return HEAD + head + body


def _between(low: str, high: str) -> str:
    return _rule(f"    column: amount\n    min: {low}\n    max: {high}\n", check="between")


def _nested_block(depth: int) -> str:
    return "".join(f"{'  ' * i}k{i}:\n" for i in range(depth)) + f"{'  ' * depth}v\n"


def _alias_bomb(levels: int, width: int) -> str:
    """Anchors that multiply, aliased where a list is expected (an error message would quote it)."""
    lines = ["  a0: &a0 [" + ", ".join(["lol"] * width) + "]"]
    for i in range(1, levels):
        lines.append(f"  a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]")
    return (HEAD.replace("rules:\n", "") + "x-anchors:\n" + "\n".join(lines)
            + f"\npii_columns: *a{levels - 1}\nrules:\n  - {{name: fuzz_bomb, check: accepted_values, "
            + f"column: a, severity: LOW, values: *a{levels - 1}}}\n")


def _many_rules(count: int) -> str:
    body = "".join(f"  - {{name: r{i}, check: not_null, column: c, severity: LOW}}\n" for i in range(count))
    return HEAD + body


TEXT_VARIANTS: list[tuple[str, str, bool]] = [
    # --- YAML syntax -----------------------------------------------------------------------
    ("unclosed_flow", HEAD + "  - {name: r, check: not_null\n", True),
    ("unclosed_quote", HEAD + '  - name: "r\n    check: not_null\n', True),
    ("tab_indent", HEAD + "  - name: r\n\tcheck: not_null\n", True),
    ("bad_indent", "suite: s\n  source: warehouse\n table: t\n", True),
    ("colon_in_value", "suite: a: b\nsource: warehouse\n", True),
    ("duplicate_key", GOOD.replace("owner:", "layer: gold\nowner:"), True),
    ("document_is_list", "- suite: s\n- source: warehouse\n", False),
    ("document_is_scalar", "just some text\n", False),
    ("undefined_alias", HEAD + "  - *nothing\n", True),
    ("python_tag", "suite: !!python/object/apply:os.system ['id']\n", True),
    ("unknown_tag", "suite: !secret s\nsource: warehouse\n", True),
    ("complex_key", "? [a, b]\n: 1\nsuite: s\n", True),
    ("bad_directive", "%YAML 9.9\n---\n" + GOOD, True),
    ("second_document_bad", GOOD + "---\nsuite: [\n", True),
    ("mapping_key_null", GOOD + "~: 1\n", True),
    ("binary_tag", "suite: !!binary aGVsbG8=\n" + GOOD.split("\n", 1)[1], True),
    # --- limits ----------------------------------------------------------------------------
    ("deep_flow_20k", "suite: " + "[" * 20000 + "]" * 20000 + "\n", True),
    ("deep_block_200", _nested_block(200), True),
    ("deep_block_40", _nested_block(40), True),
    ("alias_bomb_9x10", _alias_bomb(9, 10), True),
    ("alias_bomb_6x40", _alias_bomb(6, 40), True),
    ("recursive_alias", "suite: &a [*a]\n", True),
    ("huge_scalar", "suite: s\nsource: warehouse\ndescription: " + "x" * 200_000 + "\n", True),
    ("long_description", GOOD.replace("owner:", "description: " + "d" * 50_000 + "\nowner:"), True),
    ("too_many_rules", _many_rules(2_500), True),
    ("rule_name_300", _rule("    column: a\n", name="r" * 300), True),
    ("suite_name_500", GOOD.replace("silver.fuzz", "s" * 500), True),
    ("table_name_1000", GOOD.replace("table: fuzz", "table: " + "t" * 1000), True),
    # --- empty -----------------------------------------------------------------------------
    ("empty_file", "", False),
    ("comment_only", "# all rules were here\n# and now they are gone\n", False),
    ("whitespace_only", "\n\n   \n\t\n", False),
    ("only_document_markers", "---\n---\n...\n", False),
    ("null_document", "~\n", False),
    # --- suite -----------------------------------------------------------------------------
    ("missing_suite", GOOD.replace("suite: silver.fuzz\n", ""), True),
    ("missing_source", GOOD.replace("source: warehouse\n", ""), True),
    ("unknown_source", GOOD.replace("source: warehouse", "source: wherehouse"), True),
    ("missing_table", GOOD.replace("table: fuzz\n", ""), True),
    ("missing_layer", GOOD.replace("layer: silver\n", ""), True),
    ("unknown_layer", GOOD.replace("layer: silver", "layer: platinum"), True),
    ("layer_list", GOOD.replace("layer: silver", "layer: [silver]"), True),
    ("data_class_unknown", GOOD.replace("layer: silver", "layer: silver\ndata_classes: [pii, secret]"), True),
    ("data_class_string", GOOD.replace("layer: silver", "layer: silver\ndata_classes: pii"), True),
    ("pii_columns_mapping", GOOD.replace("layer: silver", "layer: silver\npii_columns: {email: true}"), True),
    ("suite_cron_invalid", GOOD.replace("layer: silver", "layer: silver\nschedule: every hour"), True),
    ("suite_cron_feb31", GOOD.replace("layer: silver", "layer: silver\nschedule: '0 0 31 2 *'"), True),
    ("suite_cron_feb30", GOOD.replace("layer: silver", "layer: silver\nschedule: '0 0 30 2 *'"), True),
    ("suite_cron_april31", GOOD.replace("layer: silver", "layer: silver\nschedule: '0 0 31 4 *'"), True),
    ("suite_timezone", GOOD.replace("layer: silver", "layer: silver\ntimezone: Mars/Olympus"), True),
    ("suite_unknown_key", GOOD.replace("layer: silver", "layer: silver\nlayr: gold"), True),
    ("suite_url_secret", GOOD.replace("layer: silver", "layer: silver\nurl: postgresql://u:pw@db/x"), True),
    ("suite_password_key", GOOD.replace("layer: silver", "layer: silver\npassword: hunter2"), True),
    ("suite_name_spaces", GOOD.replace("suite: silver.fuzz", "suite: '   '"), True),
    ("rules_mapping", HEAD + "  name: r\n  check: not_null\n", True),
    ("rules_string", HEAD.replace("rules:\n", "rules: everything\n"), True),
    ("enabled_string", GOOD.replace("layer: silver", "layer: silver\nenabled: yes please"), True),
    ("suite_defined_twice", GOOD + "---\n" + GOOD.replace("fuzz_", "other_"), True),
    # --- rule ------------------------------------------------------------------------------
    ("rule_is_string", HEAD + "  - fuzz_id_not_null\n", True),
    ("rule_is_list", HEAD + "  - [name, check]\n", True),
    ("rule_missing_name", HEAD + "  - check: not_null\n    column: a\n    severity: LOW\n", True),
    ("rule_name_chars", _rule("    column: a\n", name="'drop table; --'"), True),
    ("rule_name_number", _rule("    column: a\n", name="12"), True),
    ("rule_duplicate_in_file", HEAD + "  - {name: r, check: not_null, column: a, severity: LOW}\n" * 2, True),
    ("rule_missing_check", HEAD + "  - name: r\n    column: a\n    severity: LOW\n", True),
    ("rule_unknown_check", _rule("    column: a\n", check="not_nul"), True),
    ("rule_missing_severity", HEAD + "  - name: r\n    check: not_null\n    column: a\n", True),
    ("rule_unknown_severity", _rule("    column: a\n", severity="URGENT"), True),
    ("rule_severity_number", _rule("    column: a\n", severity="3"), True),
    ("rule_enabled_maybe", _rule("    column: a\n    enabled: maybe\n"), True),
    ("rule_missing_column", _rule(""), True),
    ("rule_column_list", _rule("    column: [a, b]\n"), True),
    ("rule_column_empty", _rule("    column: ''\n"), True),
    ("rule_unknown_key", _rule("    colum: a\n"), True),
    ("rule_url_secret", _rule("    column: a\n    url: mysql://root:pw@db/x\n"), True),
    ("between_min_text", _between("abc", "10"), True),
    ("between_max_text", _between("0", "lots"), True),
    ("between_min_nan", _between(".nan", "10"), True),
    ("between_max_nan", _between("0", ".NaN"), True),
    ("between_min_inf", _between("-.inf", "10"), True),
    ("between_min_gt_max", _between("10", "1"), True),
    ("between_dates_reversed", _between("'2025-01-01'", "'2024-01-01'"), True),
    ("between_date_and_number", _between("'2024-01-01'", "5"), True),
    ("between_bad_date", _between("'2024-02-31'", "'2024-03-01'"), True),
    ("between_aware_naive", _between("'2024-01-01T00:00:00+02:00'", "'2024-02-01T00:00:00'"), True),
    ("between_no_bounds", _rule("    column: amount\n", check="between"), True),
    ("between_bool_bound", _between("true", "10"), True),
    ("row_count_negative", _rule("    min: -1\n", check="row_count"), True),
    ("row_count_fraction", _rule("    min: 1.5\n", check="row_count"), True),
    ("row_count_huge", _rule("    max: 99999999999999999999999999\n", check="row_count"), True),
    ("row_count_min_gt_max", _rule("    min: 10\n    max: 2\n", check="row_count"), True),
    ("row_count_threshold", _rule("    min: 1\n    threshold: 0.1\n", check="row_count"), True),
    ("string_length_reversed", _rule("    column: a\n    min: 9\n    max: 3\n", check="string_length"), True),
    ("aggregate_nan", _rule("    column: a\n    stat: mean\n    max: .nan\n", check="aggregate"), True),
    ("aggregate_reversed", _rule("    column: a\n    stat: mean\n    min: 5\n    max: 1\n", check="aggregate"), True),
    ("aggregate_unknown_stat", _rule("    column: a\n    stat: median\n    max: 1\n", check="aggregate"), True),
    ("sample_size_huge", _rule("    column: a\n    use_sampling: true\n    sample_size: 99999999999999999999999999\n"), True),
    ("sample_size_2_64", _rule("    column: a\n    use_sampling: true\n    sample_size: 18446744073709551616\n"), True),
    ("sample_size_zero", _rule("    column: a\n    sample_size: 0\n"), True),
    ("sample_size_text", _rule("    column: a\n    sample_size: 10k\n"), True),
    ("sample_size_float", _rule("    column: a\n    sample_size: 1.5e3\n"), True),
    ("cooldown_negative", _rule("    column: a\n    alert_cooldown_minutes: -5\n"), True),
    ("cooldown_huge", _rule("    column: a\n    alert_cooldown_minutes: 1000000000000\n"), True),
    ("cooldown_text", _rule("    column: a\n    alert_cooldown_minutes: an hour\n"), True),
    ("lookback_bad", _rule("    column: a\n    partition_column: d\n    partition_lookback: soon\n"), True),
    ("lookback_without_column", _rule("    column: a\n    partition_lookback: 1d\n"), True),
    ("where_invalid", _rule("    column: a\n    where: 'a >>> b'\n"), True),
    ("where_list", _rule("    column: a\n    where: [a, b]\n"), True),
    ("regex_lookbehind", _rule("    column: a\n    pattern: '(?<=a)b'\n", check="regex"), True),
    ("regex_unclosed", _rule("    column: a\n    pattern: '([a-z'\n", check="regex"), True),
    ("freshness_bad_age", _rule("    column: a\n    max_age: soon\n", check="freshness"), True),
    ("freshness_no_age", _rule("    column: a\n", check="freshness"), True),
    ("threshold_five", _rule("    column: a\n    threshold: 5\n"), True),
    ("threshold_percent_text", _rule("    column: a\n    threshold: 5%\n"), True),
    ("fail_bare_number", _rule("    column: a\n    fail: 5\n"), True),
    ("fail_bad_percent", _rule("    column: a\n    fail: 'abc%'\n"), True),
    ("fail_over_100", _rule("    column: a\n    fail: '150%'\n"), True),
    ("fail_and_threshold", _rule("    column: a\n    fail: '1%'\n    threshold: 0.1\n"), True),
    ("null_rate_no_threshold", _rule("    column: a\n", check="null_rate"), True),
    ("values_empty", _rule("    column: a\n    values: []\n", check="accepted_values"), True),
    ("values_mapping", _rule("    column: a\n    values: {a: 1}\n", check="accepted_values"), True),
    ("values_nested", _rule("    column: a\n    values: [[1, 2]]\n", check="accepted_values"), True),
    ("schema_unknown_type", _rule("    columns: {a: varchar2}\n", check="schema"), True),
    ("schema_columns_list", _rule("    columns: [a, b]\n", check="schema"), True),
    ("referential_no_table", _rule("    column: a\n    ref_column: b\n", check="referential"), True),
    ("unique_columns_string", _rule("    columns: a\n", check="unique"), True),
    ("unique_both_column_forms", _rule("    column: a\n    columns: [a]\n", check="unique"), True),
    ("row_condition_invalid", _rule("    expression: 'amount >'\n", check="row_condition"), True),
    ("rule_cron_feb31", _rule("    column: a\n    schedule: '0 0 31 2 *'\n"), True),
    ("rule_cron_seven_fields", _rule("    column: a\n    schedule: '* * * * * * * *'\n"), True),
    ("rule_description_list", _rule("    column: a\n    description: [a]\n"), True),
    ("rule_owner_number", _rule("    column: a\n    owner: 42\n"), True),
]


def _binary_variants() -> Iterator[tuple[str, bytes, bool]]:
    rng = random.Random(13)
    yield "latin1", GOOD.replace("fuzz@company.com", "caf\u00e9@company.com").encode("latin-1"), True
    yield "windows1252_quotes", GOOD.replace("owner: fuzz", "owner: \u201cfuzz\u201d").encode("cp1252"), True
    yield "utf16_bom", GOOD.encode("utf-16"), True
    yield "utf16_be_bom", b"\xfe\xff" + GOOD.encode("utf-16-be"), True
    yield "utf32_bom", GOOD.encode("utf-32"), True
    yield "nul_bytes", GOOD.encode().replace(b"table: fuzz", b"table: fu\x00zz"), True
    yield "random_binary", bytes(rng.randrange(256) for _ in range(4096)), True
    yield "png_header", b"\x89PNG\r\n\x1a\n" + bytes(rng.randrange(256) for _ in range(512)), True
    yield "gzipped_manifest", gzip.compress(GOOD.encode(), mtime=0), True
    yield "truncated_utf8", GOOD.encode() + "\u00e9".encode()[:1], True
    yield "oversized_3mb", GOOD.encode() + b"# pad\n" * 550_000, False


def variants() -> list[tuple[str, bytes, bool]]:
    """Every malformed variant: (name, content, has_line)."""
    return [(n, t.encode("utf-8"), line) for n, t, line in TEXT_VARIANTS] + list(_binary_variants())
