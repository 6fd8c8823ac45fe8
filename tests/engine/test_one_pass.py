"""One pass per read, whatever fails: the counts, extras and failing-row samples of every rule come
from one scan of the source, counted by the reader (engine.reader.SCANS), from Parquet and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import reader as reader_module
from engine.evaluate import evaluate_suite
from engine.model import Layer, Source, Suite
from engine.results import SuiteReport, Verdict
from tests.conftest import connectorx_url
from tests.engine.conftest import EDGE, NOW, Warehouse, edge_frame, rules_from_yaml, write_parquet

# Four rules fail (one with its duplicates extra), one passes; every failing one keeps a sample.
RULES = """
- {name: name_present, check: not_null, column: name, severity: HIGH}
- {name: select_unique, check: unique, column: select, severity: HIGH}
- {name: amount_positive, check: between, column: amount, min: 0, severity: HIGH}
- {name: status_known, check: accepted_values, column: status, values: [NEW, OLD], severity: HIGH}
- {name: id_present, check: not_null, column: id, severity: HIGH}
"""
EXPECTED = {  # rule -> (verdict, failing rows, ids of the sampled rows)
    "name_present": (Verdict.FAILED, 1, [3]),
    "select_unique": (Verdict.FAILED, 5, [1, 2, 3, 4, 5]),
    "amount_positive": (Verdict.FAILED, 1, [5]),
    "status_known": (Verdict.FAILED, 1, [3]),
    "id_present": (Verdict.PASSED, 0, []),
}


def _assert_one_pass(report: SuiteReport, source: str, scans_before: int) -> None:
    got = {r.rule_name: (r.status, r.failing_rows, [row["id"] for row in r.sample]) for r in report.results}
    assert got == EXPECTED, [r.message for r in report.results]
    unique = next(r for r in report.results if r.rule_name == "select_unique")
    assert unique.metrics["duplicated_values"] == 2 and unique.metrics["extra_copies"] == 3
    assert reader_module.SCANS[source] - scans_before == 1


def test_a_parquet_suite_with_several_failing_rules_scans_the_file_once(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    write_parquet(tmp_path / "lake", "silver", EDGE, edge_frame())
    monkeypatch.setenv("DQ_SOURCE_LAKE_URL", str(tmp_path / "lake"))
    suite = Suite(name="edge", source="lake", table=EDGE, schema="silver", layer=Layer.SILVER, data_classes=(),
                  pii_columns=(), rules=tuple(rules_from_yaml(RULES)))
    before = reader_module.SCANS["lake"]

    report = evaluate_suite(suite, {"lake": Source("lake", kind="parquet")}, now=NOW, sample_rows=10)

    _assert_one_pass(report, "lake", before)


@pytest.mark.parametrize("reader", ["adbc", "connectorx"])
def test_a_postgresql_suite_with_several_failing_rules_reads_the_rows_once(
        pg_warehouse: str, reader: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DQ_TEST_WH_URL", connectorx_url(pg_warehouse))
    monkeypatch.setenv("DQ_READER", reader)
    before = reader_module.SCANS["wh"]

    report = Warehouse("postgresql", connectorx_url(pg_warehouse)).run(rules_from_yaml(RULES), sample_rows=10)

    _assert_one_pass(report, "wh", before)


def test_samples_are_capped_and_masked_in_the_same_pass(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_parquet(tmp_path / "lake", "silver", EDGE, edge_frame())
    monkeypatch.setenv("DQ_SOURCE_LAKE_URL", str(tmp_path / "lake"))
    suite = Suite(name="edge", source="lake", table=EDGE, schema="silver", layer=Layer.SILVER, data_classes=(),
                  pii_columns=("name",), rules=tuple(rules_from_yaml(RULES)))
    before = reader_module.SCANS["lake"]

    report = evaluate_suite(suite, {"lake": Source("lake", kind="parquet")}, now=NOW, sample_rows=2)

    unique = next(r for r in report.results if r.rule_name == "select_unique")
    assert [row["id"] for row in unique.sample] == [1, 2]
    assert [row["name"] for row in unique.sample] == ["***", "***"]
    assert list(unique.sample[0])[0] == "select"  # the rule's own column first, as the console shows it
    assert reader_module.SCANS["lake"] - before == 1
