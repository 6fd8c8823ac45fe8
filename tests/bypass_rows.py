"""Rows for bypass and gate tests: suites, runs and results inserted through store.schema."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import clock
from store import db
from store.bypass import NewRequest
from store.schema import results, runs, suites, violations


def add_suite(name: str, layer: str = "silver", data_classes: Sequence[str] = ()) -> None:
    with db.write() as conn:
        conn.execute(
            suites.insert().values(
                name=name, source="warehouse", table_name=f"{name}_table" if "." not in name else name,
                layer=layer, data_classes=list(data_classes), pii_columns=[], definition={},
                enabled=True, updated_at=clock.utcnow(),
            )
        )


def add_run(
    suite: str, outcomes: Sequence[tuple[str, str, str]], *, started_at: datetime | None = None,
    error: str | None = None,
) -> int:
    """One finished run; outcomes are (rule, severity, verdict). Status = worst verdict."""
    started = started_at or clock.utcnow()
    order = ["PASSED", "WARNED", "FAILED", "ERROR"]
    status = max((o[2] for o in outcomes), key=order.index, default="PASSED")
    with db.write() as conn:
        run_id = conn.execute(
            runs.insert().values(
                suite=suite, source="warehouse", trigger="schedule", status="ERROR" if error else status,
                started_at=started, finished_at=started, error=error,
            )
        ).inserted_primary_key[0]
        for rule, severity, verdict in outcomes:
            conn.execute(
                results.insert().values(
                    run_id=run_id, rule_name=rule, suite=suite, check_type="not_null", severity=severity,
                    status=verdict, metrics={}, message=f"{rule}: 3 rows are null" if verdict != "PASSED" else "ok",
                    finished_at=started,
                )
            )
            if verdict == "FAILED":
                conn.execute(
                    violations.insert().values(
                        rule_name=rule, suite=suite, source="warehouse", check_type="not_null",
                        severity=severity, status="open", verdict="FAILED", detected_at=started,
                        last_seen_at=started, occurrences=1, first_run_id=run_id, last_run_id=run_id,
                        acknowledged=False,
                    )
                )
    return int(run_id)


def checklist(suite: str, hours: float = 6, **changes: object) -> NewRequest:
    values: dict[str, object] = dict(
        suite=suite, incident_id="INC-42", incident_url="https://jira.example.com/browse/INC-42",
        failure_details="orders_id_not_null failed", business_impact="Orders dashboard blocked",
        duration_hours=hours, impact_assessment="Downstream gold.revenue sees 0.1% null ids",
        rollback_plan="Restore s3 latest/ from backup/", fix_timeline="Next release (24 hours)",
        alternative_plan="Backfill ids from the source system",
    )
    values.update(changes)
    return NewRequest(**values)  # type: ignore[arg-type]
