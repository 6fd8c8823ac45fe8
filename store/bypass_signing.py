"""HMAC over the records the gate relies on (bypass terms, approvals, results, the audit chain).

The key is DQ_BYPASS_SIGNING_KEY, from the environment or `.streamlit/secrets.toml`: it lives
with the processes that write through the product, never in the store, so whoever can edit a
row cannot re-sign it. Only in the console's dev mode (settings.dev_mode: no OIDC, no
DQ_AUTH_HEADER) may a random per-store key be generated in DQ_DATA_DIR
(`bypass-signing-<store hash>.key`, mode 0600); that file sits beside a SQLite store, so a
store writer can read it, which is why it is refused outside dev mode and the gate warns while
it is in use. Outside dev mode a write that needs a signature fails with SigningKeyMissing.
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
from store.errors import StoreError

KEY_SETTING = "DQ_BYPASS_SIGNING_KEY"


class SigningKeyMissing(StoreError):
    """No signing key is configured outside dev mode."""


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
    configured = settings.get(KEY_SETTING)
    if configured:
        return str(configured).encode()
    if not settings.dev_mode():
        raise SigningKeyMissing(
            f"{KEY_SETTING} is not set, and a generated key file is allowed only in dev mode (no OIDC, no "
            f"DQ_AUTH_HEADER). Hint: set {KEY_SETTING} in the environment or .streamlit/secrets.toml, the same "
            "value for the console, the scheduler and every gate caller."
        )
    return _dev_key()


def dev_key_in_use() -> bool:
    """True while signatures use the generated key file in DQ_DATA_DIR (dev mode, no configured key)."""
    return not settings.get(KEY_SETTING) and settings.dev_mode()


def key_problem() -> str | None:
    """Why nothing can be signed or verified now (no key outside dev mode), or None."""
    try:
        _key()
    except SigningKeyMissing as exc:
        return str(exc)
    return None


def mac(payload: bytes) -> str:
    """HMAC-SHA256 of `payload` with the signing key, hex."""
    return hmac.new(_key(), payload, hashlib.sha256).hexdigest()


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
    return mac(_payload(request_id, suite, table, activated_at, expires_at, approvers))


def verify(
    signature: str | None, request_id: int, suite: str, table: str, activated_at: datetime,
    expires_at: datetime, approvers: Sequence[str],
) -> bool:
    if not signature or key_problem():
        return False
    expected = sign(request_id, suite, table, activated_at, expires_at, approvers)
    return hmac.compare_digest(expected, signature)


def sign_terms(kind: str, terms: dict[str, object]) -> str:
    """HMAC over any other record the gate relies on (e.g. a table's classes), with the same key."""
    return mac(json.dumps({"kind": kind, **terms}, sort_keys=True, default=str).encode())


def verify_terms(signature: str | None, kind: str, terms: dict[str, object]) -> bool:
    """False for a missing or wrong signature, and when there is no key to check it with (key_problem says why)."""
    if not signature or key_problem():
        return False
    return hmac.compare_digest(sign_terms(kind, terms), str(signature))
