"""The generic webhook: one JSON document per batch, with the alert ids as an idempotency key."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from alerting import messages
from alerting.channels.http_post import endpoint, post_json
from store.alerts import Alert


def body(rows: Sequence[Alert]) -> dict[str, Any]:
    items = [row.payload for row in rows]
    return {
        "source": "dq-console",
        "summary": messages.headline(items),
        "alerts": [{"alert_id": row.id, "kind": row.kind, "dedup_key": row.dedup_key, **row.payload} for row in rows],
    }


def idempotency_key(rows: Sequence[Alert]) -> str:
    """Same rows, same key: a receiver can drop the rare re-send after an interrupted delivery."""
    return "dq-alerts-" + "-".join(str(row.id) for row in sorted(rows, key=lambda r: r.id))


def send(destination: str, rows: Sequence[Alert]) -> None:
    post_json(
        endpoint(destination, "Webhook"),
        body(rows),
        label=f"Webhook ({destination})",
        headers={"Idempotency-Key": idempotency_key(rows)},
    )
