"""How the pushdown executor talks to a source: one Backend per source, found in BACKENDS by scheme/kind.

Modules in engine/pushdown/backends/ register themselves on import (`load_backends`); a backend
whose optional package is missing registers a factory that raises PushdownUnavailable, which the
executor turns into one ERROR per affected rule (never an ImportError).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from typing import Protocol

import polars as pl
import sqlglot
from sqlglot import exp

from engine import cancel
from engine.errors import EngineError
from engine.model import Source
from engine.reader import TableRef


class PushdownError(EngineError):
    """A pushdown statement could not run (timeout, missing function, unsupported source)."""


class PushdownUnavailable(PushdownError):
    """This source cannot run pushdown (unsupported kind, optional package missing)."""


class PushdownTimeout(PushdownError):
    """A pushdown statement ran past the source's statement timeout."""


class Backend(Protocol):
    dialect: str  # sqlglot dialect name

    def relation(self, table: TableRef) -> sqlglot.exp.Expression: ...

    def run(self, statement: sqlglot.exp.Expression, *, timeout_seconds: float) -> pl.DataFrame: ...

    def estimated_rows(self, table: TableRef) -> int | None: ...

    def close(self) -> None: ...


BACKENDS: dict[str, Callable[[Source, str], Backend]] = {}


def register(kind: str, factory: Callable[[Source, str], Backend]) -> None:
    BACKENDS[kind] = factory


def table_relation(table: TableRef) -> exp.Expression:
    """A plain table, both parts quoted by sqlglot."""
    return exp.table_(table.name, db=table.schema, quoted=True)


def load_backends() -> None:
    from engine.pushdown import backends

    for info in pkgutil.iter_modules(backends.__path__):
        importlib.import_module(f"{backends.__name__}.{info.name}")


def unavailable(name: str, reason: str) -> Callable[[Source, str], Backend]:
    """The factory of a backend whose optional package is missing: every use is PushdownUnavailable."""

    def refuse(source: Source, url: str) -> Backend:
        raise PushdownUnavailable(f"source {source.name!r} cannot push down to {name}: {reason}.")

    return refuse


def tagged(sql: str) -> str:
    """The statement with the current run's tag as a leading comment, for cancel_tagged to find it."""
    active = cancel.current()
    return sql if active is None else f"{cancel.comment(active.tag)} {sql}"


def backend_for(source: Source, url: str, kind: str) -> Backend:
    """The backend of a source: by dialect for databases; a Parquet source's `pushdown:` engine (duckdb, spark)."""
    load_backends()
    if kind == "parquet":
        kind = source.pushdown
    factory = BACKENDS.get(kind)
    if factory is None:
        raise PushdownUnavailable(f"source {source.name!r} ({kind}) does not support pushdown "
                                  f"(supported: {', '.join(sorted(BACKENDS))}). Hint: use `execution: local`.")
    return factory(source, url)


def frame(names: list[str], rows: list[tuple]) -> pl.DataFrame:
    """A DB-API result as a frame, every column typed from its values (None stays NULL)."""
    columns = {n: [r[i] for r in rows] for i, n in enumerate(names)}
    return pl.DataFrame({n: pl.Series(n, v, strict=False) for n, v in columns.items()})
