"""Declared column types as each database's catalog states them, and the schema check's type grammar.

Arrow (and so Polars) loses what the catalog knows: connectorx delivers every PostgreSQL numeric
as decimal(38,10) and has no varchar length. The schema check's precise types (`decimal(18,4)`,
`varchar(50)`, `timestamp` vs `timestamptz`) are therefore compared with the catalog's declaration.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import polars as pl

PORTABLE_TYPES = ("int", "float", "decimal", "string", "bool", "date", "datetime", "time", "any")
PRECISE_FORMS = ("decimal(p,s)", "numeric(p,s)", "varchar(n)", "char(n)", "timestamp", "timestamptz")
_SIZED = re.compile(r"^\s*([a-z][a-z0-9 ]*?)\s*(?:\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\))?\s*(unsigned)?\s*$")


@dataclass(frozen=True)
class ColumnType:
    """One column's declared type: its family and, where the type has them, precision, scale, length, zone."""

    family: str  # int float decimal string bool date datetime time binary other
    precision: int | None = None
    scale: int | None = None
    length: int | None = None  # maximum characters (None: unbounded text)
    fixed: bool = False  # char(n): blank-padded to n
    tz: bool | None = None  # datetime only: True for instants (timestamptz), False for wall-clock values
    declared: str = ""  # as the catalog spells it

    def __str__(self) -> str:
        return self.declared or self.family


def expected_type_error(text: str) -> str | None:
    """Why `text` is not a type the schema check knows, or None."""
    try:
        parse_expected(text)
    except ValueError as exc:
        return str(exc)
    return None


def parse_expected(text: str) -> ColumnType | str:
    """A schema check's expected type: a portable name (returned as is) or a precise ColumnType."""
    lowered = str(text).strip().lower()
    if lowered in PORTABLE_TYPES:
        return lowered
    if lowered in ("timestamp", "timestamptz"):
        return ColumnType("datetime", tz=lowered == "timestamptz", declared=lowered)
    match = _SIZED.match(lowered)
    if match and match.group(2) is not None:
        name, first, second = match.group(1), int(match.group(2)), match.group(3)
        if name in ("decimal", "numeric"):
            scale = int(second) if second is not None else 0
            if not 0 < first <= 1000 or scale > first:
                raise ValueError(f"{text!r}: precision must be 1..1000 and scale at most the precision")
            return ColumnType("decimal", precision=first, scale=scale, declared=f"decimal({first},{scale})")
        if name in ("varchar", "char") and second is None and first > 0:
            return ColumnType("string", length=first, fixed=name == "char", declared=f"{name}({first})")
    raise ValueError(f"unknown type {text!r}; use one of {', '.join(PORTABLE_TYPES + PRECISE_FORMS)}")


def matches(expected: ColumnType, actual: ColumnType) -> bool:
    """A precise expectation against a declaration: every stated attribute must be equal."""
    if expected.family != actual.family:
        return False
    if expected.family == "decimal":
        return (expected.precision, expected.scale) == (actual.precision, actual.scale)
    if expected.family == "string":
        return (expected.length, expected.fixed) == (actual.length, actual.fixed)
    if expected.family == "datetime":
        return expected.tz == actual.tz
    return True


# ------------------------------------------------------------------ declarations, per catalog

_FAMILIES = {
    "int": ("integer", "int", "bigint", "smallint", "tinyint", "mediumint", "int2", "int4", "int8", "serial",
            "bigserial", "year"),
    "float": ("double precision", "double", "real", "float", "float4", "float8"),
    "decimal": ("numeric", "decimal", "dec", "fixed"),
    "string": ("character varying", "varchar", "character", "char", "text", "tinytext", "mediumtext", "longtext",
               "bpchar", "nvarchar", "nchar", "clob", "string", "enum", "set"),
    "bool": ("boolean", "bool"),
    "date": ("date",),
    "binary": ("bytea", "blob", "tinyblob", "mediumblob", "longblob", "binary", "varbinary"),
}


def from_catalog(dialect: str, data_type: str, column_type: str | None, length: int | None,
                 precision: int | None, scale: int | None) -> ColumnType:
    """A PostgreSQL or MySQL information_schema.columns row as a ColumnType."""
    name = (data_type or "").strip().lower()
    declared = (column_type or "").strip().lower() or _spelled(name, length, precision, scale)
    if name.startswith("timestamp") or name == "datetime":
        # MySQL TIMESTAMP stores an instant (converted from the session zone); DATETIME is wall-clock.
        aware = "with time zone" in name or (dialect == "mysql" and name == "timestamp")
        return ColumnType("datetime", tz=aware, declared=declared)
    if name.startswith("time"):
        return ColumnType("time", declared=declared)
    if dialect == "mysql" and declared.startswith("tinyint(1)"):
        return ColumnType("bool", declared=declared)
    family = next((f for f, names in _FAMILIES.items() if name in names), "other")
    if family == "decimal":
        return ColumnType("decimal", precision=precision, scale=scale if precision is not None else None,
                          declared=declared)
    if family == "string":
        bounded = name in ("character varying", "varchar", "character", "char", "bpchar", "nvarchar", "nchar")
        return ColumnType("string", length=length if bounded else None, fixed=name in ("character", "char", "bpchar", "nchar"),
                          declared=declared)
    return ColumnType(family, declared=declared)


def _spelled(name: str, length: int | None, precision: int | None, scale: int | None) -> str:
    """PostgreSQL's catalog spells the type without its modifiers: put them back (numeric(18,4))."""
    if name == "numeric" and precision is not None:
        return f"numeric({precision},{scale or 0})"
    if name in ("character varying", "character") and length is not None:
        return f"{name}({length})"
    return name


def from_sqlite(declared: str) -> ColumnType:
    """A SQLite declaration (`NUMERIC(18,4)`, `VARCHAR(50)`, `TIMESTAMPTZ`) as a ColumnType.

    SQLite enforces none of it; the declaration is the table author's statement of intent, and
    the engine reads each column by it (engine/reader.py).
    """
    upper = (declared or "").upper()
    match = _SIZED.match(declared.lower()) if declared else None
    first = int(match.group(2)) if match and match.group(2) else None
    second = int(match.group(3)) if match and match.group(3) else None
    text = declared.lower() or "(none)"
    if "BOOL" in upper:
        return ColumnType("bool", declared=text)
    if "DATETIME" in upper or "TIMESTAMP" in upper:
        return ColumnType("datetime", tz=sqlite_is_aware(upper), declared=text)
    if "DATE" in upper:
        return ColumnType("date", declared=text)
    if "INT" in upper:
        return ColumnType("int", declared=text)
    if any(n in upper for n in ("CHAR", "CLOB", "TEXT")):
        bounded = "CHAR" in upper and first is not None
        fixed = bounded and "VAR" not in upper
        return ColumnType("string", length=first if bounded else None, fixed=fixed, declared=text)
    if "BLOB" in upper:
        return ColumnType("binary", declared=text)
    if any(n in upper for n in ("NUMERIC", "DECIMAL")) or upper.strip() == "NUM":  # NUM: CREATE TABLE AS of a NUMERIC
        if first is not None:
            return ColumnType("decimal", precision=first, scale=second or 0, declared=text)
        return ColumnType("float", declared=text)  # NUMERIC without precision: any number
    if any(n in upper for n in ("REAL", "FLOA", "DOUB")):
        return ColumnType("float", declared=text)
    if upper.startswith("TIME"):
        return ColumnType("time", declared=text)
    return ColumnType("string", declared=text)


def sqlite_is_aware(upper: str) -> bool:
    """TIMESTAMPTZ, TIMESTAMP WITH TIME ZONE, DATETIMEOFFSET: instants; TIMESTAMP/DATETIME: wall-clock."""
    if "WITHOUT" in upper:
        return False
    return "TZ" in upper or "WITH TIME ZONE" in upper or "OFFSET" in upper


def from_polars(dtype: pl.DataType) -> ColumnType:
    """A Parquet column's type as a declaration (Parquet keeps decimal precision and the zone)."""
    if isinstance(dtype, pl.Decimal):
        return ColumnType("decimal", precision=dtype.precision, scale=dtype.scale, declared=str(dtype))
    if isinstance(dtype, pl.Datetime):
        return ColumnType("datetime", tz=dtype.time_zone is not None, declared=str(dtype))
    if dtype.is_integer():
        return ColumnType("int", declared=str(dtype))
    if dtype in (pl.Float32, pl.Float64):
        return ColumnType("float", declared=str(dtype))
    if dtype == pl.String:
        return ColumnType("string", declared=str(dtype))
    if dtype == pl.Boolean:
        return ColumnType("bool", declared=str(dtype))
    if dtype == pl.Date:
        return ColumnType("date", declared=str(dtype))
    if dtype == pl.Time:
        return ColumnType("time", declared=str(dtype))
    return ColumnType("other", declared=str(dtype))
