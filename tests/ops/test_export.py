import json

import polars as pl
import pytest
import yaml

from ops import export
from ops.errors import InvalidRequest
from tests.ops.store_data import NOW, load_rules, populate, write_manifests


@pytest.fixture
def populated(store_url, tmp_path, monkeypatch):
    rules = write_manifests(tmp_path / "rules")
    monkeypatch.setenv("DQ_RULES_DIR", str(rules))
    monkeypatch.setenv("DQ_NOW", NOW.isoformat())
    load_rules(rules)
    return populate()


def _export(path, kind="runs", **filters):
    return export.export(export.ExportRequest(kind=kind, path=path, **filters))


def test_every_format_holds_the_same_rows(populated, tmp_path) -> None:
    counts = {fmt: _export(tmp_path / f"runs.{fmt}", days=30).rows for fmt in export.FORMATS}
    assert counts == dict.fromkeys(export.FORMATS, 2)
    assert pl.read_csv(tmp_path / "runs.csv")["id"].to_list() == populated["new_runs"]
    assert pl.read_parquet(tmp_path / "runs.parquet")["started_at"].dtype == pl.Datetime("us", "UTC")
    assert [r["id"] for r in yaml.safe_load((tmp_path / "runs.yaml").read_text())] == populated["new_runs"]
    assert [r["id"] for r in json.loads((tmp_path / "runs.json").read_text())] == populated["new_runs"]


def test_json_nests_documents_and_keeps_nan_apart_from_null(populated, tmp_path, store_url) -> None:
    frame = pl.DataFrame({"id": [1, 2], "observed_value": [float("nan"), None], "metrics": ['{"a": [1, null]}', None]})
    export.write_frame(frame, tmp_path / "r.json", "json", ("metrics",))
    assert json.loads((tmp_path / "r.json").read_text()) == [
        {"id": 1, "observed_value": "NaN", "metrics": {"a": [1, None]}},
        {"id": 2, "observed_value": None, "metrics": None},
    ]


def test_filters(populated, tmp_path) -> None:
    assert _export(tmp_path / "v.json", kind="violations", days=1).rows == 2  # still failing: last seen within a day
    assert _export(tmp_path / "v.json", kind="violations").rows == 6
    assert _export(tmp_path / "r.json", rule_name="orders_id_not_null").rows == 5  # runs that checked the rule
    assert _export(tmp_path / "r.json", suite="gold.customers").rows == 0
    assert _export(tmp_path / "rules.json", kind="rules", suite="silver.orders").rows == 3
    assert _export(tmp_path / "empty.csv", days=0).rows == 0
    assert pl.read_csv(tmp_path / "empty.csv").columns[:3] == ["id", "suite", "source"]  # typed even when empty


def test_an_existing_file_is_replaced_whole(populated, tmp_path) -> None:
    target = tmp_path / "runs.json"
    target.write_text("old contents that are much longer than nothing" * 1000)
    _export(target, days=0)
    assert json.loads(target.read_text()) == []
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp file left


@pytest.mark.parametrize(
    ("request_args", "message"),
    [
        ({"kind": "alerts"}, "unknown kind 'alerts'"),
        ({"days": -1}, "--days must be zero or more"),
        ({"days": float("nan")}, "--days must be zero or more"),
        ({"format": "xml"}, "unknown format 'xml'"),
    ],
)
def test_bad_requests(sqlite_store, tmp_path, request_args, message) -> None:
    args = {"kind": "runs", "path": tmp_path / "x.json", **request_args}
    with pytest.raises(InvalidRequest, match=message):
        export.export(export.ExportRequest(**args))


def test_exported_violations_carry_what_the_incident_ticket_needs(populated, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("DQ_CONSOLE_URL", "https://dq.company.com/")
    _export(tmp_path / "v.json", kind="violations", days=30)
    [first, *_] = json.loads((tmp_path / "v.json").read_text())
    assert {k: first[k] for k in ("table_name", "layer", "data_classes", "owner")} == {
        "table_name": "silver.orders", "layer": "silver", "data_classes": ["financial"], "owner": "data-eng"}
    assert first["console_link"] == f"https://dq.company.com/violations?violation={first['id']}"
    _export(tmp_path / "v.csv", kind="violations", days=30)
    frame = pl.read_csv(tmp_path / "v.csv")
    assert frame["console_link"].to_list()[0].endswith(f"violation={first['id']}")


def test_a_markdown_export_is_one_ticket_section_per_violation(populated, tmp_path) -> None:
    result = _export(tmp_path / "tickets.md", kind="violations", days=30)
    text = (tmp_path / "tickets.md").read_text()
    assert result.format == "markdown"
    assert text.count("\n## Violation #") == result.rows
    section = text.split("\n## ")[1]
    lines = section.splitlines()
    assert lines[2:4] == ["| field | value |", "| --- | --- |"]
    assert lines[4] == "| table name | silver.orders |"
    assert "| data classes | financial |" in lines and any(line.startswith("| console link | http") for line in lines)
    assert all(line.count("|") - line.count("\\|") == 3 for line in lines[2:] if line.startswith("|"))
