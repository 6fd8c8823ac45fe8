"""The one clock of the product: UTC now, which tests and drills can freeze with DQ_NOW.

Decisions that guard data (the DQ gate, bypass windows, table classes) use `trusted_utcnow`:
it honours DQ_NOW only while the test-only DQ_TEST_ALLOW_CLOCK_OVERRIDE is true, so a pipeline
or console started with DQ_NOW cannot move itself into an expired bypass window.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

ALLOW_OVERRIDE = "DQ_TEST_ALLOW_CLOCK_OVERRIDE"


def _frozen() -> datetime | None:
    frozen = os.environ.get("DQ_NOW")
    if not frozen:
        return None
    value = datetime.fromisoformat(frozen)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def utcnow() -> datetime:
    """Timezone-aware UTC now; `DQ_NOW` (ISO 8601) freezes it for tests and drills."""
    return _frozen() or datetime.now(UTC)


def override_allowed() -> bool:
    """True only for the exact test-only values; anything else (typos included) means no."""
    return os.environ.get(ALLOW_OVERRIDE, "").strip().lower() in {"1", "true", "yes"}


def trusted_utcnow() -> datetime:
    """The real UTC now; DQ_NOW counts only while DQ_TEST_ALLOW_CLOCK_OVERRIDE is true (tests)."""
    if override_allowed():
        frozen = _frozen()
        if frozen is not None:
            return frozen
    return datetime.now(UTC)


def override_note() -> str | None:
    """What the gate must say about a clock override, or None when there is none."""
    raw = os.environ.get("DQ_NOW")
    if not raw:
        return None
    if override_allowed():
        return f"clock override DQ_NOW={raw} in use (test-only {ALLOW_OVERRIDE})"
    return f"clock override DQ_NOW={raw} ignored (the gate uses the real clock; {ALLOW_OVERRIDE} is test-only)"
