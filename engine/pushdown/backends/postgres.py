"""PostgreSQL: psycopg, a READ ONLY transaction, statement_timeout per statement, sort-based GROUP BY."""

from __future__ import annotations

import polars as pl
import psycopg
from sqlglot import exp

from engine.model import Source
from engine.pushdown.backend import PushdownError, PushdownTimeout, frame, register, table_relation
from engine.pushdown.backend import tagged as tagged_with_the_run
from engine.reader import TableRef
from engine.sources import mask


class PostgresBackend:
    dialect = "postgres"

    def __init__(self, source: Source, url: str) -> None:
        self.source, self.url = source, url
        try:
            self.conn = psycopg.connect(url, autocommit=False, connect_timeout=10)
        except psycopg.Error as exc:
            raise PushdownError(f"source {source.name!r}: {mask(str(exc), url)}. Hint: check the source URL.") from exc
        self.conn.read_only = True  # the role stays read-only whatever its grants

    def relation(self, table: TableRef) -> exp.Expression:
        return table_relation(table)

    def run(self, statement: exp.Expression, *, timeout_seconds: float) -> pl.DataFrame:
        sql = tagged_with_the_run(statement.sql(dialect=self.dialect))
        try:
            with self.conn.cursor() as cur:
                cur.execute("SELECT set_config('statement_timeout', %s, true)", (f"{max(1, int(timeout_seconds * 1000))}ms",))
                # Measured here (docs/architecture.md): hash aggregation of 10M distinct keys spills and
                # is 2.4x slower than the sorted plan, so duplicates group by sorting.
                cur.execute("SELECT set_config('enable_hashagg', 'off', true)")
                cur.execute(sql)  # type: ignore[arg-type]
                names = [d.name for d in cur.description or ()]
                rows = cur.fetchall()
            self.conn.rollback()
        except psycopg.errors.QueryCanceled as exc:
            self.conn.rollback()
            raise PushdownTimeout(f"the pushdown statement ran past {timeout_seconds:g} s and was cancelled. "
                                  "Hint: raise DQ_PUSHDOWN_TIMEOUT_SECONDS or use `execution: local`.") from exc
        except psycopg.Error as exc:
            self.conn.rollback()
            raise PushdownError(f"{mask(str(exc).splitlines()[0], self.url)}. "
                                "Hint: use `execution: local` for this suite.") from exc
        return frame(names, rows)

    def estimated_rows(self, table: TableRef) -> int | None:
        name = table_relation(table).sql(dialect="postgres")
        try:
            with self.conn.cursor() as cur:
                cur.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass(%s)", (name,))
                row = cur.fetchone()
            self.conn.rollback()
        except psycopg.Error:
            self.conn.rollback()
            return None
        return int(row[0]) if row and row[0] is not None and row[0] >= 0 else None

    def close(self) -> None:
        self.conn.close()


register("postgresql", PostgresBackend)
