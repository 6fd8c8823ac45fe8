"""Addresses of the rule and table pages (and deep links into the others), the same on every page."""

from __future__ import annotations

from urllib.parse import quote

import polars as pl

RULE_PAGE = "pages/rule.py"
TABLE_PAGE = "pages/table.py"
RULE_TEXT = r"rule\?name=(.*)$"  # LinkColumn display_text: show the name, link the page
TABLE_TEXT = r"table\?suite=(.*)$"
RUN_TEXT = r"runs\?run=(\d+)$"
VIOLATION_TEXT = r"violations\?violation=(\d+)$"


def rule_url(name: str) -> str:
    return f"rule?name={quote(name, safe='._-')}"


def table_url(suite: str) -> str:
    return f"table?suite={quote(suite, safe='._-')}"


def run_url(run_id: int) -> str:
    return f"runs?run={run_id}"


def violation_url(violation_id: int) -> str:
    return f"violations?violation={violation_id}"


def rule_urls(column: str) -> pl.Expr:
    return pl.concat_str(pl.lit("rule?name="), pl.col(column))


def table_urls(column: str) -> pl.Expr:
    return pl.concat_str(pl.lit("table?suite="), pl.col(column))


def run_urls(column: str) -> pl.Expr:
    return pl.concat_str(pl.lit("runs?run="), pl.col(column).cast(pl.Utf8))


def violation_urls(column: str) -> pl.Expr:
    return pl.concat_str(pl.lit("violations?violation="), pl.col(column).cast(pl.Utf8))


def linked(frame: pl.DataFrame, rule: str | None = "rule_name", suite: str | None = "suite",
           violation: str | None = None) -> tuple[pl.DataFrame, dict[str, object]]:
    """`frame` with its rule / suite / violation columns turned into links to their pages, and the
    column_config that shows them as names (for st.dataframe)."""
    import streamlit as st  # console/ is the Streamlit side; kept local so the URL helpers stay plain

    config: dict[str, object] = {}
    exprs = []
    if rule and rule in frame.columns:
        exprs.append(rule_urls(rule).alias(rule))
        config[rule] = st.column_config.LinkColumn(rule.replace("_", " "), display_text=RULE_TEXT)
    if suite and suite in frame.columns:
        exprs.append(table_urls(suite).alias(suite))
        config[suite] = st.column_config.LinkColumn("table (suite)", display_text=TABLE_TEXT)
    if violation and violation in frame.columns:
        exprs.append(violation_urls(violation).alias(violation))
        config[violation] = st.column_config.LinkColumn("violation", display_text=VIOLATION_TEXT)
    return (frame.with_columns(exprs) if exprs else frame), config
