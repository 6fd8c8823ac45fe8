"""Rule manifests (YAML) parsed once into a frozen Catalog, with every problem reported at once.

A manifest file holds one suite (one table) or a stream of suites separated by `---`; a document
with a top-level `sources:` key defines named sources (rules/sources.yaml). Each problem names the
file, the line, the rule, the key and the fix. Field reference: docs/rules.md.
"""

from __future__ import annotations

import json
import math
import re
import zoneinfo
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from hashlib import sha256
from pathlib import Path
from types import MappingProxyType
from typing import Any

import polars as pl
from croniter import CroniterBadDateError, croniter

from engine import hints
from engine.anomaly import DIRECTIONS, SEASONALITIES, AnomalySettings
from engine.checks import CHECKS, CheckType, Param
from engine.coltypes import PORTABLE_TYPES, PRECISE_FORMS, expected_type_error
from engine.durations import parse_duration
from engine.errors import EngineError, ManifestError, Problem
from engine.model import Catalog, DataClass, Layer, Level, Rule, Severity, Source, Suite
from engine.sources import resolve
from engine.yamlsource import LineMap, read_documents
from settings import SettingsError

SUITE_KEYS = (
    "suite", "source", "table", "schema", "layer", "data_classes", "pii_columns", "schedule",
    "timezone", "owner", "description", "enabled", "rules", "execution",
)
RULE_KEYS = (
    "name", "check", "severity", "enabled", "description", "owner", "schedule", "use_sampling",
    "sample_size", "partition_column", "partition_lookback", "alert_cooldown_minutes", "where",
    "warn", "fail", "threshold", "parameters", "parallel_degree", "use_index", "query_hint", "renamed_from",
    "anomaly",
)
# The detector's settings, in a rule's `anomaly:` block (docs/checks.md "Anomaly detection").
ANOMALY_KEYS = ("sensitivity", "seasonality", "min_training_points", "min_absolute_change", "min_relative_change",
                "direction", "training_window", "detection_period")
# The runbooks nest tuning keys and check parameters under `parameters:`; they mean the same there.
PARAMETERS_KEYS = (
    "use_sampling", "sample_size", "partition_column", "partition_lookback", "alert_cooldown_minutes",
    "parallel_degree", "use_index", "query_hint", "where", "warn", "fail", "threshold",
)
MAX_PARALLEL_DEGREE = 64
SOURCE_KEYS = ("kind", "description", "url_env", "demo")
SECRET_KEYS = ("url", "uri", "dsn", "password", "connection", "connection_string", "host")
SCHEMA_TYPES = PORTABLE_TYPES + PRECISE_FORMS
DEFAULT_SAMPLE_SIZE = 10_000
MAX_RULES_PER_FILE = 2_000
MAX_INT = 2**63 - 1  # the store keeps counts in 64-bit integers
MAX_COOLDOWN_MINUTES = 525_600  # one year
MAX_MESSAGE_CHARS = 300  # a problem quoting a huge value quotes its start only
# Longest value per key: the store's column widths, and what a person can read in the console.
MAX_CHARS = {"suite": 200, "name": 200, "source": 200, "table": 400, "schema": 200, "owner": 200,
             "check": 50, "description": 10_000, "where": 10_000, "partition_column": 200}
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")
_LEVEL_ROWS = re.compile(r"^\s*(\d+)\s*rows?\s*$")
_LEVEL_PCT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%\s*$")
_TOLERANCE_PCT = re.compile(r"^\s*\d+(?:\.\d+)?\s*%\s*$")


# --- YAML with line numbers (engine/yamlsource.py) -------------------------------------------

_LineMap = LineMap


def _plain(value: Any) -> Any:
    """Line-annotated YAML back to plain dicts and lists (what the store keeps)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _line(mapping: Any, key: str | None = None) -> int | None:
    if not isinstance(mapping, _LineMap):
        return None
    if key is not None and key in mapping.key_lines:
        return mapping.key_lines[key]
    return mapping.line


# --- small parsers shared with the engine ----------------------------------------------------


def parse_level(value: Any) -> Level:
    """"5%" or {max_fraction: 0.05} -> a fraction; "10 rows" or {max_rows: 10} -> a count."""
    if isinstance(value, dict):
        keys = set(value)
        if keys == {"max_rows"} and _is_int(value["max_rows"]) and value["max_rows"] >= 0:
            return Level(max_rows=int(value["max_rows"]))
        if keys == {"max_fraction"} and _is_number(value["max_fraction"]) and 0 <= value["max_fraction"] <= 1:
            return Level(max_fraction=float(value["max_fraction"]))
    elif isinstance(value, str):
        if match := _LEVEL_ROWS.match(value):
            return Level(max_rows=int(match.group(1)))
        if (match := _LEVEL_PCT.match(value)) and float(match.group(1)) <= 100:
            return Level(max_fraction=float(match.group(1)) / 100)
    raise ValueError(f"{value!r} is neither a count nor a fraction of rows")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def rule_hash(rule: Rule, suite: Suite) -> str:
    """Identity of what a rule checks: its definition plus the table it runs on."""
    payload = {"rule": dict(rule.definition), "source": suite.source, "table": suite.qualified_table}
    return sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


# --- the parser ------------------------------------------------------------------------------


@dataclass
class _Context:
    file: str
    problems: list[Problem] = field(default_factory=list)

    def add(self, mapping: Any, key: str | None, message: str, hint: str, rule: str | None = None) -> None:
        if len(message) > MAX_MESSAGE_CHARS:
            message = message[: MAX_MESSAGE_CHARS - 3] + "..."
        if rule is not None and len(rule) > 80:
            rule = rule[:77] + "..."
        self.problems.append(Problem(self.file, _line(mapping, key), message, hint, rule, key))


def _check_keys(ctx: _Context, mapping: Mapping[str, Any], allowed: Iterable[str], what: str, rule: str | None = None) -> None:
    allowed = tuple(allowed)
    for key in mapping:
        if key in SECRET_KEYS:
            ctx.add(mapping, key, f"{what} must not hold connection details",
                    "connection URLs and secrets come from the environment (DQ_SOURCE_<NAME>_URL) "
                    "or .streamlit/secrets.toml, never from rule files", rule)
        elif key not in allowed:
            ctx.add(mapping, key, f"unknown key in {what}", f"allowed keys are {', '.join(allowed)}", rule)


def _string(ctx: _Context, mapping: Mapping[str, Any], key: str, *, required: bool = False,
            rule: str | None = None) -> str | None:
    value = mapping.get(key)
    if value is None:
        if required:
            ctx.add(mapping, key, "is required", f"add `{key}:` to the {'rule' if rule else 'suite'}", rule)
        return None
    if not isinstance(value, str) or not value.strip():
        ctx.add(mapping, key, f"must be a non-empty string, got {value!r}", f"write `{key}: some-text`", rule)
        return None
    limit = MAX_CHARS.get(key)
    if limit is not None and len(value) > limit:
        ctx.add(mapping, key, f"is {len(value):,} characters long, more than the {limit:,} allowed",
                "shorten it" + ("; keep long text in docs and link to it" if key == "description" else ""), rule)
        return None
    return value


def _bool(ctx: _Context, mapping: Mapping[str, Any], key: str, default: bool, rule: str | None = None) -> bool:
    value = mapping.get(key, default)
    if not isinstance(value, bool):
        ctx.add(mapping, key, f"must be true or false, got {value!r}", f"write `{key}: true` or `{key}: false`", rule)
        return default
    return value


def _cron(ctx: _Context, mapping: Mapping[str, Any], rule: str | None = None) -> str | None:
    value = _string(ctx, mapping, "schedule", rule=rule)
    if value is not None and not croniter.is_valid(value):
        ctx.add(mapping, "schedule", f"{value!r} is not a valid cron expression",
                'use five fields "minute hour day month weekday", e.g. "*/15 * * * *"', rule)
        return None
    if value is not None and not _fires(value):
        ctx.add(mapping, "schedule", f"{value!r} never fires (no such date, e.g. February 31)",
                "pick a day that exists in the month, e.g. \"0 0 28 2 *\"", rule)
        return None
    return value


def _fires(expression: str) -> bool:
    """Whether a valid cron expression ever fires (croniter accepts "0 0 31 2 *")."""
    try:
        croniter(expression, datetime(2000, 1, 1)).get_next(datetime)
    except (CroniterBadDateError, ValueError, OverflowError):
        return False
    return True


def _string_list(ctx: _Context, mapping: Mapping[str, Any], key: str, rule: str | None = None) -> list[str]:
    value = mapping.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        ctx.add(mapping, key, f"must be a list of names, got {value!r}", f"write `{key}: [a, b]`", rule)
        return []
    return value


def _enum_list(ctx: _Context, mapping: Mapping[str, Any], key: str, enum: type[DataClass]) -> tuple[DataClass, ...]:
    allowed = [e.value for e in enum]
    result = []
    for value in _string_list(ctx, mapping, key):
        if value.lower() in allowed:
            result.append(enum(value.lower()))
        else:
            ctx.add(mapping, key, f"unknown value {value!r}", f"use any of {', '.join(allowed)}")
    return tuple(result)


def parse_sources(document: Mapping[str, Any], file: str, problems: list[Problem]) -> dict[str, Source]:
    ctx = _Context(file, problems)
    raw = document.get("sources")
    if not isinstance(raw, dict):
        ctx.add(document, "sources", "must be a mapping of source names", "write `sources: {warehouse: {kind: sql}}`")
        return {}
    sources = {}
    for name, spec in raw.items():
        spec = spec if spec is not None else _LineMap()
        if not isinstance(spec, dict):
            ctx.add(raw, name, f"source {name!r} must be a mapping", "write `kind: sql` under it")
            continue
        _check_keys(ctx, spec, SOURCE_KEYS, f"source {name!r}")
        kind = spec.get("kind", "sql")
        if kind not in ("sql", "parquet"):
            ctx.add(spec, "kind", f"unknown source kind {kind!r}", "use sql or parquet")
        url_env = spec.get("url_env")
        if url_env is not None and not (isinstance(url_env, str) and re.fullmatch(r"[A-Z_][A-Z0-9_]*", url_env)):
            ctx.add(spec, "url_env", f"{url_env!r} is not an environment variable name", "write e.g. `url_env: DQ_SOURCE_WAREHOUSE_URL`")
            url_env = None
        sources[str(name)] = Source(
            name=str(name), kind=str(kind), description=spec.get("description"), url_env=url_env,
            demo=_bool(ctx, spec, "demo", False), file=file, line=_line(raw, name),
        )
    return sources


def _param_value(ctx: _Context, rule_map: Mapping[str, Any], param: Param, rule: str) -> Any:
    value = rule_map[param.name]
    kind = param.kind
    ok: bool
    hint = f"see `{param.name}` of this check in docs/checks.md"
    if kind == "column":
        ok = isinstance(value, str) and bool(value)
        hint = f"write `{param.name}: column_name`"
    elif kind == "columns":
        ok = isinstance(value, list) and bool(value) and all(isinstance(v, str) and v for v in value)
        hint = f"write `{param.name}: [col_a, col_b]`"
    elif kind == "number":
        ok = _is_number(value) and math.isfinite(value)
        hint = f"write a finite number, e.g. `{param.name}: 10.5` (NaN and infinity bound nothing; leave the key out)"
    elif kind == "integer":
        ok = _is_int(value) and 0 <= value <= MAX_INT
        hint = f"write a whole number from 0 to {MAX_INT}, e.g. `{param.name}: 100`"
    elif kind in ("string", "sql", "regex", "duration", "choice"):
        ok = isinstance(value, str) and bool(value)
    elif kind == "values":
        ok = isinstance(value, list) and bool(value) and all(isinstance(v, str | int | float | bool) for v in value)
        hint = f"write `{param.name}: [a, b, c]`"
    elif kind == "mapping":
        ok = isinstance(value, dict) and bool(value)
        hint = f"write `{param.name}: {{column: type}}`"
    elif kind == "tolerance":
        ok = (_is_number(value) and value >= 0) or (isinstance(value, str) and bool(_TOLERANCE_PCT.match(value)))
        hint = f'write an absolute difference (`{param.name}: 5`) or a relative one (`{param.name}: "1%"`)'
    elif kind == "boolean":
        ok = isinstance(value, bool)
        hint = f"write `{param.name}: true` or `false`"
    elif kind == "bound":
        ok = (_is_number(value) and math.isfinite(value)) or _is_iso_time(value) or hasattr(value, "isoformat")
        hint = (f"write a finite number or an ISO date/time, e.g. `{param.name}: 0` or "
                f"`{param.name}: '2024-01-01'` (NaN and infinity bound nothing; leave the key out)")
    else:  # pragma: no cover - the table in engine/checks.py only uses the kinds above
        ok = True
    if not ok:
        ctx.add(rule_map, param.name, f"has the wrong type ({value!r}, expected {kind})", hint, rule)
        return None
    return _deep_check(ctx, rule_map, param, value, rule)


def _deep_check(ctx: _Context, rule_map: Mapping[str, Any], param: Param, value: Any, rule: str) -> Any:
    kind = param.kind
    if kind == "regex":
        try:
            pl.select(pl.lit("x").str.contains(value))
        except Exception as exc:  # polars raises ComputeError for a bad pattern
            ctx.add(rule_map, param.name, f"invalid regular expression {value!r}: {_one_line(exc)}",
                    "the engine uses Rust regex syntax (no look-around or back-references)", rule)
            return None
    elif kind == "sql":
        error = sql_expression_error(value)
        if error:
            ctx.add(rule_map, param.name, f"invalid SQL expression {value!r}: {error}",
                    "write a Polars SQL boolean expression, e.g. \"amount >= 0 AND status <> 'x'\"", rule)
            return None
    elif kind == "duration":
        try:
            parse_duration(value)
        except EngineError:
            ctx.add(rule_map, param.name, f"{value!r} is not a duration", 'write e.g. "30m", "2h" or "1d"', rule)
            return None
    elif kind == "choice" and value not in param.choices:
        ctx.add(rule_map, param.name, f"unknown value {value!r}", f"use any of {', '.join(param.choices)}", rule)
        return None
    elif kind == "mapping":
        bad = {k: v for k, v in value.items() if expected_type_error(str(v))}
        if bad:
            ctx.add(rule_map, param.name, f"unknown column types {bad}", f"use any of {', '.join(SCHEMA_TYPES)}", rule)
            return None
        return {str(k): str(v).lower() for k, v in value.items()}
    elif kind == "string" and param.name == "timezone":
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            ctx.add(rule_map, param.name, f"unknown time zone {value!r}", "use an IANA name such as UTC or Europe/Berlin", rule)
            return None
    if hasattr(value, "isoformat"):
        return value.isoformat()  # YAML dates become ISO strings, so definitions stay JSON
    return _plain(value)


def _is_iso_time(value: Any) -> bool:
    if not isinstance(value, str) or not value.strip():
        return False
    try:
        datetime.fromisoformat(value.strip())
    except ValueError:
        return False
    return True


def _bounds_order(ctx: _Context, rule_map: Mapping[str, Any], params: Mapping[str, Any], label: str) -> None:
    """min must not exceed max (numbers with numbers, dates with dates)."""
    low, high = params.get("min"), params.get("max")
    if low is None or high is None:
        return
    if _is_number(low) and _is_number(high):
        ordered = low <= high
    elif isinstance(low, str) and isinstance(high, str) and _is_iso_time(low) and _is_iso_time(high):
        a, b = datetime.fromisoformat(low), datetime.fromisoformat(high)
        if (a.tzinfo is None) != (b.tzinfo is None):
            ctx.add(rule_map, "max", f"min {low!r} and max {high!r} mix a time zone with none",
                    "give both bounds an offset (e.g. +00:00) or neither", label)
            return
        ordered = a <= b
    else:
        ctx.add(rule_map, "max", f"min {low!r} and max {high!r} are not of one kind",
                "give two numbers or two ISO dates", label)
        return
    if not ordered:
        ctx.add(rule_map, "max", f"min {low!r} is greater than max {high!r}: no value can pass",
                "swap them, or fix the one that is wrong", label)


def sql_expression_error(expression: str) -> str | None:
    """Why a Polars SQL expression does not parse, or None when it does."""
    try:
        pl.sql_expr(expression)
    except Exception as exc:  # polars raises SQLSyntaxError / ComputeError
        return _one_line(exc)
    return None


def _one_line(exc: Exception, limit: int = 200) -> str:
    text = " ".join(str(exc).split("This error occurred")[0].split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _levels(ctx: _Context, rule_map: Mapping[str, Any], check: CheckType, name: str) -> tuple[Level | None, Level | None]:
    levels: dict[str, Level | None] = {"warn": None, "fail": None}
    for key in ("warn", "fail", "threshold"):
        if key in rule_map and not check.row_level:
            ctx.add(rule_map, key, f"`{key}` applies to row-level checks only, not to {check.name}",
                    "bound the observed value with `min:` / `max:` (or `max_age:` for freshness)", name)
            return None, None
    for key in ("warn", "fail"):
        if key in rule_map:
            try:
                levels[key] = parse_level(rule_map[key])
            except ValueError:
                ctx.add(rule_map, key, f"{rule_map[key]!r} is ambiguous or invalid",
                        f'write a fraction of rows as `{key}: "5%"` or a count as `{key}: "10 rows"`', name)
    if "threshold" in rule_map:
        value = rule_map["threshold"]
        if "fail" in rule_map:
            ctx.add(rule_map, "threshold", "`threshold` and `fail` both set the fail level", "keep one of them", name)
        elif _is_number(value) and 0 <= value <= 1:
            levels["fail"] = Level(max_fraction=float(value))
        else:
            ctx.add(rule_map, "threshold", f"{value!r} is not a fraction between 0 and 1",
                    'threshold is the max failing fraction (0.05 = 5%); for a count write `fail: "10 rows"`', name)
    elif check.name == "null_rate" and "fail" not in rule_map:
        ctx.add(rule_map, "threshold", "null_rate needs the largest acceptable null fraction",
                "add `threshold: 0.05` (5% nulls allowed)", name)
    return levels["warn"], levels["fail"]


def _flatten_parameters(ctx: _Context, rule_map: LineMap, check: CheckType | None, label: str) -> LineMap:
    """The rule with its `parameters:` block (the runbooks' form) lifted to the top level."""
    block = rule_map.get("parameters")
    if block is None:
        return rule_map
    if not isinstance(block, dict):
        ctx.add(rule_map, "parameters", f"must be a mapping, got {block!r}",
                "write `parameters: {alert_cooldown_minutes: 60}` or put the keys on the rule itself", label)
        return rule_map
    allowed = PARAMETERS_KEYS + (check.param_names() if check else ())
    flat = LineMap({k: v for k, v in rule_map.items() if k != "parameters"})
    flat.line, flat.key_lines = rule_map.line, dict(rule_map.key_lines)
    for key, value in block.items():
        if key not in allowed:
            what = f"rule {label!r}" + (f" ({check.name})" if check else "")
            ctx.add(block, key, f"unknown key in `parameters:` of {what}", f"allowed keys are {', '.join(allowed)}", label)
        elif key in rule_map:
            ctx.add(block, key, f"`{key}` is set both on the rule and under `parameters:`", "keep one of them", label)
        else:
            flat[key] = value
            flat.key_lines[str(key)] = _line(block, key) or flat.line
    return flat


def _tuning(ctx: _Context, rule_map: Mapping[str, Any], label: str) -> tuple[int | None, bool | None, str | None]:
    """parallel_degree, use_index and query_hint: the runbook's performance-tuning keys."""
    degree = rule_map.get("parallel_degree")
    if degree is not None and not (_is_int(degree) and 1 <= degree <= MAX_PARALLEL_DEGREE):
        ctx.add(rule_map, "parallel_degree", f"must be a whole number from 1 to {MAX_PARALLEL_DEGREE}, got {degree!r}",
                "e.g. `parallel_degree: 4` (connections the read may use)", label)
        degree = None
    use_index = rule_map.get("use_index")
    if use_index is not None and not isinstance(use_index, bool):
        ctx.add(rule_map, "use_index", f"must be true or false, got {use_index!r}", "write `use_index: true`", label)
        use_index = None
    hint = _string(ctx, rule_map, "query_hint", rule=label)
    if hint is not None:
        try:
            hints.parse(hint)
        except hints.HintError as exc:
            message, _, fix = str(exc).partition(". Hint: ")
            ctx.add(rule_map, "query_hint", message, fix, label)
            hint = None
    return degree, use_index, hint


def _anomaly(ctx: _Context, rule_map: Mapping[str, Any], check: CheckType, label: str) -> AnomalySettings | None:
    """The rule's detector settings: its `anomaly:` block (defaults for `check: anomaly` without one)."""
    block = rule_map.get("anomaly")
    if block is None:
        return AnomalySettings() if check.name == "anomaly" else None
    if check.name == "schema":
        ctx.add(rule_map, "anomaly", "a schema rule has no number to watch",
                "put `anomaly:` on a rule with an observed value (row_count, aggregate, null_rate, ...)", label)
        return None
    if not isinstance(block, dict):
        ctx.add(rule_map, "anomaly", f"must be a mapping of detector settings, got {block!r}",
                "write e.g. `anomaly: {sensitivity: 3, seasonality: day_of_week}` (or `anomaly: {}` for the defaults)", label)
        return None
    before = len(ctx.problems)
    _check_keys(ctx, block, ANOMALY_KEYS, f"the `anomaly:` block of rule {label!r}", label)
    defaults = AnomalySettings()

    def number(key: str, default: float, low: float, low_open: bool = False) -> float:
        value = block.get(key, default)
        if isinstance(value, str) and key == "min_relative_change" and _TOLERANCE_PCT.match(value):
            value = float(value.strip().rstrip("%")) / 100
        if not (_is_number(value) and math.isfinite(value) and (value > low if low_open else value >= low)):
            ctx.add(block, key, f"must be a number {'above' if low_open else 'of at least'} {low:g}, got {value!r}",
                    {"sensitivity": "e.g. `sensitivity: 3` (how many robust deviations the band is wide)",
                     "min_absolute_change": "e.g. `min_absolute_change: 100` (in the metric's unit)",
                     "min_relative_change": 'e.g. `min_relative_change: 0.1` or `"10%"`'}.get(key, f"fix `{key}:`"), label)
            return default
        return float(value)

    def choice(key: str, default: str, allowed: tuple[str, ...]) -> str:
        value = block.get(key, default)
        if value not in allowed:
            ctx.add(block, key, f"unknown value {value!r}", f"use any of {', '.join(allowed)}", label)
            return default
        return str(value)

    def hours(key: str, default: float) -> float:
        if key not in block:
            return default
        try:
            return parse_duration(block[key]).total_seconds() / 3600
        except EngineError:
            ctx.add(block, key, f"{block[key]!r} is not a duration", 'write e.g. "56d", "8w" or "2d"', label)
            return default

    points = block.get("min_training_points", defaults.min_training_points)
    if not (_is_int(points) and 2 <= points <= 100_000):
        ctx.add(block, "min_training_points", f"must be a whole number from 2 to 100000, got {points!r}",
                "e.g. `min_training_points: 14` (two weeks of daily points)", label)
        points = defaults.min_training_points
    settings = AnomalySettings(
        seasonality=choice("seasonality", defaults.seasonality, SEASONALITIES),
        sensitivity=number("sensitivity", defaults.sensitivity, 0, low_open=True),
        min_training_points=int(points),
        min_abs_change=number("min_absolute_change", defaults.min_abs_change, 0),
        min_rel_change=number("min_relative_change", defaults.min_rel_change, 0),
        direction=choice("direction", defaults.direction, DIRECTIONS),
        training_days=hours("training_window", defaults.training_days * 24) / 24,
        detection_hours=hours("detection_period", defaults.detection_hours),
    )
    if settings.training_days < 1:
        ctx.add(block, "training_window", f"{block.get('training_window')!r} is shorter than a day",
                'train on at least a day, e.g. `training_window: "56d"`', label)
    elif settings.detection_hours >= settings.training_days * 24:
        ctx.add(block, "detection_period", "is as long as the training window: nothing would be left to train on",
                "make the detection period shorter than `training_window`", label)
    return settings if len(ctx.problems) == before else None


def _parse_rule(ctx: _Context, rule_map: Any, suite_map: Mapping[str, Any], suite_name: str) -> Rule | None:
    if not isinstance(rule_map, dict):
        ctx.add(suite_map, "rules", f"each rule must be a mapping, got {rule_map!r}", "start each rule with `- name: ...`")
        return None
    written = rule_map
    before = len(ctx.problems)
    name = _string(ctx, rule_map, "name", required=True)
    if name is not None and not _NAME.match(name):
        ctx.add(rule_map, "name", f"{name!r} has characters a rule name cannot have",
                "use letters, digits, _ . and - (e.g. orders_id_unique)", name)
    label = name or f"<rule at line {_line(rule_map)}>"
    check_name = _string(ctx, rule_map, "check", required=True, rule=label)
    check = CHECKS.get(check_name or "")
    if check_name is not None and check is None:
        ctx.add(rule_map, "check", f"unknown check type {check_name!r}", f"use any of {', '.join(CHECKS)}", label)
    allowed = RULE_KEYS + (check.param_names() if check else ())
    if check is not None:
        _check_keys(ctx, rule_map, allowed, f"rule {label!r} ({check.name})", label)
    if isinstance(rule_map, LineMap):
        rule_map = _flatten_parameters(ctx, rule_map, check, label)
    severity_text = rule_map.get("severity")
    severity = None
    if severity_text is None:
        ctx.add(rule_map, "severity", "is required", f"add `severity:` with one of {', '.join(Severity)}", label)
    elif str(severity_text).upper() not in Severity.__members__:
        ctx.add(rule_map, "severity", f"unknown severity {severity_text!r}", f"use one of {', '.join(Severity)}", label)
    else:
        severity = Severity(str(severity_text).upper())
    params: dict[str, Any] = {}
    warn = fail = None
    watch: AnomalySettings | None = None
    if check is not None:
        for param in check.params:
            if param.name in rule_map:
                params[param.name] = _param_value(ctx, rule_map, param, label)
            elif param.required:
                ctx.add(rule_map, param.name, f"{check.name} needs `{param.name}`", param.doc or f"add `{param.name}:`", label)
        if check.validate:
            for message in check.validate({k: v for k, v in params.items() if v is not None}):
                ctx.add(rule_map, None, f"{check.name} {message}", "see docs/checks.md", label)
        _bounds_order(ctx, rule_map, params, label)
        warn, fail = _levels(ctx, rule_map, check, label)
        watch = _anomaly(ctx, rule_map, check, label)
    where = _string(ctx, rule_map, "where", rule=label)
    if where is not None and (error := sql_expression_error(where)):
        ctx.add(rule_map, "where", f"invalid SQL filter {where!r}: {error}", "write a Polars SQL boolean expression", label)
    sample_size = rule_map.get("sample_size")
    if sample_size is not None and not (_is_int(sample_size) and 0 < sample_size <= MAX_INT):
        ctx.add(rule_map, "sample_size", f"must be a whole number from 1 to {MAX_INT}, got {sample_size!r}",
                "e.g. `sample_size: 10000`", label)
        sample_size = None
    cooldown = rule_map.get("alert_cooldown_minutes")
    if cooldown is not None and not (_is_int(cooldown) and 0 <= cooldown <= MAX_COOLDOWN_MINUTES):
        ctx.add(rule_map, "alert_cooldown_minutes",
                f"must be a whole number from 0 to {MAX_COOLDOWN_MINUTES} (a year), got {cooldown!r}",
                "e.g. `alert_cooldown_minutes: 60`", label)
    lookback = rule_map.get("partition_lookback")
    if lookback is not None:
        try:
            parse_duration(lookback)
        except EngineError:
            ctx.add(rule_map, "partition_lookback", f"{lookback!r} is not a duration", 'write e.g. "1d" or "6h"', label)
        if "partition_column" not in rule_map:
            ctx.add(rule_map, "partition_lookback", "needs `partition_column`", "name the column that partitions the table", label)
    partition_column = _string(ctx, rule_map, "partition_column", rule=label)
    use_sampling = _bool(ctx, rule_map, "use_sampling", False, label)
    enabled = _bool(ctx, rule_map, "enabled", True, label)
    schedule = _cron(ctx, rule_map, label)
    owner = _string(ctx, rule_map, "owner", rule=label)
    description = _string(ctx, rule_map, "description", rule=label)
    parallel_degree, use_index, query_hint = _tuning(ctx, rule_map, label)
    # The rule's previous name: loading keeps its store row (id, versions, results) under the new name.
    renamed_from = _string(ctx, rule_map, "renamed_from", rule=label)
    if renamed_from is not None and (renamed_from == name or not _NAME.match(renamed_from)):
        ctx.add(rule_map, "renamed_from", f"{renamed_from!r} is not a previous rule name",
                "name the rule's old name, e.g. `renamed_from: orders_id_not_null`", label)
    if len(ctx.problems) != before or name is None or check is None or severity is None:
        return None
    return Rule(
        anomaly=watch,
        name=name, suite=suite_name, check=check.name, params=MappingProxyType(params), severity=severity,
        enabled=enabled, description=description, owner=owner or suite_map.get("owner"), schedule=schedule,
        use_sampling=use_sampling,
        sample_size=sample_size if sample_size is not None else (DEFAULT_SAMPLE_SIZE if use_sampling else None),
        partition_column=partition_column, partition_lookback=lookback,
        alert_cooldown_minutes=cooldown, parallel_degree=parallel_degree, use_index=use_index,
        query_hint=query_hint, where=where, warn=warn, fail=fail, file=ctx.file,
        line=_line(rule_map), definition=MappingProxyType(_plain(written)),
    )


def parse_suite(document: Mapping[str, Any], file: str, sources: Mapping[str, Source] | None,
                problems: list[Problem]) -> Suite | None:
    """One suite document -> Suite; problems are appended. sources=None skips the source check."""
    ctx = _Context(file, problems)
    before = len(problems)
    _check_keys(ctx, document, SUITE_KEYS, "a suite")
    name = _string(ctx, document, "suite", required=True)
    source = _string(ctx, document, "source", required=True)
    if source is not None and sources is not None and source not in sources:
        known = ", ".join(sorted(sources)) or "none"
        ctx.add(document, "source", f"source {source!r} is not defined (defined: {known})",
                "define it in rules/sources.yaml and set its URL in DQ_SOURCE_<NAME>_URL")
    table = _string(ctx, document, "table", required=True)
    schema = _string(ctx, document, "schema")
    if table is not None and schema is None and "." in table:
        schema, table = table.split(".", 1)
    layer_text = document.get("layer")
    layer = None
    if layer_text is None:
        ctx.add(document, "layer", "is required", f"add `layer:` with one of {', '.join(Layer)}")
    elif str(layer_text).lower() not in [x.value for x in Layer]:
        ctx.add(document, "layer", f"unknown layer {layer_text!r}", f"use one of {', '.join(Layer)}")
    else:
        layer = Layer(str(layer_text).lower())
    data_classes = _enum_list(ctx, document, "data_classes", DataClass)
    pii_columns = tuple(_string_list(ctx, document, "pii_columns"))
    if DataClass.PII in data_classes and not pii_columns:
        ctx.add(document, "data_classes", "a pii suite must list its pii_columns",
                "add `pii_columns: [...]` naming the columns that hold personal data, so failing-row samples mask them")
    schedule = _cron(ctx, document)
    timezone = _string(ctx, document, "timezone")
    owner = _string(ctx, document, "owner")
    description = _string(ctx, document, "description")
    execution = _string(ctx, document, "execution")
    if execution is not None and execution not in EXECUTIONS:
        ctx.add(document, "execution", f"unknown execution {execution!r}", f"use one of {', '.join(EXECUTIONS)}")
    if timezone is not None:
        try:
            zoneinfo.ZoneInfo(timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            ctx.add(document, "timezone", f"unknown time zone {timezone!r}", "use an IANA name such as UTC")
    raw_rules = document.get("rules", [])
    if not isinstance(raw_rules, list):
        ctx.add(document, "rules", "must be a list of rules", "write each rule as `- name: ...`")
        raw_rules = []
    if len(raw_rules) > MAX_RULES_PER_FILE:
        ctx.add(document, "rules", f"has {len(raw_rules):,} rules, more than the {MAX_RULES_PER_FILE:,} one suite may have",
                "one suite checks one table; split generated rules over several tables' suites")
        raw_rules = []
    rules = [_parse_rule(ctx, r, document, name or "?") for r in raw_rules]
    seen: dict[str, int | None] = {}
    for rule in rules:
        if rule is None:
            continue
        if rule.name in seen:
            ctx.problems.append(Problem(file, rule.line, f"duplicate rule name (first at line {seen[rule.name]})",
                                        "rule names are unique across all manifests; rename one", rule.name, "name"))
        seen[rule.name] = rule.line
    if len(problems) != before or name is None or source is None or table is None or layer is None:
        return None
    definition = {k: _plain(v) for k, v in document.items() if k != "rules"}
    return Suite(
        name=name, source=source, table=table, schema=schema, layer=layer, data_classes=data_classes,
        pii_columns=pii_columns, rules=tuple(r for r in rules if r is not None), schedule=schedule,
        timezone=timezone, owner=owner, description=description,
        enabled=_bool(ctx, document, "enabled", True), file=file, line=_line(document), execution=execution,
        definition=MappingProxyType(definition),
    )


EXECUTIONS = ("local", "pushdown", "auto")


def _documents(path: Path, problems: list[Problem]) -> list[Any]:
    return read_documents(path, problems)


def manifest_files(paths: Sequence[str | Path]) -> list[Path]:
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml")))
        elif path.is_file():
            files.append(path)
        else:
            raise ManifestError([Problem(str(path), None, "no such file or folder", "give a manifest file or a folder of them")])
    return files


def load_catalog(paths: Sequence[str | Path], default_sources: Path | None = None, *,
                 allow_empty: bool = False) -> Catalog:
    """Parse manifests (files or folders) into a Catalog, or raise ManifestError listing every problem.

    Sources come from documents with a `sources:` key among `paths`; when there is none, from
    `default_sources` (the caller passes DQ_RULES_DIR/sources.yaml). A file with no document
    (empty, or only comments) is a problem unless `allow_empty`: an emptied manifest would
    otherwise disable its suite without a word (`load_dq_rules --prune` allows it).
    """
    problems: list[Problem] = []
    files = manifest_files(paths)
    if default_sources is not None and default_sources.is_file() and default_sources.resolve() not in {f.resolve() for f in files}:
        files = [default_sources, *files]
    parsed: list[tuple[Path, Any]] = []
    for file in files:
        before = len(problems)
        documents = _documents(file, problems)
        if not documents and len(problems) == before and not allow_empty:
            problems.append(Problem(str(file), None, "holds no suite (the file is empty or only comments); "
                                    "loading it would disable the suites it held",
                                    "restore its rules, delete the file, or pass --prune to disable its suites on purpose"))
        parsed.extend((file, d) for d in documents)
    sources: dict[str, Source] = {}
    for file, document in parsed:
        if isinstance(document, dict) and "sources" in document:
            sources.update(parse_sources(document, str(file), problems))
    suites: list[Suite] = []
    first_rule: dict[str, Rule] = {}
    first_suite: dict[str, Suite] = {}
    for file, document in parsed:
        if isinstance(document, dict) and "sources" in document:
            continue
        if not isinstance(document, dict):
            problems.append(Problem(str(file), None, "a manifest document must be a mapping", "start it with `suite: layer.table`"))
            continue
        suite = parse_suite(document, str(file), sources, problems)
        if suite is None:
            continue
        if suite.name in first_suite:
            other = first_suite[suite.name]
            problems.append(Problem(str(file), suite.line, f"suite {suite.name!r} is also defined at {other.file}:{other.line}",
                                    "one suite per table: merge the two", key="suite"))
        first_suite.setdefault(suite.name, suite)
        for rule in suite.rules:
            if rule.name in first_rule and first_rule[rule.name].suite != suite.name:
                other_rule = first_rule[rule.name]
                problems.append(Problem(str(file), rule.line, f"duplicate rule name, also at {other_rule.file}:{other_rule.line}",
                                        "rule names are unique across all manifests; rename one", rule.name, "name"))
            first_rule.setdefault(rule.name, rule)
        suites.append(suite)
    if problems:
        raise ManifestError(problems)
    return Catalog(sources=MappingProxyType(sources), suites=tuple(suites), warnings=tuple(_hint_warnings(suites, sources)))


def _hint_warnings(suites: Sequence[Suite], sources: Mapping[str, Source]) -> list[Problem]:
    """Where use_index/query_hint do nothing, or wait on the source (index names are checked at run time)."""
    found = []
    for suite in suites:
        dialect = _dialect(sources.get(suite.source))
        for rule in suite.rules:
            key = "query_hint" if rule.query_hint else "use_index"
            why = _hint_warning(rule, suite, dialect)
            if why is not None:
                found.append(Problem(rule.file or suite.file or "<store>", rule.line, why[0], why[1], rule.name, key))
    return found


def _hint_warning(rule: Rule, suite: Suite, dialect: str | None) -> tuple[str, str] | None:
    if rule.use_index is None and rule.query_hint is None:
        return None
    if rule.query_hint is None:
        return (f"use_index: {str(rule.use_index).lower()} names no index, so no hint is sent",
                f'add `query_hint: "INDEX({suite.table}, <index or column>)"` or remove use_index')
    if rule.use_index is False:
        return "use_index: false switches its query_hint off", "remove use_index: false to send the hint"
    written = hints.parse(rule.query_hint).table
    if written is not None and written.rpartition(".")[2].lower() != suite.table.lower():
        return (f"query_hint names table {written!r}, but the suite reads {suite.table}: the rule will "
                "not run (could not check) until they agree",
                f'write `query_hint: "INDEX({suite.table}, <index or column>)"`')
    if dialect == "parquet":
        return ("use_index/query_hint are hints for SQL; this source is Parquet, read without SQL, so they are ignored",
                "remove them")
    if dialect == "postgresql":
        return ("PostgreSQL has no index hints of its own: query_hint is sent as a pg_hint_plan comment when "
                "the source has pg_hint_plan, and ignored (with a logged warning) when it does not",
                "install pg_hint_plan in the source and load it (shared_preload_libraries = 'pg_hint_plan')")
    if rule.parallel_degree and rule.parallel_degree > 1:
        return ("a read with an index hint is not split into partitions (connectorx would rewrite the hint away), "
                "so parallel_degree is not used", "keep one of query_hint and parallel_degree")
    return None


def _dialect(source: Source | None) -> str | None:
    """The source's dialect from its URL as configured now; None when it is not configured here."""
    if source is None:
        return None
    try:
        return resolve(source).dialect
    except (EngineError, SettingsError):  # a source not configured where rules are loaded: checked at run time
        return None


def suite_from_definitions(suite_definition: Mapping[str, Any], rule_definitions: Sequence[Mapping[str, Any]],
                           file: str = "<store>") -> Suite:
    """Rebuild a Suite from the definitions the store keeps (same validation as a file)."""
    problems: list[Problem] = []
    suite = parse_suite({**suite_definition, "rules": list(rule_definitions)}, file, None, problems)
    if suite is None:
        raise ManifestError(problems)
    return suite


def load_sources(path: Path) -> dict[str, Source]:
    """The named sources of one sources file (DQ_RULES_DIR/sources.yaml); {} when it is absent."""
    if not path.is_file():
        return {}
    problems: list[Problem] = []
    sources: dict[str, Source] = {}
    for document in _documents(path, problems):
        if isinstance(document, dict) and "sources" in document:
            sources.update(parse_sources(document, str(path), problems))
    if problems:
        raise ManifestError(problems)
    return sources
