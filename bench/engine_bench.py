"""Benchmark: a 10-rule suite over a 10-million-row `orders` table, from PostgreSQL and from Parquet.

    /work/venv/bin/python bench/engine_bench.py [--rows 10000000] [--repeat 3] [--partitions 2]

The table is built once and cached: in the local PostgreSQL (database `dq_bench`, override
with DQ_BENCH_PG_URL) and as bench/.cache/lake/silver/orders.parquet (git-ignored). Each
measurement runs in a fresh subprocess so its peak memory (ru_maxrss) is its own. The
physical limit it compares with: for PostgreSQL, the raw partitioned connectorx read of the
same columns plus one Polars select of equivalent aggregates; for Parquet, that one select
over a lazy scan. Targets: engine <= 1.05x the limit from PostgreSQL and <= 1.2x from
Parquet; peak memory <= 1.1x (PostgreSQL) and <= 1.5x (Parquet) the limit's.

    --pushdown adds the pushdown variant (issue 14): the suite with `execution: pushdown` into
    PostgreSQL against one hand-tuned SQL statement of the same aggregates (sort-based duplicates,
    enable_hashagg off). Target: within 1.15x the statement, client peak under 150 MB. Its suite
    swaps the two local_only checks (regex, freshness) for string_length and count, so every rule
    runs in the source. Use DQ_BENCH_PG_URL=.../dq_bench_pushdown for a small run beside others.

    --failing is issue 14's local variant: `orders_nopk` (no primary key; created_at indexed) with
    planted defects, so 3 of the 10 rules fail (duplicated order_id, out-of-range amounts, unknown
    currencies) and keep failing-row samples. Limits: one hand-written Polars select (aggregates and
    the 3 samples) over a lazy Parquet scan, and an ADBC read (COPY binary, one connection) plus the
    same select. Engine rows: Parquet, PostgreSQL through ADBC, through connectorx, and with
    --today ROOT the same suite through the engine at ROOT (a checkout of the code before issue 14:
    `git archive 2fcb5f0 | tar -x -C /tmp/today`). Targets: local <= 1.1x time and 1.2x memory of
    its limit; ADBC <= 0.7x today's connectorx path.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CACHE = ROOT / "bench" / ".cache"
LAKE = CACHE / "lake"
PARQUET = LAKE / "silver" / "orders.parquet"
PG_URL = os.environ.get("DQ_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/dq_bench")
NOW = datetime(2026, 1, 1, 1, 0, tzinfo=UTC)  # the newest order is 2026-01-01 00:00 UTC: 1 hour old
COLUMNS = ["order_id", "customer_id", "email", "status", "currency", "amount", "created_at"]
EMAIL = r"[^@\s]+@[^@\s]+\.[a-z]{2,}"


def build_postgres(rows: int) -> None:
    """The orders table, generated inside PostgreSQL (1% NULL emails, a few statuses and currencies)."""
    import sqlalchemy as sa

    admin = sa.create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://").rsplit("/", 1)[0] + "/postgres",
                             isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        database = sa.engine.make_url(PG_URL).database
        exists = conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :d"), {"d": database}).scalar()
        if not exists:
            conn.exec_driver_sql(f"CREATE DATABASE {conn.dialect.identifier_preparer.quote(database)}")
    admin.dispose()
    engine = sa.create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as conn:
        exists = conn.exec_driver_sql("SELECT to_regclass('orders') IS NOT NULL").scalar()
        if exists and conn.exec_driver_sql("SELECT count(*) FROM orders").scalar() == rows:
            return
        print(f"building orders with {rows:,} rows in PostgreSQL (once) ...", flush=True)
        conn.exec_driver_sql("DROP TABLE IF EXISTS orders")
        conn.exec_driver_sql(
            "CREATE TABLE orders (order_id bigint PRIMARY KEY, customer_id integer NOT NULL, email text, "
            "status text NOT NULL, currency text NOT NULL, amount numeric(12,2) NOT NULL, "
            "created_at timestamptz NOT NULL)")
        conn.exec_driver_sql(
            "INSERT INTO orders SELECT i, (i * 7919) %% 500000, "
            "CASE WHEN i %% 100 = 0 THEN NULL ELSE 'user' || (i %% 300000) || '@example.com' END, "
            "(ARRAY['NEW','PAID','SHIPPED','DELIVERED','CANCELLED'])[1 + i %% 5], "
            "(ARRAY['EUR','USD','GBP'])[1 + i %% 3], ((i * 31) %% 100000) / 100.0, "
            f"timestamptz '2026-01-01 00:00:00+00' - (({rows} - i) * interval '1 second') "
            f"FROM generate_series(CAST(1 AS bigint), {rows}) AS i")
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE orders")
    engine.dispose()


FAILING_TABLE = "orders_nopk"
FAILING_PARQUET = LAKE / "silver" / f"{FAILING_TABLE}.parquet"
SAMPLE_ROWS = 20


def build_failing(rows: int) -> None:
    """orders without a primary key, defects planted: every 1,000th order_id repeats the one before,
    every 5,000th amount is negative, every 2,000th currency is 'XXX'. Then its Parquet copy."""
    import polars as pl
    import sqlalchemy as sa

    engine = sa.create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as conn:
        exists = conn.exec_driver_sql(f"SELECT to_regclass('{FAILING_TABLE}') IS NOT NULL").scalar()
        built = exists and conn.exec_driver_sql(f"SELECT count(*) FROM {FAILING_TABLE}").scalar() == rows
        if not built:
            print(f"building {FAILING_TABLE} with {rows:,} rows in PostgreSQL (once) ...", flush=True)
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {FAILING_TABLE}")
            conn.exec_driver_sql(
                f"CREATE TABLE {FAILING_TABLE} (order_id bigint NOT NULL, customer_id integer NOT NULL, email text, "
                "status text NOT NULL, currency text NOT NULL, amount numeric(12,2) NOT NULL, "
                "created_at timestamptz NOT NULL)")
            conn.exec_driver_sql(
                f"INSERT INTO {FAILING_TABLE} SELECT CASE WHEN i %% 1000 = 0 THEN i - 1 ELSE i END, "
                "(i * 7919) %% 500000, "
                "CASE WHEN i %% 100 = 0 THEN NULL ELSE 'user' || (i %% 300000) || '@example.com' END, "
                "(ARRAY['NEW','PAID','SHIPPED','DELIVERED','CANCELLED'])[1 + i %% 5], "
                "CASE WHEN i %% 2000 = 0 THEN 'XXX' ELSE (ARRAY['EUR','USD','GBP'])[1 + i %% 3] END, "
                "CASE WHEN i %% 5000 = 0 THEN -5 ELSE ((i * 31) %% 100000) / 100.0 END, "
                f"timestamptz '2026-01-01 00:00:00+00' - (({rows} - i) * interval '1 second') "
                f"FROM generate_series(CAST(1 AS bigint), {rows}) AS i")
            conn.exec_driver_sql(f"CREATE INDEX {FAILING_TABLE}_created ON {FAILING_TABLE} (created_at)")
    if not built:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql(f"VACUUM ANALYZE {FAILING_TABLE}")
    engine.dispose()
    if built and FAILING_PARQUET.exists() and pl.scan_parquet(FAILING_PARQUET).select(pl.len()).collect().item() == rows:
        return
    print(f"writing the Parquet copy of {FAILING_TABLE} (once) ...", flush=True)
    FAILING_PARQUET.parent.mkdir(parents=True, exist_ok=True)
    adbc_frame(f"SELECT {', '.join(COLUMNS)} FROM {FAILING_TABLE}").write_parquet(FAILING_PARQUET, row_group_size=1_000_000)


def adbc_frame(sql: str):
    """One ADBC read (COPY binary, one connection) into Polars: the PostgreSQL limit's read. Its numeric
    arrives as text (an Arrow extension type) and is parsed into a decimal, the least any reader must do."""
    from engine.reader import _adbc_fetch, _adbc_frame

    return _adbc_frame(_adbc_fetch(PG_URL, sql, None))


def failing_limit():
    """The limit's one select for the failing variant: the ten aggregates plus the failing-row samples
    (first SAMPLE_ROWS rows, every column) of the three rules that fail, as the engine keeps them."""
    import polars as pl

    amount = pl.col("amount").cast(pl.Float64)
    masks = {"dup": pl.col("order_id").is_duplicated(), "range": (amount < 0) | (amount > 100000),
             "currency": ~pl.col("currency").is_in(["EUR", "USD", "GBP"])}
    samples = [pl.struct(COLUMNS).filter(mask).head(SAMPLE_ROWS).implode().alias(f"sample:{name}")
               for name, mask in masks.items()]
    return [*limit_aggregates(), pl.col("order_id").filter(masks["dup"]).n_unique().alias("dup_values"), *samples]


def build_parquet(rows: int) -> None:
    import connectorx as cx
    import polars as pl

    if PARQUET.exists() and pl.scan_parquet(PARQUET).select(pl.len()).collect().item() == rows:
        return
    print("writing the Parquet copy (once) ...", flush=True)
    PARQUET.parent.mkdir(parents=True, exist_ok=True)
    table = cx.read_sql(PG_URL, f"SELECT {', '.join(COLUMNS)} FROM orders", return_type="arrow",
                        partition_on="order_id", partition_num=2)
    pl.from_arrow(table).write_parquet(PARQUET, row_group_size=1_000_000)


def suite(source: str, table: str = "orders"):
    from engine.model import Layer, Level, Rule, Severity, Suite

    def rule(name: str, check: str, **params):
        fail = params.pop("_fail", None)
        return Rule(name=name, suite="orders", check=check, params=params, severity=Severity.HIGH, fail=fail)

    rules = (
        rule("orders_not_empty", "row_count", min=1),
        rule("customer_present", "not_null", column="customer_id"),
        rule("order_id_unique", "unique", column="order_id"),
        rule("email_null_rate", "null_rate", column="email", _fail=Level(max_fraction=0.05)),
        rule("email_format", "regex", column="email", pattern=EMAIL),
        rule("amount_range", "between", column="amount", min=0, max=100000),
        rule("status_known", "accepted_values", column="status",
             values=["NEW", "PAID", "SHIPPED", "DELIVERED", "CANCELLED"]),
        rule("currency_known", "accepted_values", column="currency", values=["EUR", "USD", "GBP"]),
        rule("orders_fresh", "freshness", column="created_at", max_age="2h"),
        rule("amount_mean", "aggregate", column="amount", stat="mean", min=100, max=900),
    )
    if source == "pg-pushdown":
        rules = tuple(r for r in rules if r.check not in ("regex", "freshness")) + (
            rule("email_length", "string_length", column="email", min=5, max=200),
            rule("currency_count", "count", column="currency", min=1),
        )
        return Suite(name="orders", source="pg", table="orders", schema=None, layer=Layer.SILVER,
                     data_classes=(), pii_columns=("email",), rules=rules, execution="pushdown")
    return Suite(name="orders", source=source, table=table, schema="silver" if source == "lake" else None,
                 layer=Layer.SILVER, data_classes=(), pii_columns=("email",), rules=rules)


def limit_aggregates():
    """The same ten checks written by hand as one select: what a perfect engine would compute."""
    import polars as pl

    email, amount = pl.col("email"), pl.col("amount").cast(pl.Float64)
    return [
        pl.len().alias("rows"),
        pl.col("customer_id").is_null().sum().alias("customer_nulls"),
        pl.col("order_id").is_duplicated().sum().alias("duplicates"),
        email.is_null().sum().alias("email_nulls"),
        (email.is_not_null() & ~email.str.contains(f"^(?:{EMAIL})$")).sum().alias("bad_emails"),
        ((amount < 0) | (amount > 100000)).sum().alias("out_of_range"),
        (~pl.col("status").is_in(["NEW", "PAID", "SHIPPED", "DELIVERED", "CANCELLED"])).sum().alias("bad_status"),
        (~pl.col("currency").is_in(["EUR", "USD", "GBP"])).sum().alias("bad_currency"),
        pl.col("created_at").max().alias("newest"),
        amount.mean().alias("mean_amount"),
    ]


HAND_TUNED = """
SELECT count(*) AS rows, count(*) FILTER (WHERE customer_id IS NULL) AS customer_nulls,
  (SELECT coalesce(sum(n), 0) FROM (SELECT count(*) AS n FROM orders GROUP BY order_id HAVING count(*) > 1) d)
    AS duplicates,
  count(*) FILTER (WHERE email IS NULL) AS email_nulls,
  count(*) FILTER (WHERE length(email) NOT BETWEEN 5 AND 200) AS bad_length,
  count(*) FILTER (WHERE amount < 0 OR amount > 100000) AS out_of_range,
  count(*) FILTER (WHERE status NOT IN ('NEW', 'PAID', 'SHIPPED', 'DELIVERED', 'CANCELLED')) AS bad_status,
  count(*) FILTER (WHERE currency NOT IN ('EUR', 'USD', 'GBP')) AS bad_currency,
  count(currency) AS currencies, avg(amount::float8) AS mean_amount
FROM orders"""


def hand_tuned(hashagg: bool) -> dict:
    import psycopg

    with psycopg.connect(PG_URL) as conn:
        conn.execute(f"SET enable_hashagg = {'on' if hashagg else 'off'}")
        return dict(zip(["rows"], conn.execute(HAND_TUNED).fetchone() or (), strict=False))


def measure(mode: str, partitions: int) -> dict:
    """Runs in a child process: one evaluation, its wall time and this process's peak memory."""
    # Everything is imported before the clock starts, as in a running scheduler; connectorx only where
    # the mode uses it (the pushdown client's peak is the point of its variant).
    import polars as pl

    from engine.evaluate import evaluate_suite
    from engine.model import Source

    if mode == "limit-postgresql" or "connectorx" in mode or mode.startswith("today"):
        import connectorx as cx
    if "adbc" in mode or mode == "limit-postgresql-failing":
        import adbc_driver_manager  # noqa: F401
        import adbc_driver_postgresql  # noqa: F401
        import pyarrow  # noqa: F401
    started = time.perf_counter()
    if mode.endswith("-failing"):
        summary = measure_failing(mode, partitions)
    elif mode == "limit-postgresql":
        table = cx.read_sql(PG_URL, f"SELECT {', '.join(COLUMNS)} FROM orders", return_type="arrow",
                            partition_on="order_id", partition_num=partitions)
        out = pl.from_arrow(table).select(limit_aggregates()).row(0, named=True)
        summary = f"rows={out['rows']}"
    elif mode in ("limit-pushdown", "limit-pushdown-hash"):
        summary = f"rows={hand_tuned(mode.endswith('hash'))['rows']}"
    elif mode == "engine-pushdown":
        os.environ["DQ_SOURCE_PG_URL"] = PG_URL
        report = evaluate_suite(suite("pg-pushdown"), {"pg": Source("pg")}, now=NOW)
        bad = [f"{r.rule_name}={r.status}" for r in report.results if r.status != "PASSED"]
        summary = f"status={report.status}" + (f" not passed: {bad}" if bad else "")
    elif mode == "limit-parquet":
        out = pl.scan_parquet(PARQUET).select(limit_aggregates()).collect().row(0, named=True)
        summary = f"rows={out['rows']}"
    else:
        os.environ["DQ_READ_PARTITIONS"] = str(partitions)
        os.environ["DQ_PARTITION_MIN_ROWS"] = "1000000"
        if mode == "engine-postgresql":
            os.environ["DQ_SOURCE_PG_URL"] = PG_URL
            report = evaluate_suite(suite("pg"), {"pg": Source("pg")}, now=NOW)
        else:
            os.environ["DQ_SOURCE_LAKE_URL"] = str(LAKE)
            report = evaluate_suite(suite("lake"), {"lake": Source("lake", kind="parquet")}, now=NOW)
        bad = [f"{r.rule_name}={r.status}" for r in report.results if r.status != "PASSED"]
        summary = f"rows={report.rows_read} status={report.status}" + (f" not passed: {bad}" if bad else "")
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"mode": mode, "seconds": seconds, "peak_mb": peak_mb, "summary": summary}


def measure_failing(mode: str, partitions: int) -> str:
    """One run of the failing variant (issue 14): a limit, or the engine through one reader."""
    import polars as pl

    from engine.evaluate import evaluate_suite
    from engine.model import Source

    if mode.startswith("limit-"):
        frame = (pl.scan_parquet(FAILING_PARQUET) if mode == "limit-parquet-failing"
                 else adbc_frame(f"SELECT {', '.join(COLUMNS)} FROM {FAILING_TABLE}").lazy())
        out = frame.select(failing_limit()).collect()
        return f"rows={out['rows'][0]} samples={sum(len(out[c][0]) for c in out.columns if c.startswith('sample:'))}"
    os.environ["DQ_READ_PARTITIONS"] = str(partitions)
    os.environ["DQ_PARTITION_MIN_ROWS"] = "1000000"
    os.environ["DQ_FAILING_ROWS_SAMPLE"] = str(SAMPLE_ROWS)
    if mode == "engine-parquet-failing":
        os.environ["DQ_SOURCE_LAKE_URL"] = str(LAKE)
        report = evaluate_suite(suite("lake", FAILING_TABLE), {"lake": Source("lake", kind="parquet")}, now=NOW)
    else:
        os.environ["DQ_SOURCE_PG_URL"] = PG_URL
        if mode != "today-postgresql-failing":
            os.environ["DQ_READER"] = "adbc" if mode == "engine-adbc-failing" else "connectorx"
        report = evaluate_suite(suite("pg", FAILING_TABLE), {"pg": Source("pg")}, now=NOW)
    failed = sorted(f"{r.rule_name}={r.status}({len(r.sample)})" for r in report.results if r.status != "PASSED")
    return f"rows={report.rows_read} failed: {' '.join(failed)}"


FAILING_MODES = ("limit-parquet-failing", "engine-parquet-failing", "limit-postgresql-failing",
                 "engine-adbc-failing", "engine-connectorx-failing")


def run_child(mode: str, partitions: int, root: Path = ROOT) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", mode, "--partitions", str(partitions),
                          "--root", str(root)], check=True, capture_output=True, text=True, cwd=root,
                         env=os.environ | {"PYTHONDONTWRITEBYTECODE": "1"})
    return json.loads(out.stdout.strip().splitlines()[-1])


def report_failing(rows: int, repeat: int, partitions: int, today: Path | None) -> None:
    """The failing variant: medians of `repeat` interleaved runs, each against its limit."""
    modes = FAILING_MODES + (("today-postgresql-failing",) if today else ())
    runs: dict[str, list[dict]] = {m: [] for m in modes}
    for _ in range(repeat):
        for mode in modes:
            print(f"  {mode} ...", flush=True)
            runs[mode].append(run_child(mode, partitions, today if mode.startswith("today") and today else ROOT))
    median = {m: sorted(r, key=lambda x: x["seconds"])[len(r) // 2] for m, r in runs.items()}
    memory = {m: sorted(x["peak_mb"] for x in r)[len(r) // 2] for m, r in runs.items()}
    print(f"\n{rows:,} rows (no primary key), 10 rules, 3 failing with samples, median of {repeat}, "
          f"{partitions} partitions, {os.cpu_count()} CPUs")
    print(f"{'mode':<28}{'seconds':>9}{'peak MB':>10}{'time x':>8}{'memory x':>10}  result")
    for mode in modes:
        limit = "limit-parquet-failing" if "parquet" in mode else "limit-postgresql-failing"
        print(f"{mode:<28}{median[mode]['seconds']:>9.2f}{memory[mode]:>10,.0f}"
              f"{median[mode]['seconds'] / median[limit]['seconds']:>8.3f}{memory[mode] / memory[limit]:>10.3f}"
              f"  {median[mode]['summary']}")
    baseline = "today-postgresql-failing" if today else "engine-connectorx-failing"
    print(f"ADBC suite vs {baseline}: {median['engine-adbc-failing']['seconds'] / median[baseline]['seconds']:.3f}x "
          f"time, {memory['engine-adbc-failing'] / memory[baseline]:.3f}x memory (target <= 0.7x time)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--partitions", type=int, default=2)
    parser.add_argument("--child")
    parser.add_argument("--pushdown", action="store_true", help="only the pushdown variant (issue 14)")
    parser.add_argument("--failing", action="store_true", help="only the no-key, 3-rules-failing variant (issue 14)")
    parser.add_argument("--today", type=Path, help="with --failing: a checkout of the engine before issue 14")
    parser.add_argument("--root", type=Path, default=ROOT, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        sys.path.insert(0, str(args.root))
        print(json.dumps(measure(args.child, args.partitions)))
        return
    if args.failing:
        build_failing(args.rows)
        report_failing(args.rows, args.repeat, args.partitions, args.today)
        return
    build_postgres(args.rows)
    if not args.pushdown:
        build_parquet(args.rows)
    modes = (("limit-pushdown", "limit-pushdown-hash", "engine-pushdown") if args.pushdown else
             ("limit-postgresql", "engine-postgresql", "limit-parquet", "engine-parquet"))
    best: dict[str, dict] = {}
    for _ in range(args.repeat):
        for mode in modes:
            result = run_child(mode, args.partitions)
            if mode not in best or result["seconds"] < best[mode]["seconds"]:
                best[mode] = result
    print(f"\n{args.rows:,} rows, 10 rules, best of {args.repeat}, {args.partitions} partitions, {os.cpu_count()} CPUs")
    print(f"{'mode':<20}{'seconds':>9}{'rows/s':>14}{'peak MB':>10}{'time x':>8}{'memory x':>10}  result")
    for source in (("pushdown",) if args.pushdown else ("postgresql", "parquet")):
        limit = best[f"limit-{source}"]
        for mode in [m for m in modes if m.endswith(source) or m.startswith(f"limit-{source}")]:
            r = best[mode]
            print(f"{mode:<20}{r['seconds']:>9.2f}{args.rows / r['seconds']:>14,.0f}{r['peak_mb']:>10,.0f}"
                  f"{r['seconds'] / limit['seconds']:>8.3f}{r['peak_mb'] / limit['peak_mb']:>10.3f}  {r['summary']}")


if __name__ == "__main__":
    main()
