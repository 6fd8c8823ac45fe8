#!/usr/bin/env bash
# Create, once, the separate virtualenv with Airflow 3 that tests/examples/test_airflow_dag.py runs in,
# and print its path. Cached outside the clone (DQ_AIRFLOW_VENV), so CI pays the install only once.
set -euo pipefail

VENV=${DQ_AIRFLOW_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/dq-console/airflow3-venv}
AIRFLOW_SPEC=${DQ_AIRFLOW_SPEC:-apache-airflow>=3.0,<4}
STAMP="$VENV/.dq-installed"

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$AIRFLOW_SPEC" ] && [ -x "$VENV/bin/airflow" ]; then
  echo "$VENV"; exit 0
fi

rm -rf "$VENV"
mkdir -p "$(dirname "$VENV")"
python3 -m venv "$VENV"
started=$(date +%s)
"$VENV/bin/python" -m pip install -q --disable-pip-version-check "$AIRFLOW_SPEC" 2>&1 | grep -v "^WARNING: Location" >&2 || true
"$VENV/bin/python" -c "import airflow.sdk, airflow.providers.standard" \
  || { echo "error: Airflow did not install into $VENV" >&2; exit 1; }
echo "installed $AIRFLOW_SPEC into $VENV in $(( $(date +%s) - started ))s" >&2
echo "$AIRFLOW_SPEC" >"$STAMP"
echo "$VENV"
