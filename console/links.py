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
