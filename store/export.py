"""Store rows as Polars frames: the exports of the CLI, and the typed reading of any table.

A frame has one column per table column, typed from the schema so that an empty result
has the same columns and types as a full one: integers Int64, floats Float64, booleans,
strings, times `Datetime("us", "UTC")`, and JSON columns as JSON text (portable to CSV and
Parquet; `json_columns()` names them so a writer can nest them again).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from store.schema import UTCDateTime, results, rules, runs, suites, violations


def dtype_of(column: sa.Column[Any]) -> pl.DataType:
    """The Polars type that holds this column's values without loss."""
    kind = column.type
    if isinstance(kind, UTCDateTime):
        return pl.Datetime("us", "UTC")
    if isinstance(kind, sa.JSON):
        return pl.String()
    if isinstance(kind, sa.Boolean):
        return pl.Boolean()
    if isinstance(kind, sa.Integer):
        return pl.Int64()
    if isinstance(kind, sa.Float):
        return pl.Float64()
    return pl.String()


def json_columns(table: sa.Table) -> tuple[str, ...]:
    return tuple(c.name for c in table.columns if isinstance(c.type, sa.JSON))


def frame_of(table: sa.Table, rows: Iterable[Sequence[Any]]) -> pl.DataFrame:
    """Rows of `select(table)` (all columns, in table order) as a typed frame."""
    encoded = json_columns(table)
    names = [c.name for c in table.columns]
    positions = [names.index(name) for name in encoded]
    data = []
    for row in rows:
        values = list(row)
        for i in positions:
            # JSON null and SQL NULL both come back as None: keep them NULL, not "null".
            values[i] = None if values[i] is None else json.dumps(values[i], ensure_ascii=False)
        data.append(values)
    schema = {c.name: dtype_of(c) for c in table.columns}
    return pl.DataFrame(data, schema=schema, orient="row")


def read_table(conn: Connection, table: sa.Table, where: Any = None) -> pl.DataFrame:
    """Every column of `table` (rows matching `where`, if given), ordered by the primary key."""
    query = sa.select(table).order_by(*table.primary_key.columns)
    if where is not None:
        query = query.where(where)
    return frame_of(table, conn.execute(query))


def violations_frame(
    conn: Connection, *, since: datetime | None = None, rule_name: str | None = None, suite: str | None = None
) -> pl.DataFrame:
    """Violations last seen at or after `since` (an episode still failing counts as recent)."""
    conditions = []
    if since is not None:
        conditions.append(violations.c.last_seen_at >= since)
    if rule_name is not None:
        conditions.append(violations.c.rule_name == rule_name)
    if suite is not None:
        conditions.append(violations.c.suite == suite)
    frame = read_table(conn, violations, sa.and_(sa.true(), *conditions))
    return frame.join(ticket_fields(conn), on=["suite", "rule_name"], how="left")


TICKET_COLUMNS = ("table_name", "owner", "layer", "data_classes")
TICKET_JSON_COLUMNS = ("data_classes",)


def ticket_fields(conn: Connection) -> pl.DataFrame:
    """Per (suite, rule): what the failover procedure's Step 1 asks to put in the ticket.

    The owner is the rule's (which defaults to its suite's); classes and layer are the suite's.
    """
    query = (
        sa.select(rules.c.suite, rules.c.name, suites.c.table_name, rules.c.owner, suites.c.owner,
                  suites.c.layer, suites.c.data_classes)
        .join(suites, suites.c.name == rules.c.suite)
    )
    data = [(suite, rule, table, rule_owner or suite_owner, layer, json.dumps(list(classes or [])))
            for suite, rule, table, rule_owner, suite_owner, layer, classes in conn.execute(query)]
    schema = {"suite": pl.String, "rule_name": pl.String, **{c: pl.String for c in TICKET_COLUMNS}}
    return pl.DataFrame(data, schema=schema, orient="row")


def suite_ticket_fields(conn: Connection, suite: str) -> dict[str, Any]:
    """The owner, source, layer and data classes of one suite, for a bypass ticket."""
    row = conn.execute(sa.select(suites.c.owner, suites.c.source, suites.c.layer, suites.c.data_classes)
                       .where(suites.c.name == suite)).first()
    if row is None:
        return {}
    return {"owner": row.owner, "source": row.source, "layer": row.layer, "data_classes": list(row.data_classes or [])}


def runs_frame(
    conn: Connection, *, since: datetime | None = None, rule_name: str | None = None, suite: str | None = None
) -> pl.DataFrame:
    """Runs started at or after `since`; with `rule_name`, only the runs that checked that rule."""
    conditions = []
    if since is not None:
        conditions.append(runs.c.started_at >= since)
    if suite is not None:
        conditions.append(runs.c.suite == suite)
    if rule_name is not None:
        checked = sa.select(results.c.run_id).where(results.c.rule_name == rule_name)
        conditions.append(runs.c.id.in_(checked))
    return read_table(conn, runs, sa.and_(sa.true(), *conditions))


def rules_frame(conn: Connection, *, rule_name: str | None = None, suite: str | None = None) -> pl.DataFrame:
    """Rules in every status (active, disabled, retired, removed), with their definitions."""
    conditions = []
    if rule_name is not None:
        conditions.append(rules.c.name == rule_name)
    if suite is not None:
        conditions.append(rules.c.suite == suite)
    return read_table(conn, rules, sa.and_(sa.true(), *conditions))


def rule_exists(conn: Connection, rule_name: str) -> bool:
    return conn.execute(sa.select(rules.c.id).where(rules.c.name == rule_name)).first() is not None


def suite_exists(conn: Connection, suite: str) -> bool:
    return conn.execute(sa.select(suites.c.id).where(suites.c.name == suite)).first() is not None


def manifest_rows(conn: Connection, suite: str | None = None) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """Each live suite's stored definition with the definitions of its live (active or disabled) rules.

    Rules come in manifest order (file, line), then by id for rules without a line.
    """
    query = sa.select(suites.c.name, suites.c.definition, suites.c.enabled).order_by(suites.c.file, suites.c.name)
    if suite is not None:
        query = query.where(suites.c.name == suite)
    documents = []
    for name, definition, enabled in conn.execute(query):
        if not enabled and definition.get("enabled", True) is not False:
            continue  # disabled by a load that no longer had it: not live
        rule_query = (
            sa.select(rules.c.definition, rules.c.status)
            .where(rules.c.suite == name, rules.c.status.in_(("active", "disabled")))
            .order_by(rules.c.line.is_(None), rules.c.line, rules.c.id)
        )
        documents.append((dict(definition), [_live(d, s) for d, s in conn.execute(rule_query)]))
    return documents


def _live(definition: dict[str, Any], status: str) -> dict[str, Any]:
    """The rule as written, with `enabled: false` when it was disabled in the store since."""
    rule = dict(definition)
    if status == "disabled" and rule.get("enabled", True) is not False:
        rule["enabled"] = False
    return rule
