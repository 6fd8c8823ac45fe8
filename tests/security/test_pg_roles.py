"""Red team on the real PostgreSQL: the application role cannot rewrite the audit log or change the schema.

`migrate --owner-role OWNER --app-role APP` hands the tables to OWNER; as APP (the login the
product uses) every attempt to update, delete, truncate, untrigger or drop is refused by the
database, while the product still loads rules, runs a suite, decides the gate and takes a bypass.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from cli import main
from ops import bypass as bypass_ops
from ops.roles import user
from store import db
from tests.conftest import PG_ADMIN_URL
from tests.security.gate_attacks import LEAD, ONCALL, Bench, audit, request_form, suite_yaml

SUITE = "silver.shipments"


@pytest.fixture
def roles(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, str, str]]:
    """Two fresh roles (owner NOLOGIN, app LOGIN) and the app's URL; dropped with what they own afterwards."""
    suffix = uuid.uuid4().hex[:10]
    owner, app = f"dq_owner_{suffix}", f"dq_app_{suffix}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE ROLE {owner} NOLOGIN")
        conn.exec_driver_sql(f"CREATE ROLE {app} LOGIN")
    monkeypatch.setenv("DQ_STORE_URL", pg_url)
    app_url = sa.engine.make_url(pg_url).set(username=app).render_as_string(hide_password=False)
    try:
        yield owner, app, app_url
    finally:
        db.dispose_all()
        store = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
        with store.connect() as conn:
            conn.exec_driver_sql(f"DROP OWNED BY {owner}, {app}")
        store.dispose()
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP ROLE {app}")
            conn.exec_driver_sql(f"DROP ROLE {owner}")
        admin.dispose()


@pytest.fixture
def as_app(roles: tuple[str, str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Bench:
    """The store migrated with roles, then the product running as the application role."""
    owner, app, app_url = roles
    monkeypatch.delenv("DQ_TEST_ALLOW_CLOCK_OVERRIDE", raising=False)
    assert main(["migrate", "--owner-role", owner, "--app-role", app]) == 0
    db.dispose_all()
    monkeypatch.setenv("DQ_STORE_URL", app_url)
    bench = Bench(tmp_path, monkeypatch)
    bench.table("shipments")
    bench.load({"silver.yaml": suite_yaml(SUITE, "shipments")})
    assert main(["run_dq_checks", "--suite", SUITE]) == 1
    return bench


ATTACKS = {
    "update audit_log": "UPDATE audit_log SET actor = 'mallory'",
    "delete audit_log": "DELETE FROM audit_log",
    "truncate audit_log": "TRUNCATE audit_log",
    "disable the trigger": "ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only",
    "disable all triggers": "ALTER TABLE audit_log DISABLE TRIGGER ALL",
    "drop the trigger": "DROP TRIGGER audit_log_append_only ON audit_log",
    "replace the trigger function": (
        "CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger AS $$ BEGIN RETURN NEW; END $$ "
        "LANGUAGE plpgsql"
    ),
    "drop audit_log": "DROP TABLE audit_log",
    "take ownership": "ALTER TABLE audit_log OWNER TO CURRENT_USER",
    "become the owner": "SET ROLE {owner}",
    "drop a results column": "ALTER TABLE results DROP COLUMN signature",
    "truncate results": "TRUNCATE results",
    "create a table": "CREATE TABLE evil (x int)",
    "upsert over a row": (
        "INSERT INTO audit_log (id, at, actor, action, entity, details) "
        "SELECT id, at, 'mallory', action, entity, details FROM audit_log ORDER BY id LIMIT 1 "
        "ON CONFLICT (id) DO UPDATE SET actor = EXCLUDED.actor"
    ),
}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_the_app_role_cannot(as_app: Bench, roles: tuple[str, str, str], capsys: pytest.CaptureFixture[str],
                             attack: str) -> None:
    owner = roles[0]
    with pytest.raises(sa.exc.ProgrammingError, match="permission denied|must be owner"), db.write() as conn:
        conn.exec_driver_sql(ATTACKS[attack].format(owner=owner))

    capsys.readouterr()
    assert main(["audit", "verify"]) == 0
    assert "audit log intact" in capsys.readouterr().out


def test_a_self_grant_gives_the_app_role_nothing(as_app: Bench, roles: tuple[str, str, str]) -> None:
    app = roles[1]
    with db.write() as conn:
        conn.exec_driver_sql(f"GRANT UPDATE, DELETE, TRUNCATE ON audit_log TO {app}")  # a warning, not a grant
    with pytest.raises(sa.exc.ProgrammingError, match="permission denied"), db.write() as conn:
        conn.exec_driver_sql("DELETE FROM audit_log")


def test_the_product_runs_the_gate_and_a_bypass_as_the_app_role(
    as_app: Bench, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["dq_gate", "--suite", SUITE, "--max-age", "60"]) == 1
    assert audit("gate.blocked")[-1]["suite"] == SUITE

    request_id = bypass_ops.request(user(ONCALL), request_form(SUITE, hours=2))
    bypass_ops.approve(user(LEAD), request_id)
    assert main(["dq_gate", "--suite", SUITE, "--max-age", "60", "--bypass"]) == 0
    assert audit("gate.bypassed")[-1]["bypass_id"] == request_id
    assert main(["audit", "verify"]) == 0


def test_the_tables_belong_to_the_owner(as_app: Bench, roles: tuple[str, str, str]) -> None:
    owner = roles[0]
    with db.read() as conn:
        owners = dict(conn.execute(sa.text(
            "SELECT tablename, tableowner FROM pg_tables WHERE schemaname = current_schema()")).all())
        grants = set(conn.execute(sa.text(
            "SELECT privilege_type FROM information_schema.role_table_grants "
            "WHERE table_name = 'audit_log' AND grantee = current_user")).scalars())
    assert set(owners.values()) == {owner}, owners
    assert grants == {"SELECT", "INSERT"}


@pytest.mark.parametrize(("argv", "code", "message"), [
    (["--owner-role", "dq_nobody_{s}", "--app-role", "dq_none_{s}"], 2, "does not exist"),
    (["--owner-role", "postgres", "--app-role", "postgres"], 2, "are both 'postgres'"),
    (["--owner-role", "postgres"], 3, "--owner-role and --app-role go together"),
])
def test_migrate_refuses_unusable_roles(
    pg_store: str, capsys: pytest.CaptureFixture[str], argv: list[str], code: int, message: str
) -> None:
    suffix = uuid.uuid4().hex[:8]
    capsys.readouterr()
    assert main(["migrate", *[a.format(s=suffix) for a in argv]]) == code
    err = capsys.readouterr().err
    assert message in err and "Hint:" in err, err


def test_migrate_refuses_roles_on_sqlite(sqlite_store: str, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["migrate", "--owner-role", "owner", "--app-role", "app"]) == 2
    assert "need a PostgreSQL store" in capsys.readouterr().err
