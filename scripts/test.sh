#!/usr/bin/env bash
# Install everything into .venv on a fresh machine, make sure the servers are up, lint, and run the tests.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/services.sh

if ! command -v chromium >/dev/null 2>&1; then
  echo "installing Debian's chromium for the browser tests"
  apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null
fi

if ! command -v promtool >/dev/null 2>&1; then
  echo "installing Debian's prometheus (promtool and the server) for the alert-rule and scrape tests"
  apt-get update -qq && apt-get install -y -qq prometheus >/dev/null
fi

if ! command -v java >/dev/null 2>&1; then
  echo "installing Debian's Java 17 for the Spark (pyspark local mode) pushdown tests"
  apt-get update -qq && apt-get install -y -qq openjdk-17-jre-headless >/dev/null
fi

if [ ! -x .venv/bin/python ]; then python3 -m venv .venv; fi
.venv/bin/python -m pip install -q --disable-pip-version-check -r requirements-dev.txt 2>&1 | grep -v "^WARNING: Location" || true
.venv/bin/python -W ignore -c "import streamlit, polars, connectorx, duckdb, pyspark, playwright, aiosmtpd, prometheus_client, openlineage.client, authlib, oidc_provider_mock" \
  || { echo "error: dependencies failed to install" >&2; exit 1; }

bash scripts/airflow_venv.sh >/dev/null   # Airflow 3 for tests/examples, once; cached outside the clone

.venv/bin/ruff check .
.venv/bin/mypy
.venv/bin/python -m pytest "$@"
