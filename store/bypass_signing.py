"""HMAC over a bypass's approved terms, so a row edited in the database is not honoured.

The key is DQ_BYPASS_SIGNING_KEY. Without it (development), a random per-store key is created
once in DQ_DATA_DIR (`bypass-signing-<store hash>.key`, mode 0600): outside the store's rows, so
whoever can edit a row cannot re-sign it without also reading that file.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import settings
from store import db


def _dev_key_file() -> Path:
    digest = hashlib.sha256(db.store_url().encode()).hexdigest()[:16]
    return settings.get("DQ_DATA_DIR") / f"bypass-signing-{digest}.key"


def _dev_key() -> bytes:
    path = _dev_key_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes()
    with os.fdopen(fd, "wb") as handle:
        key = secrets.token_bytes(32)
        handle.write(key)
    return key


def _key() -> bytes:
    configured = settings.get("DQ_BYPASS_SIGNING_KEY")
    return configured.encode() if configured else _dev_key()


def _payload(
    request_id: int, suite: str, table: str, activated_at: datetime, expires_at: datetime,
    approvers: Sequence[str],
) -> bytes:
    terms = {
        "id": request_id,
        "suite": suite,
        "table": table,
        "activated_at": activated_at.isoformat(timespec="seconds"),
        "expires_at": expires_at.isoformat(timespec="seconds"),
        "approvers": sorted(a.lower() for a in approvers),
    }
    return json.dumps(terms, sort_keys=True).encode()


def sign(
    request_id: int, suite: str, table: str, activated_at: datetime, expires_at: datetime,
    approvers: Sequence[str],
) -> str:
    payload = _payload(request_id, suite, table, activated_at, expires_at, approvers)
    return hmac.new(_key(), payload, hashlib.sha256).hexdigest()


def verify(
    signature: str | None, request_id: int, suite: str, table: str, activated_at: datetime,
    expires_at: datetime, approvers: Sequence[str],
) -> bool:
    if not signature:
        return False
    expected = sign(request_id, suite, table, activated_at, expires_at, approvers)
    return hmac.compare_digest(expected, signature)


def sign_terms(kind: str, terms: dict[str, object]) -> str:
    """HMAC over any other record the gate relies on (e.g. a table's classes), with the same key."""
    payload = json.dumps({"kind": kind, **terms}, sort_keys=True, default=str).encode()
    return hmac.new(_key(), payload, hashlib.sha256).hexdigest()


def verify_terms(signature: str | None, kind: str, terms: dict[str, object]) -> bool:
    return bool(signature) and hmac.compare_digest(sign_terms(kind, terms), str(signature))
