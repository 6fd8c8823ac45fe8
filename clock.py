"""The one clock of the product: UTC now, which tests and drills can freeze with DQ_NOW."""

from __future__ import annotations

import os
from datetime import UTC, datetime


def utcnow() -> datetime:
    """Timezone-aware UTC now; `DQ_NOW` (ISO 8601) freezes it for tests and drills."""
    frozen = os.environ.get("DQ_NOW")
    if frozen:
        value = datetime.fromisoformat(frozen)
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.now(UTC)
