"""`python manage.py dq_gate --suite silver.orders [--bypass]`: the pipeline's DQ gate.

Exit codes: 0 no blocking rule failed (or an approved bypass covers it, printed loudly),
1 a blocking rule failed, 2 the suite could not run (a timeout, SIGINT or SIGTERM included: the run
is recorded ERROR or ABORTED), 3 usage. See docs/gate.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cli import UsageError
from cli.run_dq_checks import positive_timeout
from ops import gate
from ops.run_checks import Interrupted, interruptible
from store.approval_matrix import MatrixError


def _flag(value: str) -> bool:
    # Airflow renders "{{ params.bypass_dq }}" as "true"/"false"/"" in the EMR job arguments.
    lowered = value.strip().lower()
    if lowered in {"true", "1", "yes"}:
        return True
    if lowered in {"false", "0", "no", ""}:
        return False
    raise argparse.ArgumentTypeError(f"{value!r} is not true or false")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "dq_gate", help="exit 0 unless a blocking rule of the suite fails (bypass only if approved)"
    )
    parser.add_argument("--suite", required=True, help="suite name, e.g. silver.orders")
    parser.add_argument(
        "--bypass", nargs="?", const=True, default=False, type=_flag, metavar="true|false",
        help="ask to pass despite failures; honoured only with an approved, unexpired bypass in the store",
    )
    parser.add_argument("--max-age", type=float, metavar="MINUTES", help="use the latest run if this recent")
    parser.add_argument("--config", type=Path, help="the gate config (default: DQ_CONFIG_DIR/dq.yaml)")
    parser.add_argument("--actor", default="dq_gate", help="who calls the gate, for the audit log (e.g. airflow:dag)")
    parser.add_argument("--timeout", type=float, metavar="SECONDS",
                        help="stop the suite's reads after this long, in the source too; its rules are then ERROR "
                        "(default: DQ_SUITE_TIMEOUT_SECONDS)")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    if args.max_age is not None and args.max_age <= 0:
        raise UsageError("--max-age must be a positive number of minutes. Hint: e.g. --max-age 60.")
    timeout = positive_timeout(args.timeout)
    try:
        config = gate.load_config(args.config)
        with interruptible():
            decision = gate.run_gate(
                args.suite, bypass_flag=args.bypass, max_age_minutes=args.max_age, config=config, actor=args.actor,
                timeout_seconds=timeout,
            )
    except Interrupted as stop:
        runs = ", ".join(f"#{r}" for r in stop.run_ids) or "none started"
        print(f"manage.py dq_gate: interrupted by {stop}; run {runs} recorded ABORTED. The gate decided nothing "
              "(exit 2 for the pipeline). Hint: re-run the task.", file=sys.stderr)
        return gate.EXIT_NOT_RUN
    except (gate.GateConfigError, MatrixError) as exc:
        print(f"manage.py dq_gate: {exc}", file=sys.stderr)
        return gate.EXIT_NOT_RUN
    except gate.SuiteNotRun as exc:
        print(f"manage.py dq_gate: {exc}. Hint: check the source and run `python manage.py run_dq_checks`.", file=sys.stderr)
        return gate.EXIT_NOT_RUN
    stream = sys.stdout if decision.passed else sys.stderr
    for line in decision.lines:
        print(line, file=stream)
    return decision.exit_code
