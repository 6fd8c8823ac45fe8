#!/usr/bin/env bash
# Start the local PostgreSQL and MariaDB servers the tests use, when they are down, and wait for them.
set -euo pipefail

wait_for() {  # name, probe command...
  local name=$1; shift
  for _ in $(seq 1 60); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 1
  done
  echo "error: $name did not come up; the tests need it (see docs/development.md)" >&2
  return 1
}

if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  echo "starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
fi
wait_for PostgreSQL pg_isready -h 127.0.0.1 -p 5432 -q

if ! mariadb-admin -h 127.0.0.1 -u root ping >/dev/null 2>&1; then
  echo "starting MariaDB"
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd || true
fi
wait_for MariaDB mariadb-admin -h 127.0.0.1 -u root ping
