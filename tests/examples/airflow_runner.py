"""Run inside the Airflow 3 virtualenv (scripts/airflow_venv.sh), not the product's: import the
example DAG through a DagBag, run it once with `dag.test()` and print the task states as JSON.

    python airflow_runner.py DAG_FILE BYPASS_DQ
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

try:
    from airflow.dag_processing.dagbag import DagBag
except ImportError:  # older Airflow 3 releases
    from airflow.models.dagbag import DagBag


def main(dag_file: str, bypass: str) -> int:
    bag = DagBag(dag_folder=str(Path(dag_file).parent))
    if bag.import_errors:
        print(json.dumps({"import_errors": {str(k): str(v) for k, v in bag.import_errors.items()}}))
        return 1
    (dag_id,) = bag.dag_ids
    dag = bag.get_dag(dag_id)
    run = dag.test(run_conf={"bypass_dq": bypass})
    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    print("DAG-STATES " + json.dumps({"dag_id": dag_id, "run_state": str(run.state), "tasks": states}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
