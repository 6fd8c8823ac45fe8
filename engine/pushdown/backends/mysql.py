"""MariaDB/MySQL: PyMySQL, a READ ONLY transaction, max_statement_time (MariaDB) / max_execution_time (MySQL)."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

import polars as pl
import pymysql
from sqlglot import exp

from engine.model import Source
from engine.pushdown.backend import PushdownError, PushdownTimeout, frame, register, table_relation
from engine.pushdown.backend import tagged as tagged_with_the_run
from engine.reader import TableRef
from engine.sources import mask

_TIMEOUT_ERRORS = {1969, 3024}  # MariaDB max_statement_time, MySQL max_execution_time


class MySQLBackend:
    dialect = "mysql"

    def __init__(self, source: Source, url: str) -> None:
        self.source, self.url = source, url
        parts = urlsplit(url)
        try:
            self.conn = pymysql.connect(host=parts.hostname or "localhost", port=parts.port or 3306,
                                        user=unquote(parts.username or "root"),
                                        password=unquote(parts.password or ""),
                                        database=parts.path.lstrip("/") or None, charset="utf8mb4",
                                        connect_timeout=10, autocommit=True)
            with self.conn.cursor() as cur:
                cur.execute("SELECT VERSION()")
                self.mariadb = "mariadb" in str(cur.fetchone()[0]).lower()
        except pymysql.Error as exc:
            raise PushdownError(f"source {source.name!r}: {mask(str(exc), url)}. Hint: check the source URL.") from exc

    def relation(self, table: TableRef) -> exp.Expression:
        return table_relation(table)

    def run(self, statement: exp.Expression, *, timeout_seconds: float) -> pl.DataFrame:
        sql = tagged_with_the_run(statement.sql(dialect=self.dialect))
        try:
            with self.conn.cursor() as cur:
                if self.mariadb:
                    cur.execute("SET SESSION max_statement_time = %s", (float(timeout_seconds),))
                else:
                    cur.execute("SET SESSION max_execution_time = %s", (max(1, int(timeout_seconds * 1000)),))
                cur.execute("START TRANSACTION READ ONLY")
                try:
                    cur.execute(sql)
                    names = [d[0] for d in cur.description or ()]
                    rows = list(cur.fetchall())
                finally:
                    cur.execute("ROLLBACK")
        except pymysql.err.OperationalError as exc:
            if exc.args and exc.args[0] in _TIMEOUT_ERRORS:
                raise PushdownTimeout(f"the pushdown statement ran past {timeout_seconds:g} s and was stopped. "
                                      "Hint: raise DQ_PUSHDOWN_TIMEOUT_SECONDS or use `execution: local`.") from exc
            raise PushdownError(f"{mask(str(exc), self.url)}. Hint: use `execution: local` for this suite.") from exc
        except pymysql.Error as exc:
            raise PushdownError(f"{mask(str(exc), self.url)}. Hint: use `execution: local` for this suite.") from exc
        return frame(names, rows)

    def estimated_rows(self, table: TableRef) -> int | None:
        try:
            with self.conn.cursor() as cur:
                cur.execute("SELECT table_rows FROM information_schema.tables WHERE table_schema = "
                            "COALESCE(%s, DATABASE()) AND table_name = %s", (table.schema, table.name))
                row = cur.fetchone()
        except pymysql.Error:
            return None
        return int(row[0]) if row and row[0] is not None else None

    def close(self) -> None:
        self.conn.close()


register("mysql", MySQLBackend)
