"""Console speed on a year of history: 1 million violations and 200,000 runs in a PostgreSQL store.

    /work/venv/bin/python bench/console_bench.py [--admin-url URL] [--keep] [--rounds 3]

Builds (or reuses, with --keep) the database `dq_console_bench`, generated in the database with
generate_series; then, per page, times the store queries of its first view (cold engine, best of
--rounds) and the whole page render under AppTest (server time, caches cleared). Prints a table.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from store import alerts as store_alerts  # noqa: E402
from store import db, kpis, migrations, queries, review  # noqa: E402
from store.kpis import Window  # noqa: E402
from store.queries import RunFilter, ViolationFilter  # noqa: E402

DATABASE = "dq_console_bench"
BENCH_RULE, BENCH_SUITE = "rule_8", "suite_1"  # a freshness rule of an enabled suite of 5 rules
RULES, SUITES, RUNS, RESULTS_PER_RUN, VIOLATIONS = 500, 100, 200_000, 5, 1_000_000

GENERATE = [
    # suites and rules: 100 tables over 4 sources and 3 layers, 5 rules each (every 10th suite has none enabled)
    f"""INSERT INTO suites (name, source, table_name, layer, data_classes, pii_columns, owner, definition, enabled, updated_at)
        SELECT 'suite_' || s, 'db_' || (s % 4), 'table_' || s, (ARRAY['bronze','silver','gold'])[1 + s % 3],
               '[]', '[]', 'team_' || (s % 7) || '@company.com', '{{}}', true, now() AT TIME ZONE 'UTC'
        FROM generate_series(0, {SUITES - 1}) s""",
    f"""INSERT INTO rules (name, suite, source, table_name, check_type, params, severity, enabled, status, use_sampling,
                           owner, definition, definition_hash, version, created_at, updated_at)
        SELECT 'rule_' || r, 'suite_' || (r / 5), 'db_' || ((r / 5) % 4), 'table_' || (r / 5),
               (ARRAY['not_null','unique','between','freshness','schema'])[1 + r % 5], '{{}}',
               (ARRAY['INFO','LOW','MEDIUM','HIGH','CRITICAL'])[1 + r % 5], (r / 5) % 10 <> 0,
               CASE WHEN (r / 5) % 10 = 0 THEN 'disabled' ELSE 'active' END, r % 3 = 0,
               'team_' || ((r / 5) % 7) || '@company.com', '{{}}', md5(r::text) || md5(r::text), 1,
               now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC'
        FROM generate_series(0, {RULES - 1}) r""",
    # 200,000 runs spread evenly over the last 365 days
    f"""INSERT INTO runs (id, suite, source, trigger, status, started_at, finished_at, duration_ms, rows_read,
                          rules_total, rules_failed, rules_error)
        SELECT i, 'suite_' || (i % {SUITES}), 'db_' || ((i % {SUITES}) % 4), 'schedule',
               CASE WHEN i % 50 = 0 THEN 'ERROR' WHEN i % 9 = 0 THEN 'FAILED' ELSE 'PASSED' END,
               t, t + interval '1 second' * (1 + i % 40), 1000.0 * (1 + i % 40), 100000, 5,
               (i % 9 = 0)::int, (i % 50 = 0)::int
        FROM (SELECT i, (now() AT TIME ZONE 'UTC') - interval '365 days' * i / {RUNS} AS t
              FROM generate_series(1, {RUNS}) i) g""",
    f"SELECT setval(pg_get_serial_sequence('runs', 'id'), {RUNS})",
    # 5 results per run, one per rule of the run's suite
    f"""INSERT INTO results (run_id, rule_name, suite, check_type, severity, status, observed_value, observed_text,
                             failing_rows, rows_tested, metrics, message, duration_ms, finished_at)
        SELECT ru.id, 'rule_' || (s * 5 + k), ru.suite,
               (ARRAY['not_null','unique','between','freshness','schema'])[1 + k],
               (ARRAY['INFO','LOW','MEDIUM','HIGH','CRITICAL'])[1 + k],
               CASE WHEN (ru.id + k) % 50 = 0 THEN 'ERROR' WHEN (ru.id + k) % 17 = 0 THEN 'FAILED'
                    WHEN (ru.id + k) % 23 = 0 THEN 'WARNED' ELSE 'PASSED' END,
               CASE WHEN k = 3 THEN 600 + (ru.id % 5000) ELSE (ru.id % 13) END,
               CASE WHEN k = 4 AND ru.id % 400 = 0 THEN 'added column c' || (ru.id % 3) END,
               ru.id % 13, 1000 * (1 + (s * 5 + k) % 200), '{{}}', 'generated', 10.0, ru.finished_at
        FROM runs ru, LATERAL (SELECT (ru.id % {SUITES}) AS s) x, generate_series(0, {RESULTS_PER_RUN - 1}) k""",
    # 1,000,000 violations over the year: 1% open, 2% acknowledged, the rest resolved
    f"""INSERT INTO violations (rule_name, suite, source, check_type, severity, status, verdict, detected_at,
                                last_seen_at, occurrences, observed_value, threshold, failing_rows, message, sample,
                                acknowledged, acknowledged_by, acknowledged_at, resolved_at, resolved_by, resolution)
        SELECT 'rule_' || (v % {RULES}), 'suite_' || ((v % {RULES}) / 5), 'db_' || (((v % {RULES}) / 5) % 4),
               'not_null', (ARRAY['INFO','LOW','MEDIUM','HIGH','CRITICAL'])[1 + (v % {RULES}) % 5],
               CASE WHEN v % 100 = 0 THEN 'open' WHEN v % 100 < 3 THEN 'acknowledged' ELSE 'resolved' END,
               'FAILED', t, t + interval '10 minutes', 1 + v % 5, v % 97, 'more than 0 rows', v % 97,
               'generated', '[{{"id": null}}]', v % 100 <> 0,
               CASE WHEN v % 100 <> 0 THEN 'oncall@company.com' END,
               CASE WHEN v % 100 <> 0 THEN t + interval '1 minute' * (2 + v % 20) END,
               CASE WHEN v % 100 >= 3 THEN t + interval '1 hour' END,
               CASE WHEN v % 100 >= 3 THEN 'auto' END, CASE WHEN v % 100 >= 3 THEN 'auto' END
        FROM (SELECT v, (now() AT TIME ZONE 'UTC') - interval '365 days' * v / {VIOLATIONS} AS t
              FROM generate_series(1, {VIOLATIONS}) v) g""",
    # one sent alert per violation for the last 30 days' violations
    """INSERT INTO alerts (violation_id, rule_name, suite, severity, kind, channel, payload, status, attempts,
                           created_at, sent_at)
        SELECT id, rule_name, suite, severity, 'trigger', 'slack', '{}', 'sent', 1, detected_at, detected_at
        FROM violations WHERE detected_at > (now() AT TIME ZONE 'UTC') - interval '30 days'""",
    """INSERT INTO scheduler_heartbeats (scheduler_id, host, pid, started_at, beat_at, status)
        VALUES ('bench:1', 'bench', 1, (now() AT TIME ZONE 'UTC') - interval '400 days', now() AT TIME ZONE 'UTC', 'running')""",
    """INSERT INTO scheduler_uptime (scheduler_id, up_from, up_to)
        VALUES ('bench:1', (now() AT TIME ZONE 'UTC') - interval '400 days', now() AT TIME ZONE 'UTC')""",
    """INSERT INTO run_requests (suite, requested_by, requested_at, origin, status)
        SELECT 'suite_' || i, 'bench', now() AT TIME ZONE 'UTC', 'console', 'pending' FROM generate_series(1, 7) i""",
]


def build(admin_url: str, keep: bool) -> str:
    url = sa.engine.make_url(admin_url).set(database=DATABASE).render_as_string(hide_password=False)
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.exec_driver_sql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'").first()
        if exists and keep:
            print(f"reusing {DATABASE}; applied migrations: {migrations.migrate(db.get_engine(url)) or 'none'}")
            return url
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        conn.exec_driver_sql(f"CREATE DATABASE {DATABASE}")
    admin.dispose()
    engine = db.get_engine(url)
    migrations.migrate(engine)
    started = time.perf_counter()
    with engine.begin() as conn:
        for statement in GENERATE:
            conn.execute(sa.text(statement))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE")
    print(f"generated the store in {time.perf_counter() - started:.1f} s")
    return url


def first_view_queries() -> dict[str, list[tuple[str, Callable[[], Any]]]]:
    """The store calls each page makes on its first view (default filters and window)."""
    day = Window.last(24)
    return {
        "Health": [
            ("heartbeats", lambda: queries.heartbeats()), ("queue_length", lambda: queries.queue_length()),
            ("daily_summary (KPIs)", lambda: kpis.daily_summary(day)),
            ("success_over_time", lambda: kpis.success_over_time(day)),
            ("violations_by_severity", lambda: kpis.violations_by_severity(day)),
            ("top_failing_rules", lambda: kpis.top_failing_rules(day)),
            ("check_durations", lambda: kpis.check_durations(day)),
            ("response_times", lambda: kpis.response_times(day)),
        ],
        "Violations": [
            ("filter_options", lambda: queries.filter_options()),
            ("violations_list", lambda: queries.violations_list(ViolationFilter())),
            ("violations_count", lambda: queries.violations_count(ViolationFilter())),
        ],
        "Rule review": [("weekly_review", lambda: review.weekly_review())],
        "Runs": [
            ("filter_options", lambda: queries.filter_options()),
            ("runs_list", lambda: queries.runs_list(RunFilter(started_since=Window.last(24).since))),
            ("recent_run_requests", lambda: queries.recent_run_requests()),
        ],
        "Rules": [("rules_overview", lambda: queries.rules_overview())],
        "Alerts": [
            ("alert_status_counts", lambda: queries.alert_status_counts(Window.last(24 * 7).since)),
            ("alert_response KPI", lambda: kpis.kpi("alert_response", Window.last(24 * 7))),
            ("failed_table", lambda: store_alerts.failed_table()),
            ("alerts_table", lambda: store_alerts.alerts_table(Window.last(24 * 7).since)),
        ],
        "Rule (page)": [
            ("rule_detail", lambda: queries.rule_detail(BENCH_RULE)),
            ("suite_detail", lambda: queries.suite_detail(BENCH_SUITE)),
            ("rule_results (30 d)", lambda: queries.rule_results(BENCH_RULE, 30)),
            ("rule_violations (30 d)", lambda: queries.rule_violations(BENCH_RULE, 30)),
        ],
        "Table (page)": [
            ("suite_detail", lambda: queries.suite_detail(BENCH_SUITE)),
            ("suite_rules", lambda: queries.suite_rules(BENCH_SUITE)),
            ("open violations", lambda: queries.violations_list(ViolationFilter(suites=(BENCH_SUITE,), limit=200))),
        ],
    }


def time_queries(rounds: int) -> dict[str, float]:
    totals: dict[str, float] = {}
    for page, calls in first_view_queries().items():
        print(f"\n{page}: first-view queries (best of {rounds}, ms)")
        page_total = 0.0
        for name, call in calls:
            samples = []
            for _ in range(rounds):
                db.dispose_all()  # a cold connection each time, as for a new console session
                started = time.perf_counter()
                call()
                samples.append((time.perf_counter() - started) * 1000)
            page_total += min(samples)
            print(f"  {name:<24} best {min(samples):8.1f}   median {statistics.median(samples):8.1f}")
        totals[page] = page_total
        print(f"  {'total':<24} {page_total:8.1f}")
    return totals


def time_renders(rounds: int) -> dict[str, float]:
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    renders: dict[str, float] = {}
    pages = {"Health": ("pages/health.py", {}), "Violations": ("pages/violations.py", {}),
             "Rule review": ("pages/rule_review.py", {}), "Runs": ("pages/runs.py", {}),
             "Rules": ("pages/rules.py", {}), "Alerts": ("pages/alerts.py", {}),
             "Bypass requests": ("pages/bypass_requests.py", {}),
             "Rule (page)": ("pages/rule.py", {"name": BENCH_RULE}),
             "Table (page)": ("pages/table.py", {"suite": BENCH_SUITE}),
             "Violation detail": ("pages/violations.py", {"violation": "1000000"})}
    warm = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    warm.run()  # imports (pandas, pyarrow) once, as a running server has them
    for title, (path, params) in pages.items():
        samples = []
        for _ in range(rounds):
            at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
            at.run()  # app.py renders the default page (Health) first
            at.switch_page(path)
            for key, value in params.items():
                at.query_params[key] = value
            st.cache_data.clear()  # the timed run is a first view: nothing cached
            started = time.perf_counter()
            at.run()
            samples.append((time.perf_counter() - started) * 1000)
            if at.exception:
                raise SystemExit(f"{title} raised: {at.exception[0].value}")
        renders[title] = min(samples)
    return renders


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--admin-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--keep", action="store_true", help="reuse an existing generated database")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    url = build(args.admin_url, args.keep)
    os.environ["DQ_STORE_URL"] = url
    with db.read(db.get_engine(url)) as conn:
        counts = {t: conn.exec_driver_sql(f"SELECT count(*) FROM {t}").scalar() for t in ("violations", "runs", "results")}
    print("store:", ", ".join(f"{n:,} {t}" for t, n in counts.items()))
    totals = time_queries(args.rounds)
    renders = time_renders(args.rounds)
    print("\npage           queries (ms)   AppTest render, server time (ms)")
    for page in renders:
        total = f"{totals[page]:10.1f}" if page in totals else " " * 10
        print(f"{page:<17} {total}   {renders[page]:10.1f}")


if __name__ == "__main__":
    main()
