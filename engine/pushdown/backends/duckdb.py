"""DuckDB over Parquet: `read_parquet` of a file, a folder glob or an s3:// prefix, interrupted by a timer."""

from __future__ import annotations

import threading
from pathlib import Path

import polars as pl
from sqlglot import exp

from engine.model import Source
from engine.pushdown.backend import PushdownError, PushdownTimeout, register, tagged, unavailable
from engine.reader import TableRef
from engine.sources import mask

try:
    import duckdb
except ImportError:  # an optional package: without it a pushed-down Parquet rule is an ERROR naming the fix
    duckdb = None  # type: ignore[assignment]


def parquet_paths(base: str, table: TableRef) -> tuple[str, bool]:
    """(path or glob, hive partitioned) of a table under a Parquet base, as the local reader finds it:
    `<base>/<schema>/<table>.parquet`, else every file under `<base>/<schema>/<table>/`. An s3:// prefix
    cannot be listed without credentials here, so it is taken to be a folder (generated, not tested)."""
    folder = f"{base.rstrip('/')}/{table.schema}" if table.schema else base.rstrip("/")
    single = f"{folder}/{table.name}.parquet"
    if not base.startswith("s3://") and Path(single).is_file():
        return single, False
    return f"{folder}/{table.name}/**/*.parquet", True


def read_parquet(base: str, table: TableRef) -> exp.Expression:
    path, hive = parquet_paths(base, table)
    arguments: list[exp.Expression] = [exp.Literal.string(path)]
    if hive:
        arguments.append(exp.EQ(this=exp.column("hive_partitioning"), expression=exp.true()))
    return exp.Table(this=exp.Anonymous(this="read_parquet", expressions=arguments))


class DuckDBBackend:
    dialect = "duckdb"

    def __init__(self, source: Source, url: str) -> None:
        assert duckdb is not None
        self.source, self.url = source, url
        # In memory: DuckDB only reads the Parquet files; nothing is written anywhere.
        self.conn = duckdb.connect(":memory:")
        if url.startswith("s3://"):
            self.conn.execute("LOAD httpfs")

    def relation(self, table: TableRef) -> exp.Expression:
        return read_parquet(self.url, table)

    def run(self, statement: exp.Expression, *, timeout_seconds: float) -> pl.DataFrame:
        assert duckdb is not None
        sql = tagged(statement.sql(dialect=self.dialect))
        expired = threading.Event()

        def interrupt() -> None:
            expired.set()
            self.conn.interrupt()

        timer = threading.Timer(timeout_seconds, interrupt)
        timer.daemon = True
        timer.start()
        try:
            return self.conn.execute(sql).pl()
        except duckdb.Error as exc:
            if expired.is_set() or isinstance(exc, duckdb.InterruptException):
                raise PushdownTimeout(f"the pushdown statement ran past {timeout_seconds:g} s and was interrupted. "
                                      "Hint: raise DQ_PUSHDOWN_TIMEOUT_SECONDS or use `execution: local`.") from exc
            raise PushdownError(f"{mask(str(exc).splitlines()[0], self.url)}. "
                                "Hint: use `execution: local` for this suite.") from exc
        finally:
            timer.cancel()

    def estimated_rows(self, table: TableRef) -> int | None:
        """The row count from the Parquet footers (no data pages are read)."""
        path, _ = parquet_paths(self.url, table)
        try:
            row = self.conn.execute("SELECT sum(num_rows) FROM parquet_file_metadata(?)", [path]).fetchone()
        except Exception:  # noqa: BLE001 - no estimate: auto stays local
            return None
        return int(row[0]) if row and row[0] is not None else None

    def close(self) -> None:
        self.conn.close()


register("duckdb", DuckDBBackend if duckdb is not None else unavailable(
    "DuckDB", "the `duckdb` package is not installed. Hint: `pip install duckdb` (requirements.txt) "
    "or use `execution: local`"))
