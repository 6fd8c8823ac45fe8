"""Which `request_run` the console calls: the scheduler's (ops.run_requests) once it exists, else the store's."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def request_run_function() -> Callable[..., Any]:
    try:
        from ops.run_requests import request_run  # type: ignore[import-not-found]
    except ImportError:
        from store.run_requests import request_run
    return request_run  # type: ignore[no-any-return]
