"""SQLite: a read-only (mode=ro) connection; the timeout interrupts the statement from a progress handler."""

from __future__ import annotations

import sqlite3
import time
from contextlib import closing

import polars as pl
from sqlglot import exp

from engine.model import Source
from engine.pushdown.backend import PushdownError, PushdownTimeout, frame, register, table_relation
from engine.pushdown.backend import tagged as tagged_with_the_run
from engine.reader import TableRef


class SQLiteBackend:
    dialect = "sqlite"

    def __init__(self, source: Source, url: str) -> None:
        self.source = source
        self.path = url.split("://", 1)[1]
        try:
            self.conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
        except sqlite3.Error as exc:
            raise PushdownError(f"source {source.name!r}: {exc}. Hint: check the SQLite path.") from exc

    def relation(self, table: TableRef) -> exp.Expression:
        return table_relation(TableRef(None, table.name))

    def run(self, statement: exp.Expression, *, timeout_seconds: float) -> pl.DataFrame:
        sql = tagged_with_the_run(statement.sql(dialect=self.dialect))
        deadline = time.monotonic() + timeout_seconds
        self.conn.set_progress_handler(lambda: int(time.monotonic() > deadline), 10_000)
        try:
            with closing(self.conn.execute(sql)) as cur:
                names = [d[0] for d in cur.description or ()]
                rows = cur.fetchall()
        except sqlite3.OperationalError as exc:
            if "interrupted" in str(exc):
                raise PushdownTimeout(f"the pushdown statement ran past {timeout_seconds:g} s and was interrupted. "
                                      "Hint: raise DQ_PUSHDOWN_TIMEOUT_SECONDS or use `execution: local`.") from exc
            raise PushdownError(f"{exc}. Hint: use `execution: local` for this suite.") from exc
        finally:
            self.conn.set_progress_handler(None, 0)
        return frame(names, rows)

    def estimated_rows(self, table: TableRef) -> int | None:
        try:  # sqlite_stat1 exists only after ANALYZE; its first number is the table's row count
            row = self.conn.execute("SELECT stat FROM sqlite_stat1 WHERE tbl = ? AND idx IS NULL OR tbl = ? LIMIT 1",
                                    (table.name, table.name)).fetchone()
        except sqlite3.Error:
            return None
        return int(str(row[0]).split()[0]) if row else None

    def close(self) -> None:
        self.conn.close()


register("sqlite", SQLiteBackend)
