"""The generic webhook: one JSON document per batch, with the alert ids as an idempotency key."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from alerting import messages
from alerting.channels.http_post import endpoint, post_json
from store.alerts import Alert, batch_key


def body(rows: Sequence[Alert]) -> dict[str, Any]:
    items = [row.payload for row in rows]
    return {
        "source": "dq-console",
        "summary": messages.headline(items),
        "alerts": [{"alert_id": row.id, "kind": row.kind, "dedup_key": row.dedup_key, **row.payload} for row in rows],
    }


def idempotency_key(rows: Sequence[Alert]) -> str:
    """The batch's key, fixed at its first claim: a receiver can drop the re-send after an interrupted delivery."""
    keys = {row.batch_key for row in rows}
    if len(keys) == 1 and None not in keys:
        return str(keys.pop())
    return batch_key([row.id for row in rows])


def send(destination: str, rows: Sequence[Alert]) -> None:
    post_json(
        endpoint(destination, "Webhook"),
        body(rows),
        label=f"Webhook ({destination})",
        headers={"Idempotency-Key": idempotency_key(rows)},
    )
