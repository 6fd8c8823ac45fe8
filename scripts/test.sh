#!/usr/bin/env bash
# Install everything into .venv on a fresh machine, make sure the servers are up, lint, and run the tests.
# DQ_TEST_WORKERS=2 runs the suite on 2 pytest-xdist workers (one per core), one test module per worker at a time
# (--dist loadscope) so module-scoped servers and browsers start once. Default 0 (one process) until a whole run
# with 2 workers has passed several times on a quiet machine.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS
took() { echo "test.sh: $1 took $(( SECONDS - $2 ))s"; }

bash scripts/services.sh

# The Debian packages and the Airflow venv do not depend on .venv: build them in the background while pip fills it.
apt_packages=()
command -v chromium >/dev/null 2>&1 || apt_packages+=(chromium chromium-driver)   # the browser tests
command -v promtool >/dev/null 2>&1 || apt_packages+=(prometheus)                 # alert-rule and scrape tests
apt_job=""
if [ ${#apt_packages[@]} -gt 0 ]; then
  echo "installing Debian's ${apt_packages[*]} in the background"
  ( t=$SECONDS; { apt-get update -qq && apt-get install -y -qq "${apt_packages[@]}" >/dev/null; } || exit 1; took "apt-get install" "$t" ) &
  apt_job=$!
fi
( t=$SECONDS; bash scripts/airflow_venv.sh >/dev/null || exit 1; took "the Airflow venv (cached after the first run)" "$t" ) &
airflow_job=$!   # Airflow 3 for tests/examples, once; cached outside the clone

if ! command -v java >/dev/null 2>&1; then
  echo "installing Debian's Java 17 for the Spark (pyspark local mode) pushdown tests"
  apt-get update -qq && apt-get install -y -qq openjdk-17-jre-headless >/dev/null
fi

t=$SECONDS
if [ ! -x .venv/bin/python ]; then python3 -m venv .venv; fi
.venv/bin/python -m pip install -q --disable-pip-version-check -r requirements-dev.txt 2>&1 | grep -v "^WARNING: Location" || true
.venv/bin/python -W ignore -c "import streamlit, polars, connectorx, duckdb, pyspark, playwright, aiosmtpd, prometheus_client, openlineage.client, authlib, oidc_provider_mock, xdist" \
  || { echo "error: dependencies failed to install" >&2; exit 1; }
took "pip install" "$t"

t=$SECONDS
.venv/bin/ruff check .
.venv/bin/mypy
took "ruff and mypy" "$t"

if [ -n "$apt_job" ]; then
  wait "$apt_job" || { echo "error: apt-get could not install ${apt_packages[*]}" >&2; exit 1; }
fi
wait "$airflow_job" || { echo "error: the Airflow venv could not be built (scripts/airflow_venv.sh)" >&2; exit 1; }

t=$SECONDS
workers=${DQ_TEST_WORKERS:-0}
parallel=()
if [ "$workers" != 0 ]; then parallel=(-n "$workers" --dist loadscope); fi
status=0
.venv/bin/python -m pytest "${parallel[@]}" "$@" || status=$?
took "pytest" "$t"
took "scripts/test.sh" "$started"
exit "$status"
