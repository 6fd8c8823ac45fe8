"""`export_dq_data`: violations, runs, rules or the rule manifest written to a JSON, CSV, YAML or Parquet file."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import yaml
from sqlalchemy.engine import Engine

import clock
import settings
from ops import manifest_export
from ops.errors import ExportFailed, InvalidRequest
from ops.files import check_writable, write_atomically
from store import db
from store import export as store_export
from store.schema import rules, runs, violations

KINDS = ("violations", "runs", "rules", "manifest")
FORMATS = ("json", "csv", "yaml", "parquet", "markdown")
EXTENSIONS = {".json": "json", ".csv": "csv", ".yaml": "yaml", ".yml": "yaml", ".parquet": "parquet",
              ".md": "markdown", ".markdown": "markdown"}
_TABLES = {"violations": violations, "runs": runs, "rules": rules}


@dataclass(frozen=True)
class ExportRequest:
    kind: str
    path: Path
    days: float | None = None
    rule_name: str | None = None
    suite: str | None = None
    format: str | None = None  # None = from the file extension


@dataclass(frozen=True)
class ExportResult:
    kind: str
    path: Path
    format: str
    rows: int  # suites for a manifest


def export(request: ExportRequest, engine: Engine | None = None) -> ExportResult:
    """Validate the request, read the rows in one read transaction, write the file atomically."""
    fmt = _validate(request)
    since = None if request.days is None else clock.utcnow() - timedelta(days=request.days)
    with db.read(engine) as conn:
        _check_filters(conn, request)
        if request.kind == "manifest":
            text, count = manifest_export.manifest_yaml(conn, suite=request.suite)
            text = settings.scrub(text)
            _write(request.path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
            return ExportResult(request.kind, request.path, fmt, count)
        frame = scrubbed(_frame(conn, request, since))
    table = _TABLES[request.kind]
    json_cols = store_export.json_columns(table)
    if request.kind == "violations":
        frame = frame.with_columns(console_link=pl.format("{}/violations?violation={}", pl.lit(_console()), pl.col("id")))
        json_cols += store_export.TICKET_JSON_COLUMNS
    if fmt == "markdown":
        text = markdown_tickets(request.kind, frame, json_cols)
        _write(request.path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    else:
        _write(request.path, lambda tmp: write_frame(frame, tmp, fmt, json_cols))
    return ExportResult(request.kind, request.path, fmt, frame.height)


def scrubbed(frame: pl.DataFrame) -> pl.DataFrame:
    """Every text column with URL passwords and secret values masked (an old error text may quote one)."""
    secrets = settings.secret_values()
    masks = []
    for name, dtype in frame.schema.items():
        if dtype == pl.Utf8:
            column = pl.col(name).str.replace_all(settings.USERINFO_PATTERN, "${scheme}${user}:***@")
            for secret in secrets:
                column = column.str.replace_all(secret, settings.MASK, literal=True)
            masks.append(column)
    return frame.with_columns(masks) if masks else frame


def _console() -> str:
    return str(settings.get("DQ_CONSOLE_URL")).rstrip("/")


# What an incident ticket shows first, per kind; the remaining non-empty fields follow.
_TICKET_ORDER = {
    "violations": ("table_name", "suite", "source", "layer", "data_classes", "owner", "severity", "status",
                   "message", "observed_value", "threshold", "failing_rows", "detected_at", "last_seen_at",
                   "occurrences", "acknowledged_by", "ack_note", "console_link"),
    "runs": ("suite", "status", "trigger", "started_at", "finished_at"),
    "rules": ("suite", "table_name", "check_type", "severity", "owner", "status"),
}


def markdown_tickets(kind: str, frame: pl.DataFrame, json_cols: tuple[str, ...]) -> str:
    """One section per row, fields as a two-column table: pastes into JIRA or ServiceNow as it is."""
    out = [f"# {kind.capitalize()} export ({frame.height}, {clock.utcnow():%Y-%m-%d %H:%M} UTC)", ""]
    first = _TICKET_ORDER[kind]
    for row in (_nested(r, json_cols) for r in frame.to_dicts()):
        out += [f"## {_title(kind, row)}", "", "| field | value |", "| --- | --- |"]
        names = [n for n in first if n in row] + [n for n in row if n not in first]
        for name in names:
            value = row[name]
            if value is None or value == "" or name in ("id", "name", "rule_name", "definition", "params"):
                continue
            out.append(f"| {name.replace('_', ' ')} | {_cell(value)} |")
        out.append("")
    return "\n".join(out)


def _title(kind: str, row: dict[str, Any]) -> str:
    if kind == "violations":
        return f"Violation #{row['id']}: {row['rule_name']} ({row['severity']}, {row['status']})"
    if kind == "runs":
        return f"Run #{row['id']}: {row['suite']} ({row['status']})"
    return f"Rule {row['name']} ({row['severity']})"


def _cell(value: Any) -> str:
    if isinstance(value, list | tuple):
        value = ", ".join(str(v) for v in value) or "none"
    elif isinstance(value, dict):
        value = json.dumps(value, ensure_ascii=False, sort_keys=True)
    elif isinstance(value, float):
        value = f"{value:g}"
    text = " ".join(str(value).split())  # a newline would end the table row
    return text.replace("|", "\\|")


def format_of(path: Path, given: str | None) -> str:
    if given is not None:
        if given not in FORMATS:
            raise InvalidRequest(f"unknown format {given!r}. Hint: use one of {', '.join(FORMATS)}.")
        return given
    fmt = EXTENSIONS.get(path.suffix.lower())
    if fmt is None:
        raise InvalidRequest(
            f"cannot tell the format of {path} from its extension {path.suffix or '(none)'}. "
            f"Hint: name the file *.json, *.csv, *.yaml or *.parquet, or pass --format {{{','.join(FORMATS)}}}."
        )
    return fmt


def _validate(request: ExportRequest) -> str:
    if request.kind not in KINDS:
        raise InvalidRequest(f"unknown kind {request.kind!r}. Hint: export one of {', '.join(KINDS)}.")
    if request.days is not None and (math.isnan(request.days) or request.days < 0):
        raise InvalidRequest(f"--days must be zero or more, not {request.days:g}. Hint: --days=1 exports the last 24 hours.")
    if request.days is not None and request.kind in ("rules", "manifest"):
        raise InvalidRequest(f"--days does not apply to {request.kind}. Hint: drop --days; it filters violations and runs.")
    if request.kind == "manifest" and request.rule_name is not None:
        raise InvalidRequest("--rule-name does not apply to manifest. Hint: use --suite NAME, or export rules --rule-name NAME.")
    require_writable(request.path)
    fmt = format_of(request.path, request.format)
    if request.kind == "manifest" and fmt != "yaml":
        raise InvalidRequest(f"a manifest is YAML, not {fmt}. Hint: name the file *.yaml (or pass --format yaml).")
    return fmt


def require_writable(path: Path) -> None:
    problem = check_writable(path)
    if problem:
        raise InvalidRequest(f"cannot write {path}: {problem}. Hint: choose a new file or an existing regular file "
                             "(not a symlink, device or FIFO) in a writable folder.")


def write_text(path: Path, text: str) -> None:
    """Write an export that is already text (a bypass history) with the same target checks, atomically."""
    require_writable(path)
    _write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def _check_filters(conn: Any, request: ExportRequest) -> None:
    if request.rule_name is not None and not store_export.rule_exists(conn, request.rule_name):
        raise InvalidRequest(
            f"no rule named {request.rule_name!r} in the store. Hint: `python manage.py rules list` shows the names."
        )
    if request.suite is not None and not store_export.suite_exists(conn, request.suite):
        raise InvalidRequest(
            f"no suite named {request.suite!r} in the store. Hint: `python manage.py rules list` shows the suites."
        )


def _frame(conn: Any, request: ExportRequest, since: datetime | None) -> pl.DataFrame:
    if request.kind == "violations":
        return store_export.violations_frame(conn, since=since, rule_name=request.rule_name, suite=request.suite)
    if request.kind == "runs":
        return store_export.runs_frame(conn, since=since, rule_name=request.rule_name, suite=request.suite)
    return store_export.rules_frame(conn, rule_name=request.rule_name, suite=request.suite)


def _write(path: Path, write: Any) -> None:
    try:
        write_atomically(path, write)
    except OSError as exc:
        raise ExportFailed(f"cannot write {path}: {exc.strerror or exc}. Hint: check the folder's space and permissions.") from exc


def write_frame(frame: pl.DataFrame, path: Path, fmt: str, json_cols: tuple[str, ...] = ()) -> None:
    """Write `frame` as `fmt`; JSON and YAML nest the JSON columns, CSV and Parquet keep them as text."""
    if fmt == "parquet":
        frame.write_parquet(path)
    elif fmt == "csv":
        frame.write_csv(path)
    elif fmt == "json":
        records = [_jsonable(row, json_cols) for row in frame.to_dicts()]
        path.write_text(json.dumps(records, indent=2, ensure_ascii=False, allow_nan=False) + "\n", encoding="utf-8")
    else:
        records = [_nested(row, json_cols) for row in frame.to_dicts()]
        path.write_text(yaml.safe_dump(records, sort_keys=False, allow_unicode=True), encoding="utf-8")


def _nested(row: dict[str, Any], json_cols: tuple[str, ...]) -> dict[str, Any]:
    out = dict(row)
    for name in json_cols:
        if out.get(name) is not None:
            out[name] = json.loads(out[name])
    for name, value in out.items():
        if isinstance(value, datetime):
            out[name] = value.isoformat()
    return out


def _jsonable(row: dict[str, Any], json_cols: tuple[str, ...]) -> dict[str, Any]:
    out = _nested(row, json_cols)
    for name, value in out.items():
        if isinstance(value, float) and not math.isfinite(value):
            # JSON has no NaN or infinity; a string keeps them apart from null (no value).
            out[name] = "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return out
