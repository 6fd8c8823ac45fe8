"""PostgreSQL roles for the store: tables owned by an owner role, the application role granted only DML.

The application role (the login the console, scheduler and gate use) gets SELECT and INSERT on
audit_log (no UPDATE, DELETE or TRUNCATE), SELECT on the migration records, SELECT, INSERT,
UPDATE and DELETE on every other table, and USAGE on the id sequences: no DDL, so it cannot
`ALTER TABLE audit_log DISABLE TRIGGER`, drop a table or truncate one, which only an owner may
(docs/security.md). Role and table names are quoted by SQLAlchemy's identifier preparer, and
role existence is checked with bound parameters.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from store.errors import StoreError

APPEND_ONLY = ("audit_log",)
READ_ONLY = ("alembic_version", "schema_migrations")
DML = "SELECT, INSERT, UPDATE, DELETE"


class RoleSetupError(StoreError):
    """The owner or application role cannot be used (missing, same role, not PostgreSQL)."""


def check_roles(conn: Connection, owner: str, app: str) -> None:
    """Refuse before anything changes: PostgreSQL only, two different roles, both existing."""
    if conn.dialect.name != "postgresql":
        raise RoleSetupError(
            f"--owner-role and --app-role need a PostgreSQL store, not {conn.dialect.name}. "
            "Hint: on SQLite, protect the store file with file permissions instead (docs/security.md)."
        )
    if owner == app:
        raise RoleSetupError(
            f"the owner role and the application role are both {owner!r}: the application would own the tables "
            "and could disable the audit log's triggers. Hint: create two roles (docs/security.md)."
        )
    for role in (owner, app):
        found = conn.execute(sa.text("SELECT 1 FROM pg_roles WHERE rolname = :name"), {"name": role}).first()
        if found is None:
            raise RoleSetupError(
                f"role {role!r} does not exist on the PostgreSQL server. "
                f"Hint: CREATE ROLE {role} (NOLOGIN for the owner, LOGIN for the application), then migrate again."
            )


def apply(conn: Connection, owner: str, app: str) -> list[str]:
    """Hand every table of the store to `owner` and grant `app` only what it needs; returns the statements run."""
    quote = conn.dialect.identifier_preparer.quote_identifier
    schema = str(conn.execute(sa.text("SELECT current_schema()")).scalar_one())
    tables = sorted(sa.inspect(conn).get_table_names(schema=schema))
    q_owner, q_app, q_schema = quote(owner), quote(app), quote(schema)
    statements = [f"GRANT USAGE ON SCHEMA {q_schema} TO {q_app}", f"REVOKE CREATE ON SCHEMA {q_schema} FROM {q_app}"]
    for table in tables:
        name = f"{q_schema}.{quote(table)}"
        statements += [f"ALTER TABLE {name} OWNER TO {q_owner}", f"REVOKE ALL ON {name} FROM {q_app}"]
        if table in APPEND_ONLY:
            statements.append(f"GRANT SELECT, INSERT ON {name} TO {q_app}")
        elif table in READ_ONLY:
            statements.append(f"GRANT SELECT ON {name} TO {q_app}")
        else:
            statements.append(f"GRANT {DML} ON {name} TO {q_app}")
    statements += [
        f"ALTER FUNCTION {q_schema}.audit_log_append_only() OWNER TO {q_owner}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {q_schema} TO {q_app}",
    ]
    for statement in statements:
        conn.exec_driver_sql(statement)
    return statements
