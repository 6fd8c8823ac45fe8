"""Cached access to the store for pages: one engine per URL, short-lived cached reads, clear after writes."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa
import streamlit as st
from sqlalchemy.engine import Engine

import clock
from engine.errors import EngineError
from engine.manifest import ManifestError
from ops.errors import OpsError
from store import db, queries
from store.errors import SchemaOutOfDate, StoreError, StoreUnreachable

READ_TTL_SECONDS = 30
T = TypeVar("T")


@st.cache_resource(show_spinner=False)
def _engine(url: str) -> Engine:
    return db.get_engine(url)


def engine() -> Engine:
    return _engine(db.store_url())


@st.cache_data(ttl=READ_TTL_SECONDS, show_spinner=False)
def _call(url: str, target: str, args: tuple[Any, ...], kwargs: tuple[tuple[str, Any], ...]) -> Any:
    module, name = target.rsplit(".", 1)
    fn = getattr(importlib.import_module(module), name)
    return fn(*args, engine=_engine(url), **dict(kwargs))


def load(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """`fn(*args, engine=..., **kwargs)` from a store module, cached for READ_TTL_SECONDS per store URL.

    A store that fails stops the page with its message; other StoreErrors (NotFound) reach the page.
    """
    target = f"{fn.__module__}.{fn.__qualname__}"
    try:
        return _call(db.store_url(), target, args, tuple(sorted(kwargs.items())))  # type: ignore[no-any-return]
    except (StoreUnreachable, SchemaOutOfDate, sa.exc.SQLAlchemyError) as exc:
        stop_with_store_error(exc)
        raise  # unreachable: st.stop() raises


def write(fn: Callable[..., T], *args: Any, **kwargs: Any) -> tuple[bool, T | None]:
    """Run a store write: (True, result), or (False, None) after showing why it was refused.

    Cached reads are cleared afterwards so the page shows the change at once.
    """
    try:
        return True, fn(*args, **kwargs)
    except (StoreError, OpsError, EngineError, ManifestError) as exc:  # messages that end with a Hint
        st.error(str(exc))
        return False, None
    finally:
        st.cache_data.clear()


def stop_with_store_error(exc: Exception) -> None:
    detail = str(getattr(exc, "orig", None) or exc).splitlines()[0]
    st.error(f"The store could not answer: {detail}")
    st.stop()


@st.cache_data(ttl=10, show_spinner=False)
def _status(url: str) -> queries.StoreStatus:
    return queries.store_status(_engine(url))


def store_status() -> queries.StoreStatus:
    return _status(db.store_url())


def require_store() -> queries.StoreStatus:
    """Stop the page with a clear message (never a traceback) when the store is down or unmigrated."""
    status = store_status()
    if not status.ok:
        st.error(f"**Store unavailable.** {status.message}")
        st.stop()
    return status


def minute_now() -> datetime:
    """Now, truncated to the minute, so reads within one minute share the cache."""
    return clock.utcnow().replace(second=0, microsecond=0)


@st.cache_data(ttl=60, show_spinner=False)
def config_problem() -> str | None:
    """Every problem of the four config files (alerting, approval matrix, dq, roles) as Markdown, or None."""
    from ops import configuration

    found = configuration.problems()
    if not found:
        return None
    return "\n\n".join(_as_markdown(exc) for exc in found)


def _as_markdown(exc: Exception) -> str:
    lines = str(exc).splitlines()
    listed = [str(p) for p in getattr(exc, "problems", ())] or [line.strip() for line in lines[1:]]
    return lines[0] + "".join(f"\n- {p}" for p in listed)
