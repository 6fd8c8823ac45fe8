"""The parsed rule manifest as frozen dataclasses; nothing downstream of the parser sees raw dicts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from engine.anomaly import AnomalySettings


class Severity(StrEnum):
    INFO = "INFO"
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"
    CRITICAL = "CRITICAL"

    @property
    def rank(self) -> int:
        return list(Severity).index(self)


class Layer(StrEnum):
    BRONZE = "bronze"
    SILVER = "silver"
    GOLD = "gold"


class DataClass(StrEnum):
    PII = "pii"
    FINANCIAL = "financial"
    COMPLIANCE = "compliance"


@dataclass(frozen=True)
class Level:
    """A warn or fail level of a row-level rule: a count of rows or a fraction of rows.

    The rule reaches the level when failing rows > max_rows, or failing/tested > max_fraction.
    """

    max_rows: int | None = None
    max_fraction: float | None = None

    def exceeded(self, failing: int, tested: int) -> bool:
        if self.max_rows is not None:
            return failing > self.max_rows
        fraction = failing / tested if tested else 0.0
        return fraction > (self.max_fraction or 0.0)

    def describe(self) -> str:
        if self.max_rows is not None:
            return f"more than {self.max_rows} row{'s' if self.max_rows != 1 else ''}"
        return f"more than {self.max_fraction:.4%} of rows".replace(".0000%", "%")



ANY_FAILING_ROW = Level(max_rows=0)


@dataclass(frozen=True)
class Rule:
    name: str
    suite: str
    check: str
    params: Mapping[str, Any]
    severity: Severity
    enabled: bool = True
    description: str | None = None
    owner: str | None = None
    schedule: str | None = None  # cron; None = the suite's
    use_sampling: bool = False
    sample_size: int | None = None
    partition_column: str | None = None
    partition_lookback: str | None = None  # e.g. "1d": newest value minus this; None = newest value only
    alert_cooldown_minutes: int | None = None
    parallel_degree: int | None = None  # connections the read may use (the runbook's tuning key)
    use_index: bool | None = None  # hints for a pushdown executor; the local one reads without them
    query_hint: str | None = None
    where: str | None = None  # Polars SQL filter; the rule sees only matching rows
    warn: Level | None = None
    fail: Level | None = None
    file: str | None = None
    line: int | None = None
    definition: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    anomaly: AnomalySettings | None = None  # watched by the detector (check: anomaly, or an `anomaly:` block)

    def param(self, name: str, default: Any = None) -> Any:
        return self.params.get(name, default)


@dataclass(frozen=True)
class Source:
    name: str
    kind: str = "sql"  # sql | parquet
    description: str | None = None
    url_env: str | None = None  # environment variable holding the URL
    demo: bool = False  # falls back to the bundled demo warehouse when no URL is configured
    file: str | None = None
    line: int | None = None


@dataclass(frozen=True)
class Suite:
    name: str
    source: str
    table: str  # without the schema
    schema: str | None
    layer: Layer
    data_classes: tuple[DataClass, ...]
    pii_columns: tuple[str, ...]
    rules: tuple[Rule, ...]
    schedule: str | None = None
    timezone: str | None = None
    owner: str | None = None
    description: str | None = None
    enabled: bool = True
    file: str | None = None
    line: int | None = None
    execution: str | None = None  # local | pushdown | auto; None: the DQ_EXECUTION setting
    definition: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def qualified_table(self) -> str:
        return f"{self.schema}.{self.table}" if self.schema else self.table

    def rule(self, name: str) -> Rule:
        for rule in self.rules:
            if rule.name == name:
                return rule
        raise KeyError(name)


@dataclass(frozen=True)
class Catalog:
    sources: Mapping[str, Source]
    suites: tuple[Suite, ...]
    warnings: tuple[Any, ...] = ()  # engine.errors.Problem: accepted, but worth saying in a dry run

    def suite(self, name: str) -> Suite:
        for suite in self.suites:
            if suite.name == name:
                return suite
        raise KeyError(name)

    @property
    def rules(self) -> tuple[Rule, ...]:
        return tuple(rule for suite in self.suites for rule in suite.rules)
