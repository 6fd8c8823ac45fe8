"""OpenLineage: each recorded run posts a run event whose input dataset carries the rules' results
as a DataQualityAssertionsDatasetFacet, which Marquez, DataHub and OpenMetadata show on the table.

Off unless DQ_OPENLINEAGE_URL is set. A receiver that is down or refuses never fails the run:
the failure is logged ("OpenLineage event failed") and counted (dq_openlineage_events_total).
"""

from __future__ import annotations

import logging
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import settings
from engine.model import Suite
from engine.results import SuiteReport, Verdict
from telemetry import counters
from telemetry.logs import LINEAGE_FAILED, event

if TYPE_CHECKING:  # openlineage costs 0.2 s to import: only runs that emit pay it
    from openlineage.client import OpenLineageClient
    from openlineage.client.event_v2 import RunEvent

PRODUCER = "https://github.com/dq-console/dq-console"
_log = logging.getLogger("dq.lineage")
# One quick retry: a run must not wait long on a receiver that is down.
_RETRY = {"total": 1, "connect": 1, "read": 1, "backoff_factor": 0.2,
          "status_forcelist": [500, 502, 503, 504], "allowed_methods": ["POST"]}


def enabled() -> bool:
    return bool(settings.get("DQ_OPENLINEAGE_URL").strip())


_clients: dict[tuple[object, ...], OpenLineageClient] = {}


def _client() -> OpenLineageClient:
    """One client per configuration and process (its HTTP session is reused between runs)."""
    key = (settings.get("DQ_OPENLINEAGE_URL").strip(), settings.get("DQ_OPENLINEAGE_ENDPOINT"),
           settings.get("DQ_OPENLINEAGE_TIMEOUT_SECONDS"), settings.get("DQ_OPENLINEAGE_API_KEY"))
    if key not in _clients:
        _clients.clear()
        _clients[key] = _new_client()
    return _clients[key]


def _new_client() -> OpenLineageClient:
    from openlineage.client import OpenLineageClient
    from openlineage.client.transport import http as ol_http

    logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)  # our own line says what failed
    key = settings.get("DQ_OPENLINEAGE_API_KEY")
    auth = ol_http.ApiKeyTokenProvider({"apiKey": key}) if key else ol_http.TokenProvider({})
    config = ol_http.HttpConfig(url=settings.get("DQ_OPENLINEAGE_URL").strip(), endpoint=settings.get("DQ_OPENLINEAGE_ENDPOINT"),
                        timeout=settings.get("DQ_OPENLINEAGE_TIMEOUT_SECONDS"), auth=auth, retry=_RETRY)
    return OpenLineageClient(transport=ol_http.HttpTransport(config))


def dataset(suite: Suite) -> tuple[str, str]:
    """(namespace, name) of the suite's table in OpenLineage's naming: postgres://host:port + db.schema.table."""
    try:
        url = settings.source_url(suite.source) or ""
    except Exception:  # noqa: BLE001 - an unconfigured source still gets a stable name
        url = ""
    parts = urlsplit(url) if "://" in url else None
    scheme = parts.scheme.split("+")[0].lower() if parts else ""
    if parts and scheme in {"postgresql", "postgres", "mysql", "mariadb"} and parts.hostname:
        kind, default_port = ("postgres", 5432) if scheme.startswith("postgres") else ("mysql", 3306)
        database = parts.path.lstrip("/")
        table = suite.qualified_table if kind == "mysql" or suite.schema else f"public.{suite.table}"
        return f"{kind}://{parts.hostname}:{parts.port or default_port}", f"{database}.{table}" if database else table
    return f"dq-source://{suite.source}", suite.qualified_table


def run_uuid(run_id: int) -> str:
    """A stable OpenLineage run id per recorded run (a re-sent event names the same run)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"dq:{settings.get('DQ_OPENLINEAGE_NAMESPACE')}:run:{run_id}"))


def run_event(report: SuiteReport, suite: Suite, run_id: int) -> RunEvent:
    from openlineage.client.event_v2 import InputDataset, Job, Run, RunEvent, RunState
    from openlineage.client.facet_v2 import data_quality_assertions_dataset as dqa

    rules = {r.name: r for r in suite.rules}
    assertions = []
    for result in report.results:
        if result.status in (Verdict.SKIPPED, Verdict.NOT_ENOUGH_HISTORY):  # neither a pass nor a failure
            continue
        rule = rules.get(result.rule_name)
        column = rule.param("column") if rule is not None else None
        assertions.append(dqa.Assertion(
            assertion=result.check_type, success=result.status in (Verdict.PASSED, Verdict.WARNED),
            column=str(column) if column else None, severity=result.severity.lower(), name=result.rule_name,
            expected=result.fail_level, actual=None if result.observed_value is None else repr(result.observed_value),
            params={"verdict": result.status.value},
        ))
    namespace, name = dataset(suite)
    state = RunState.FAIL if report.error else RunState.COMPLETE
    return RunEvent(
        eventTime=report.finished_at.isoformat(), producer=PRODUCER, eventType=state,
        run=Run(runId=run_uuid(run_id)),
        job=Job(namespace=settings.get("DQ_OPENLINEAGE_NAMESPACE"), name=suite.name),
        inputs=[InputDataset(namespace=namespace, name=name,
                             inputFacets={"dataQualityAssertions": dqa.DataQualityAssertionsDatasetFacet(assertions=assertions)})],
    )


def emit(report: SuiteReport, suite: Suite, run_id: int) -> bool:
    """Post the run's event if lineage is configured; False (logged, counted) when it could not be sent."""
    if not enabled():
        return False
    try:
        _client().emit(run_event(report, suite, run_id))
    except Exception as exc:  # noqa: BLE001 - lineage is never a reason for a run to fail
        counters.LINEAGE.labels("failed").inc()
        event(_log, logging.WARNING, LINEAGE_FAILED, run_id=run_id, suite=suite.name,
              receiver=settings.get("DQ_OPENLINEAGE_URL"), error=_first_line(exc))
        return False
    counters.LINEAGE.labels("sent").inc()
    return True


_executor: ThreadPoolExecutor | None = None
_pending = threading.BoundedSemaphore(100)  # events waiting for a slow receiver, at most


def emit_later(report: SuiteReport, suite: Suite, run_id: int) -> None:
    """`emit` on a background thread (the scheduler loop must not wait on a slow receiver).

    At most 100 events wait; past that an event is dropped, logged and counted as failed.
    """
    global _executor
    if not enabled():
        return
    if not _pending.acquire(blocking=False):
        counters.LINEAGE.labels("failed").inc()
        event(_log, logging.WARNING, LINEAGE_FAILED, run_id=run_id, suite=suite.name,
              receiver=settings.get("DQ_OPENLINEAGE_URL"), error="100 events are already waiting for the receiver; dropped")
        return
    if _executor is None:
        _executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dq-lineage")

    def post() -> None:
        try:
            emit(report, suite, run_id)
        finally:
            _pending.release()

    _executor.submit(post)


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__
