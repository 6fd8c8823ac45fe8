"""Backfill an anomaly rule's history from its table: the metric per bucket of its timestamp column, in one query.

One read of the columns the rule needs, bounded in the source by the reader's partition window
(the newest `max_buckets` buckets of the timestamp column), and one Polars group_by on the
bucket, keeping the `max_buckets` complete buckets before the one being judged. Counting metrics (rows) get 0 for a
bucket without rows between the first bucket seen and the judged one: a missed load is a
point, not a hole. Other metrics skip empty buckets (they have no value there).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

import polars as pl

from engine.checks import (
    EPOCH,
    Context,
    bucket_of,
    epoch_us,
    last_bucket,
    metric_value,
    sql_expression,
)
from engine.errors import CheckFailedToRun
from engine.model import Rule, Source, Suite
from engine.plan import table_of
from engine.reader import ReadSpec, Window, reader_for
from engine.sources import resolve

COUNTING = ("row_count", "rows_per_bucket")


def backfillable(rule: Rule) -> bool:
    """Whether the rule's metric has a per-bucket history the table itself can tell."""
    return rule.check == "anomaly" and bucket_of(rule.params) is not None


def bucket_history(suite: Suite, rule: Rule, sources: Mapping[str, Source], now: datetime,
                   max_buckets: int) -> list[tuple[datetime, float | None]]:
    """(bucket start, value) for up to `max_buckets` complete buckets before the newest one, oldest first."""
    bucket = bucket_of(rule.params)
    if bucket is None:
        raise CheckFailedToRun(f"rule {rule.name!r} has no bucketed metric to backfill. "
                               "Hint: give it `timestamp_column:` (and `bucket:`).")
    source = sources.get(suite.source)
    if source is None:
        raise CheckFailedToRun(f"source {suite.source!r} is not declared. Hint: add it to rules/sources.yaml.")
    reader = reader_for(resolve(source))
    table = reader.describe(table_of(suite))
    where = sql_expression(rule.where, "where").fill_null(False) if rule.where else None
    ctx = Context(table.schema, reader.location.dialect, where, {}, suite.source, now, table.declared)
    stamp = str(rule.params["timestamp_column"])
    value = metric_value(rule.params, ctx)
    needed = [stamp, *value.meta.root_names(), *(where.meta.root_names() if where is not None else ())]
    columns = tuple(dict.fromkeys(c for c in needed if c in table.schema))
    # The source reads only the newest max_buckets (+1) buckets' rows (the reader's partition window).
    window = Window(stamp, bucket * (max_buckets + 1))
    frame = reader.read(ReadSpec(table_of(suite), columns, window=window)).frame
    first_start, newest_start = _range(now, bucket, max_buckets)
    size = bucket // timedelta(microseconds=1)
    index = (epoch_us(ctx, stamp, "UTC", "anomaly backfill") // size).alias("__bucket")
    low, high = _index(first_start, size), _index(newest_start, size)
    grouped = (frame.with_columns(index).filter(pl.col("__bucket").is_between(low, high, closed="left"))
               .group_by("__bucket").agg(value.alias("__value")).collect())
    values = dict(zip(grouped["__bucket"].to_list(), grouped["__value"].to_list(), strict=True))
    if not values:
        return []
    start = min(values) if rule.params["metric"] in COUNTING else low
    points: list[tuple[datetime, float | None]] = []
    for position in range(start, high):
        found = values.get(position)
        if found is None and rule.params["metric"] in COUNTING:
            found = 0
        if found is not None:
            points.append((EPOCH + timedelta(microseconds=position * size), float(found)))
    return points


def _range(now: datetime, bucket: timedelta, max_buckets: int) -> tuple[datetime, datetime]:
    newest_start, _ = last_bucket(now, bucket)
    return newest_start - bucket * max_buckets, newest_start


def _index(at: datetime, size: int) -> int:
    return ((at - EPOCH) // timedelta(microseconds=1)) // size
