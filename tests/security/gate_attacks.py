"""The red team's workbench: a real SQLite warehouse, suites loaded through the manifest parser, audit reads.

Each attack in tests/security/ runs as a hostile or careless user would: through the CLI, the
ops/store front doors or raw SQL on the store, and asserts both the refusal and its audit row.
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from engine.manifest import load_catalog
from store import db
from store.rules import sync_catalog
from store.schema import audit_log
from tests.bypass_rows import checklist

ROOT = Path(__file__).resolve().parents[2]
ONCALL, LEAD, LEAD2 = "oncall@company.com", "data-eng-lead@company.com", "lead2@company.com"
MANAGER, ADMIN, NOBODY = "manager@company.com", "admin@company.com", "mallory@company.com"

SOURCES = "sources:\n  warehouse: {kind: sql}\n"


def suite_yaml(
    name: str, table: str, *, layer: str = "silver", classes: Sequence[str] = (), pii_columns: Sequence[str] = ("email",),
    rules: Sequence[tuple[str, str, str]] | None = None,
) -> str:
    """A suite over `table`; rules are (name, column, severity) not_null checks."""
    rules = rules if rules is not None else [
        (f"{table}_id_not_null", "id", "CRITICAL"),
        (f"{table}_email_not_null", "email", "HIGH"),
        (f"{table}_amount_not_null", "amount", "LOW"),
    ]
    lines = [f"suite: {name}", "source: warehouse", f"table: {table}", f"layer: {layer}",
             f"data_classes: [{', '.join(classes)}]"]
    if pii_columns:
        lines.append(f"pii_columns: [{', '.join(pii_columns)}]")
    lines.append("rules:")
    lines += [f"  - {{name: {r}, check: not_null, column: {c}, severity: {s}}}" for r, c, s in rules]
    return "\n".join(lines) + "\n"


class Bench:
    """One warehouse + rules folder per test; `load` writes manifests and syncs them as `author`."""

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.tmp = tmp_path
        self.monkeypatch = monkeypatch
        self.warehouse = tmp_path / "warehouse.db"
        self.rules = tmp_path / "rules"
        self.rules.mkdir()
        (self.rules / "sources.yaml").write_text(SOURCES)
        monkeypatch.setenv("DQ_RULES_DIR", str(self.rules))
        monkeypatch.setenv("DQ_SOURCE_WAREHOUSE_URL", f"sqlite:///{self.warehouse}")
        self.config = tmp_path / "config"
        shutil.copytree(ROOT / "config", self.config)
        monkeypatch.setenv("DQ_CONFIG_DIR", str(self.config))

    def table(self, name: str, *, failing: bool = True) -> None:
        """A table whose id and email each have one NULL when failing; all clean otherwise."""
        with sqlite3.connect(self.warehouse) as conn:
            conn.execute(f"DROP TABLE IF EXISTS {name}")
            conn.execute(f"CREATE TABLE {name} (id INTEGER, email TEXT, amount REAL)")
            rows = [(1, "a@x.io", 1.0), (None, "b@x.io", 2.0), (3, None, 3.0)] if failing else [
                (1, "a@x.io", 1.0), (2, "b@x.io", 2.0), (3, "c@x.io", 3.0)]
            conn.executemany(f"INSERT INTO {name} VALUES (?, ?, ?)", rows)

    def fix(self, name: str) -> None:
        self.table(name, failing=False)

    def load(self, files: dict[str, str], *, author: str = ONCALL, prune: bool = False) -> Any:
        for file, body in files.items():
            (self.rules / file).write_text(body)
        paths = [self.rules / f for f in files]
        catalog = load_catalog(paths, self.rules / "sources.yaml")
        with db.write() as conn:
            return sync_catalog(conn, catalog, author, prune=prune)

    def forget(self, file: str) -> None:
        (self.rules / file).unlink()

    def dq_yaml(self, body: str) -> Path:
        (self.config / "dq.yaml").write_text(body)
        return self.config / "dq.yaml"

    def file(self, name: str, body: str) -> str:
        path = self.tmp / name
        path.write_text(body)
        return str(path)


def audit(action: str, since_id: int = 0) -> list[dict[str, Any]]:
    """Audit rows with `action`, oldest first, as {actor, entity_id, **details}."""
    with db.read() as conn:
        rows = conn.execute(
            sa.select(audit_log).where(audit_log.c.action == action, audit_log.c.id > since_id).order_by(audit_log.c.id)
        ).all()
    return [{"actor": r.actor, "entity_id": r.entity_id, **dict(r.details or {})} for r in rows]


def last_audit_id() -> int:
    with db.read() as conn:
        return int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(audit_log.c.id), 0))).scalar_one())


def raw(sql: str, **params: Any) -> None:
    """What an attacker with write access to the store runs."""
    with db.write() as conn:
        conn.execute(sa.text(sql), params)


def request_form(suite: str, hours: float = 6, **changes: object):  # noqa: ANN201 - NewRequest
    return checklist(suite, hours=hours, **changes)


def iso(value: datetime) -> str:
    return value.isoformat()
