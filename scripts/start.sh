#!/usr/bin/env bash
# Install and start the product on its embedded defaults: SQLite store, bundled demo warehouse,
# demo rules, the scheduler (background) and the console on http://localhost:8501.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv/bin/python ]; then python3 -m venv .venv; fi
.venv/bin/python -m pip install -q --disable-pip-version-check -r requirements.txt 2>&1 | grep -v "^WARNING: Location" || true

PY=.venv/bin/python
$PY manage.py console --check "$@"   # dev mode listens on 127.0.0.1 only (DQ_DEV_ALLOW_REMOTE): fail before anything starts
$PY manage.py migrate
[ -f "${DQ_DATA_DIR:-data}/demo_warehouse.db" ] || $PY manage.py seed_demo
$PY manage.py load_dq_rules rules/ | tail -n 1
$PY manage.py run_dq_checks --all >/dev/null || true   # first results, so the console is not empty

mkdir -p "${DQ_DATA_DIR:-data}"
$PY manage.py scheduler >"${DQ_DATA_DIR:-data}/scheduler.log" 2>&1 &
SCHEDULER=$!
trap 'kill $SCHEDULER 2>/dev/null || true' EXIT INT TERM
echo "scheduler running (pid $SCHEDULER, log ${DQ_DATA_DIR:-data}/scheduler.log, health http://127.0.0.1:${DQ_HEALTH_PORT:-8765}/api/v1/dq/health/)"
$PY manage.py console "$@"   # streamlit run serve.py (app.py with offline-clean deep links), dev mode on 127.0.0.1
