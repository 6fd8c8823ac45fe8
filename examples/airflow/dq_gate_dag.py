"""The failover runbook's Option A as an Airflow 3 DAG: the `dq_gate_silver` task runs the DQ gate on
silver.shipments with `--bypass "{{ params.bypass_dq }}"`; the downstream task runs only if the gate
passed. Trigger with `{"bypass_dq": "true"}` only after the bypass was approved on the console: the
flag only asks, the gate passes only while the store holds an approved, unexpired bypass.

Where the DQ console lives on the worker: DQ_HOME (the checkout with manage.py, default /opt/dq) and
DQ_PYTHON (its interpreter, default `python`); the gate's own settings (DQ_STORE_URL, source URLs)
come from the worker's environment like any other DQ command. Exit 1 (bad data) and 2 (the gate
could not check) both fail the task, so the downstream task ends `upstream_failed`; retry on 2 only.
"""

from __future__ import annotations

import os
import shlex
from datetime import datetime

from airflow.sdk import DAG, Param

try:  # Airflow 3: the standard provider
    from airflow.providers.standard.operators.bash import BashOperator
except ImportError:  # pragma: no cover - Airflow 2
    from airflow.operators.bash import BashOperator  # type: ignore[no-redef]

DQ_HOME = os.environ.get("DQ_HOME", "/opt/dq")
DQ_PYTHON = os.environ.get("DQ_PYTHON", "python")
SUITE = "silver.shipments"

with DAG(
    dag_id="silver_shipments_publish",
    description="Publish silver.shipments behind the DQ gate (failover runbook, Option A)",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    params={
        # "true" only once a bypass is approved in the console (Bypass requests page).
        "bypass_dq": Param("false", type="string", enum=["true", "false", ""]),
    },
    tags=["data-quality"],
) as dag:
    dq_gate_silver = BashOperator(
        task_id="dq_gate_silver",
        bash_command=(
            f"cd {shlex.quote(DQ_HOME)} && {shlex.quote(DQ_PYTHON)} manage.py dq_gate --suite {SUITE} "
            '--bypass "{{ params.bypass_dq }}" --actor "airflow:{{ dag.dag_id }}"'
        ),
        retries=0,  # exit 1 is bad data: retrying does not fix it
    )

    publish_silver_shipments = BashOperator(
        task_id="publish_silver_shipments",
        bash_command='echo "publishing silver.shipments for {{ ds }}"',
    )

    dq_gate_silver >> publish_silver_shipments
