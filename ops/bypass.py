"""Bypass use cases for the console and the CLI: request, decide, restore, rollback, expire, export."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any

import clock
import settings
from engine.errors import EngineError
from engine.manifest import ManifestError
from ops import approver_notices, gate, housekeeping
from ops.roles import User
from store import bypass as bypass_store
from store import db, gate_reads
from store import export as store_export
from store.bypass import BypassRequest, NewRequest
from store.errors import StoreError

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FailureDetails:
    run_id: int | None
    violation_ids: tuple[int, ...]
    text: str


@dataclass(frozen=True)
class RestoreOutcome:
    request: BypassRequest
    run_id: int | None
    passed: bool | None  # None: the suite could not run
    lines: tuple[str, ...]


def _severities() -> tuple[str, ...]:
    """What blocks the gate now (config/dq.yaml plus HIGH and CRITICAL); a bypass covers only that."""
    return gate.load_config().effective_severities


def failure_details(suite: str) -> FailureDetails:
    """The suite's latest failing complete run and open violations, as the request form's failure details."""
    run = gate_reads.latest_complete_run(suite, failing_only=True)
    violation_ids = gate_reads.open_violation_ids(suite)
    if run is None:
        return FailureDetails(None, violation_ids, f"No failing complete run of {suite} is recorded.")
    failing = [r for r in run.results if r.status in gate.BLOCKING_VERDICTS]
    lines = [f"Run #{run.run_id} of {suite} ({run.status}) started {run.started_at:%Y-%m-%d %H:%M} UTC:"]
    lines += [f"- {r.rule_name} [{r.severity}] {r.status}: {r.message}" for r in failing]
    if run.error:
        lines.append(f"- suite error: {run.error}")
    if violation_ids:
        lines.append("Open violations: " + ", ".join(f"#{v}" for v in violation_ids))
    return FailureDetails(run.run_id, violation_ids, "\n".join(lines))


def request(user: User, new: NewRequest) -> int:
    """File a request; the failing run and violations are linked automatically; its approvers are told."""
    found = failure_details(new.suite)
    filled = replace(
        new,
        failure_details=new.failure_details.strip() or found.text,
        run_id=new.run_id if new.run_id is not None else found.run_id,
        violation_ids=new.violation_ids or found.violation_ids,
    )
    request_id = bypass_store.create_request(user, filled, blocking=_severities())
    try:
        approver_notices.notify_approvers()
    except Exception:  # noqa: BLE001 - the request is filed; the scheduler's job notifies them within 30 s
        _log.exception("bypass #%s is filed, but its approvers could not be notified yet", request_id)
    return request_id


def approve(user: User, request_id: int) -> BypassRequest:
    return bypass_store.approve(user, request_id, blocking=_severities())


def reject(user: User, request_id: int, reason: str) -> BypassRequest:
    return bypass_store.reject(user, request_id, reason)


def rollback(user: User, request_id: int, reason: str) -> BypassRequest:
    """Disable now; the alerting helper sends the queued `bypass` alert to the stakeholders."""
    return bypass_store.rollback(user, request_id, reason)


def restore(user: User, request_id: int, note: str) -> RestoreOutcome:
    """End the bypass, re-run the suite, record whether the gate passes again."""
    actor = user.name
    closed = bypass_store.restore(user, request_id, note)
    try:
        config = gate.load_config()
        run = gate.run_now(closed.suite, actor)
    except (gate.SuiteNotRun, gate.GateConfigError, StoreError, EngineError, ManifestError) as exc:
        # The bypass is already ended; record and show why the verification could not run.
        summary = f"the suite could not be re-run: {exc}"
        bypass_store.record_verification(actor, request_id, None, False, summary)
        return RestoreOutcome(bypass_store.get(request_id), None, None, (f"DQ gate restored; {summary}",))
    blocking = gate.blocking_results(run, config)
    passed = not blocking
    if passed:
        lines = [f"DQ gate restored. Re-run #{run.run_id} of {closed.suite}: PASS."]
    else:
        lines = [f"DQ gate restored. Re-run #{run.run_id} of {closed.suite}: FAIL - {len(blocking)} blocking rule(s):"]
        lines += [f"- {b.rule_name} [{b.severity}] {b.status}: {b.message}" for b in blocking]
    bypass_store.record_verification(actor, request_id, run.run_id, passed, lines[0])
    return RestoreOutcome(bypass_store.get(request_id), run.run_id, passed, tuple(lines))


@housekeeping.job(every_seconds=60)
def end_passed_bypasses(now: datetime) -> list[int]:
    """End bypasses whose suite passed a complete run since activation, with their audit row and notice."""
    return bypass_store.end_passed(None, now, blocking=_severities())


@housekeeping.job(every_seconds=60)
def expire_bypasses(now: datetime) -> list[int]:
    """Close bypasses past their end time (the gate refuses them anyway, even if this runs late)."""
    return bypass_store.expire_due(now)


# --- export --------------------------------------------------------------------------------


def export_history(request_id: int, fmt: str = "json") -> str:
    """The request, its approvals and its audit trail, for the incident ticket."""
    request, entries = bypass_store.history(request_id)
    ticket = _ticket(request)
    document = {
        "request": _plain(asdict(request)),
        "ticket": ticket,
        "audit": [_plain(asdict(e)) for e in entries],
        "exported_at": clock.utcnow().isoformat(),
    }
    if fmt == "json":
        return json.dumps(document, indent=2, sort_keys=True)
    if fmt in {"md", "markdown"}:
        return _markdown(request, entries, ticket)
    raise ValueError(f"unknown export format {fmt!r}. Hint: use json or markdown.")


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _ticket(request: BypassRequest) -> dict[str, Any]:
    """Step 1 of the failover procedure: table, owner, layer, data classes, and where to look."""
    with db.read() as conn:
        suite = store_export.suite_ticket_fields(conn, request.suite)
    base = str(settings.get("DQ_CONSOLE_URL")).rstrip("/")
    return {"table": request.table_name, "suite": request.suite, "source": suite.get("source"),
            "owner": suite.get("owner"), "layer": request.layer, "data_classes": list(request.data_classes),
            "console_link": f"{base}/bypass_requests?request={request.id}"}


def _markdown(request: BypassRequest, entries: list[bypass_store.AuditEntry], ticket: dict[str, Any]) -> str:
    out = [
        f"# Bypass #{request.id}: {request.table_name} ({request.suite}, {request.layer})",
        "",
        f"- Status: **{request.status}**",
        f"- Table: {ticket['source']}: {ticket['table']} (layer {ticket['layer']}; data classes: "
        f"{', '.join(ticket['data_classes']) or 'none'})",
        f"- Owner: {ticket['owner'] or 'not set'}",
        f"- Console: <{ticket['console_link']}>",
        f"- Incident: {request.incident_id} <{request.incident_url}>",
        f"- Requested by {request.requested_by} at {request.requested_at:%Y-%m-%d %H:%M:%S} UTC",
        f"- Duration: {request.duration_hours:g} h",
    ]
    if request.kind == bypass_store.MANUAL_FIX:  # failover Option C: a record, never a pass
        out.append(f"- Manual fix (Option C), not a bypass: SQL of {request.sql_bytes} bytes, sha256 {request.sql_sha256}")
    if request.activated_at and request.expires_at:
        out.append(f"- Active from {request.activated_at:%Y-%m-%d %H:%M} to {request.expires_at:%Y-%m-%d %H:%M} UTC")
    if request.closed_at:
        out.append(f"- Closed ({request.status}) by {request.closed_by} at {request.closed_at:%Y-%m-%d %H:%M} UTC: {request.close_note}")
    for name, label in bypass_store.CHECKLIST_FIELDS[2:]:
        out += ["", f"## {label}", "", str(getattr(request, name))]
    out += ["", "## Decisions", ""]
    out += [
        f"- {a.decided_at:%Y-%m-%d %H:%M:%S} UTC {a.approver} ({a.role}): {a.decision}"
        + (f" - {a.reason}" if a.reason else "")
        for a in request.approvals
    ] or ["- none"]
    out += ["", "## Audit trail", "", "| at (UTC) | actor | action | details |", "| --- | --- | --- | --- |"]
    for e in entries:
        details = json.dumps(_plain(e.details), sort_keys=True).replace("|", "\\|")
        out.append(f"| {e.at:%Y-%m-%d %H:%M:%S} | {e.actor} | {e.action} | {details} |")
    return "\n".join(out) + "\n"
