"""Spark SQL over Parquet: local mode, a cluster or a Spark Connect server (`DQ_SPARK_URL`); a timer interrupts.

The statement reads `parquet.`<path>`` directly, so nothing is registered in the session and the
same SQL runs over Spark Connect. One SparkSession per process (getOrCreate): starting a JVM costs
seconds, so it is kept for the next run rather than stopped by `close`.
"""

from __future__ import annotations

import threading
import uuid
from pathlib import Path
from typing import Any

import polars as pl
from sqlglot import exp

import settings
from engine.model import Source
from engine.pushdown.backend import PushdownError, PushdownTimeout, frame, register, unavailable
from engine.reader import TableRef
from engine.sources import mask

try:
    import pyspark
    from pyspark.sql import SparkSession
except ImportError:  # an optional package (requirements-dev.txt): without it a pushed-down rule is an ERROR
    pyspark = None  # type: ignore[assignment]


def spark_session(url: str | None = None) -> Any:
    """The process's SparkSession for `url` (default DQ_SPARK_URL): sc:// is Spark Connect, else a master."""
    url = url or str(settings.get("DQ_SPARK_URL"))
    builder = SparkSession.builder.appName("dq-pushdown")
    if url.startswith("sc://"):
        return builder.remote(url).config("spark.sql.session.timeZone", "UTC").getOrCreate()
    builder = builder.master(url).config("spark.ui.enabled", "false").config("spark.sql.session.timeZone", "UTC")
    if url.startswith("local"):
        # A few rows per test and two cores here: 200 shuffle partitions would be 200 empty tasks per GROUP BY.
        builder = builder.config("spark.sql.shuffle.partitions", "4").config("spark.driver.memory", "1g").config(
            "spark.ui.showConsoleProgress", "false").config("spark.sql.adaptive.enabled", "false")
    return builder.getOrCreate()


def parquet_path(base: str, table: TableRef) -> str:
    """The table's file `<base>/<schema>/<table>.parquet`, else its folder (Spark discovers hive partitions)."""
    folder = f"{base.rstrip('/')}/{table.schema}" if table.schema else base.rstrip("/")
    single = f"{folder}/{table.name}.parquet"
    if not base.startswith("s3://") and Path(single).is_file():
        return single
    return f"{folder}/{table.name}"


class SparkBackend:
    dialect = "spark"

    def __init__(self, source: Source, url: str) -> None:
        self.source, self.url = source, url
        try:
            self.spark = spark_session()
        except Exception as exc:  # noqa: BLE001 - py4j and Spark Connect raise many kinds
            raise PushdownError(f"source {source.name!r}: Spark did not start: {mask(str(exc).splitlines()[0])}. "
                                "Hint: check DQ_SPARK_URL and Java 17, or use `execution: local`.") from exc

    def relation(self, table: TableRef) -> exp.Expression:
        return exp.Table(this=exp.to_identifier(parquet_path(self.url, table), quoted=True),
                         db=exp.to_identifier("parquet"))

    def run(self, statement: exp.Expression, *, timeout_seconds: float) -> pl.DataFrame:
        sql = statement.sql(dialect=self.dialect)
        tag = f"dq-pushdown-{uuid.uuid4().hex[:12]}"
        expired = threading.Event()

        def interrupt() -> None:
            expired.set()
            self.spark.interruptTag(tag)

        self.spark.addTag(tag)
        timer = threading.Timer(timeout_seconds, interrupt)
        timer.daemon = True
        timer.start()
        try:
            result = self.spark.sql(sql)
            names = list(result.columns)
            rows = [tuple(row) for row in result.collect()]
        except Exception as exc:  # noqa: BLE001 - AnalysisException, Py4JJavaError, SparkConnectGrpcException
            if expired.is_set():
                raise PushdownTimeout(f"the pushdown statement ran past {timeout_seconds:g} s and was interrupted. "
                                      "Hint: raise DQ_PUSHDOWN_TIMEOUT_SECONDS or use `execution: local`.") from exc
            reason = mask(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__, self.url)
            raise PushdownError(f"{reason}. Hint: use `execution: local` for this suite.") from exc
        finally:
            timer.cancel()
            self.spark.removeTag(tag)
        return frame(names, rows)

    def estimated_rows(self, table: TableRef) -> int | None:
        return None  # no catalog statistics for a path: `auto` keeps such tables local

    def close(self) -> None:
        """The session stays up for the next run (see the module docstring)."""


register("spark", SparkBackend if pyspark is not None else unavailable(
    "Spark", "the `pyspark` package is not installed. Hint: `pip install pyspark` (requirements-dev.txt) "
    "and Java 17, or use `execution: local`"))
