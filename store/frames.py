"""Shared helpers for read queries that return Polars frames: materialise, bucket time, normalise UTC."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

UTC_TIME = pl.Datetime("us", "UTC")
Schema = Mapping[str, Any]  # column -> Polars dtype (class or instance)


def frame(conn: Connection, stmt: sa.Executable, schema: Schema) -> pl.DataFrame:
    """The rows of `stmt` as a frame with exactly `schema` (an empty result keeps its columns)."""
    rows = conn.execute(stmt).all()
    return pl.DataFrame([tuple(r) for r in rows], schema=dict(schema), orient="row")


def scalar(conn: Connection, stmt: sa.Executable) -> int:
    return int(conn.execute(stmt).scalar() or 0)


def bucket(conn: Connection, column: ColumnElement[datetime], unit: str) -> ColumnElement[str]:
    """`column` truncated to the hour or day in the database, as 'YYYY-MM-DD HH:00:00' text."""
    fmt = "%Y-%m-%d %H:00:00" if unit == "hour" else "%Y-%m-%d 00:00:00"
    dialect = conn.dialect.name
    if dialect == "sqlite":
        return sa.func.strftime(fmt, column)
    if dialect == "postgresql":
        pg = "YYYY-MM-DD HH24:00:00" if unit == "hour" else "YYYY-MM-DD 00:00:00"
        return sa.func.to_char(column, pg)
    return sa.func.date_format(column, fmt)  # MySQL / MariaDB


def parse_bucket(series_name: str) -> pl.Expr:
    """The text bucket of `bucket()` parsed back into an aware UTC datetime."""
    return (
        pl.col(series_name)
        .str.to_datetime("%Y-%m-%d %H:%M:%S", time_unit="us")
        .dt.replace_time_zone("UTC")
    )
