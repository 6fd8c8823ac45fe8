"""Durations written in rule files ("90s", "15m", "2h", "1d", "1w") as timedeltas."""

from __future__ import annotations

import re
from datetime import timedelta

from engine.errors import EngineError

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")


def parse_duration(value: object) -> timedelta:
    """A timedelta from "1d", "2h30m", a number of seconds, or a timedelta."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=float(value))
    text = str(value).strip().lower().replace(" ", "")
    parts = _PART.findall(text)
    if not parts or "".join(f"{n}{u}" for n, u in parts) != text:
        raise EngineError(f"{value!r} is not a duration. Hint: write e.g. 90s, 15m, 2h, 1d or 1w.")
    return timedelta(seconds=sum(float(n) * _UNITS[u] for n, u in parts))


def describe(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
