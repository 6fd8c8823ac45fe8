"""The runbook's log analysis, run as written against the files a real scheduler and CLI wrote:
`grep "Error executing DQ check"`, `grep "Alert sent for rule"`, `grep -i timeout`,
`grep -E "CRITICAL|HIGH"`; and no credential in any log line."""

from __future__ import annotations

import logging
import re
import subprocess
from pathlib import Path

import pytest
import sqlalchemy as sa

from engine.manifest import load_catalog
from store import db
from store.rules import sync_catalog
from telemetry import logs
from tests.alerting.conftest import HttpReceiver, receiver  # noqa: F401 - the real HTTP receiver fixture
from tests.conftest import connectorx_url
from tests.scheduler.helpers import free_port, manage, runs, start_scheduler, wait_for

SECRETS = {
    "warehouse password": "Wh-s3cret-pw",
    "dead source password": "Dead-s3cret-pw",
    "webhook token": "Hook-s3cret-token",
    "SMTP password": "Smtp-s3cret-pw",
    "OpenLineage API key": "Ol-s3cret-key",
    "OpenLineage URL password": "Lin-s3cret-pw",
}
MANIFEST = """\
suite: {suite}
source: {source}
table: {table}
layer: silver
schedule: "* * * * * */2"
rules:
{rules}
"""
SUITES = {
    "silver_orders": ("warehouse", "orders", [
        "{name: orders_id_not_null, check: not_null, column: id, severity: HIGH}",
        "{name: orders_amount_not_null, check: not_null, column: amount, severity: CRITICAL}",
        "{name: orders_id_unique, check: unique, column: id, severity: LOW}",
    ]),
    "silver_dead": ("deadwh", "orders", ["{name: dead_id_not_null, check: not_null, column: id, severity: HIGH}"]),
    "silver_slow": ("warehouse", "slow", ["{name: slow_id_not_null, check: not_null, column: id, severity: MEDIUM}"]),
}


def _warehouse(pg_url: str) -> str:
    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE orders (id INTEGER, amount DOUBLE PRECISION)")
        conn.exec_driver_sql("INSERT INTO orders VALUES (1, 10.0), (2, NULL), (NULL, 5.0)")
        conn.exec_driver_sql("CREATE TABLE slow (id INTEGER)")
    engine.dispose()
    # The server trusts local connections: the password is only there to prove it never leaks.
    return connectorx_url(pg_url).replace("postgresql://postgres@", f"postgresql://postgres:{SECRETS['warehouse password']}@")


def _load(rules: Path) -> None:
    rules.mkdir()
    (rules / "sources.yaml").write_text("sources:\n  warehouse: {kind: sql}\n  deadwh: {kind: sql}\n")
    for suite, (source, table, lines) in SUITES.items():
        (rules / f"{suite}.yaml").write_text(MANIFEST.format(suite=suite, source=source, table=table,
                                                             rules="\n".join(f"  - {line}" for line in lines)))
    with db.write() as conn:
        sync_catalog(conn, load_catalog([rules], default_sources=rules / "sources.yaml"), "test", prune=True)


def _grep(*args: str, folder: Path) -> list[str]:
    done = subprocess.run(["grep", *args, *sorted(str(p) for p in folder.glob("*.log"))], capture_output=True, text=True)
    return [line.split(":", 1)[1] if line.startswith("/") else line for line in done.stdout.splitlines()]


def _fields(line: str) -> dict[str, str]:
    return {k: v.strip('"') for k, v in re.findall(r'(\w+)=("(?:[^"\\]|\\.)*"|\S+)', line)}


def test_the_runbook_greps_find_every_event_with_its_fields_and_no_secret(
        sqlite_store: str, pg_url: str, tmp_path: Path, receiver: HttpReceiver) -> None:  # noqa: F811
    _load(tmp_path / "rules")
    env = {
        "DQ_RULES_DIR": str(tmp_path / "rules"), "DQ_SOURCE_WAREHOUSE_URL": _warehouse(pg_url),
        "DQ_SOURCE_DEADWH_URL": f"postgresql://dq:{SECRETS['dead source password']}@127.0.0.1:1/none",
        "DQ_WEBHOOK_URL": f"{receiver.url}/hook?token={SECRETS['webhook token']}",
        "DQ_SMTP_PASSWORD": SECRETS["SMTP password"],
        "DQ_OPENLINEAGE_URL": f"http://lineage:{SECRETS['OpenLineage URL password']}@127.0.0.1:{free_port()}",
        "DQ_OPENLINEAGE_API_KEY": SECRETS["OpenLineage API key"],
        "DQ_SUITE_TIMEOUT_SECONDS": "3",
    }
    folder = Path(sqlite_store.removeprefix("sqlite:///")).parent / "logs"
    lock = sa.create_engine(pg_url).connect()
    lock.begin()
    lock.exec_driver_sql("LOCK TABLE slow IN ACCESS EXCLUSIVE MODE")  # every read of it hangs: a timeout
    proc = start_scheduler(tmp_path, "one", env)
    try:
        wait_for("a timeout, a dead source, failed checks and an alert sent", lambda: (
            [r for r in runs(suite="silver_slow") if r["status"] == "ERROR"]
            and [r for r in runs(suite="silver_dead") if r["status"] == "ERROR"]
            and [r for r in runs(suite="silver_orders") if r["status"] == "FAILED"]
            and _grep("Alert sent for rule", folder=folder)), timeout=90, process=proc)
    finally:
        code = proc.stop()
        lock.rollback()
        lock.close()
        lock.engine.dispose()
    assert code == 0, proc.output()
    cli = manage("run_dq_checks", "--rule-name", "orders_id_not_null", env=env)
    assert cli.returncode == 1, cli.stdout + cli.stderr
    assert {p.name for p in folder.glob("*.log")} == {"scheduler.log", "cli.log"}

    errors = _grep("Error executing DQ check", folder=folder)
    dead = _fields(next(line for line in errors if "dead_id_not_null" in line))
    assert (dead["suite"], dead["severity"], dead["source"]) == ("silver_dead", "HIGH", "deadwh")
    assert int(dead["run_id"]) in {r["id"] for r in runs(suite="silver_dead")}
    assert "Error executing DQ check dead_id_not_null:" in next(line for line in errors if "dead_id_not_null" in line)

    sent = _grep("Alert sent for rule", folder=folder)
    # The dead source's "could not check" alert goes out too, in any order with the orders' ones.
    orders = [line for line in sent if _fields(line)["suite"] == "silver_orders"]
    first = _fields(orders[0])
    assert first["channel"] == "webhook" and first["destination"] == "DQ_WEBHOOK_URL"
    assert {_fields(line)["severity"] for line in sent} >= {"HIGH", "CRITICAL"}
    assert re.search(r"Alert sent for rule orders_(id|amount)_not_null: ", orders[0])

    timeouts = _grep("-i", "timeout", folder=folder)
    (timeout_line, *_) = [line for line in timeouts if "Suite timeout silver_slow:" in line]
    assert _fields(timeout_line)["timeout_s"] == "3.0" and "ran longer than 3s" in timeout_line
    assert any("Error executing DQ check slow_id_not_null" in line and "DQ_SUITE_TIMEOUT_SECONDS" in line for line in timeouts)

    urgent = _grep("-E", "CRITICAL|HIGH", folder=folder)
    assert any("DQ check failed orders_amount_not_null:" in line and "severity=CRITICAL" in line for line in urgent)
    assert any("DQ run finished:" in line and "suite=silver_orders" in line and "severity=CRITICAL" in line for line in urgent)

    # One line per run, from whichever process recorded it: the CLI's run is in cli.log.
    cli_log = (folder / "cli.log").read_text()
    assert "DQ check failed orders_id_not_null:" in cli_log and "trigger=manual" in cli_log
    assert "DQ check failed orders_id_not_null:" in cli.stderr  # and on stderr, next to the command's output
    finished = [_fields(line) for line in _grep("DQ run finished", folder=folder)]
    # FAILED; on a loaded machine a run may also pass the 3 s timeout and be ERROR.
    assert "FAILED" in {f["status"] for f in finished if f["suite"] == "silver_orders"}
    assert all(f["run_id"].isdigit() and "duration_s" in f for f in finished)

    # The receiver down never failed a run; it is logged.
    assert _grep("OpenLineage event failed", folder=folder)

    shown = "".join(p.read_text() for p in folder.glob("*.log*")) + proc.output() + cli.stdout + cli.stderr
    leaked = {name: value for name, value in SECRETS.items() if value in shown}
    assert leaked == {}, f"credentials in the logs: {sorted(leaked)}"


def test_a_line_carrying_a_credential_is_scrubbed_before_any_handler(tmp_path: Path, isolated_env: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DQ_SOURCE_MART_URL", "mysql://etl:Mart%2Fpw-99@db:3306/mart")
    monkeypatch.setenv("DQ_PAGERDUTY_ROUTING_KEY", "R0uting-key-xyz")
    monkeypatch.setenv("DQ_LOG_DIR", str(tmp_path / "logs"))
    path = logs.configure("cli-test")
    try:
        log = logging.getLogger("dq.test")
        log.error("connect mysql://etl:Mart%%2Fpw-99@db:3306/mart failed; key %s; url %s; decoded %s",
                  "R0uting-key-xyz", "https://hooks.example/x?token=abc123&channel=ops", "Mart/pw-99")
        try:
            raise RuntimeError("postgresql://u:inner-secret@h/db refused")
        except RuntimeError:
            log.exception("with a traceback")
    finally:
        logs.configure("reset", to_file=False)
    assert path is not None
    text = path.read_text()
    for secret in ("Mart%2Fpw-99", "Mart/pw-99", "R0uting-key-xyz", "abc123", "inner-secret"):
        assert secret not in text
    assert "mysql://etl:***@db:3306/mart" in text and "token=***" in text and "postgresql://u:***@h/db" in text


def test_a_bad_log_level_names_the_setting(isolated_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DQ_LOG_LEVEL", "LOUD")
    with pytest.raises(Exception, match=r"log level 'LOUD' is unknown. Hint: set DQ_LOG_LEVEL"):
        logs.configure("cli-test", to_file=False)


def test_only_secrets_are_masked_not_paths_or_hosts(isolated_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DQ_SOURCE_LAKE_URL", "/data/lake/orders")
    monkeypatch.setenv("DQ_SOURCE_WH_URL", "postgresql://dq:Wh-pw-123@db.internal/wh")
    monkeypatch.setenv("DQ_SLACK_WEBHOOK_URL", "https://hooks.slack.com/services/T0/B0/XyZ")
    secrets = logs.secret_values()
    line = logs.scrub("read /data/lake/orders and db.internal with Wh-pw-123; posted to https://hooks.slack.com/services/T0/B0/XyZ",
                      secrets)
    assert line == "read /data/lake/orders and db.internal with ***; posted to ***"


def test_no_log_folder_until_a_line_is_written_and_an_unwritable_one_is_said_once(
        isolated_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DQ_LOG_DIR", str(tmp_path / "quiet"))
    logs.configure("cli-test")
    assert not (tmp_path / "quiet").exists()  # a command that logs nothing leaves nothing behind
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("DQ_LOG_DIR", str(blocker / "logs"))
    logs.configure("cli-test")
    try:
        logging.getLogger("dq.test").warning("first")
        logging.getLogger("dq.test").warning("second")
    finally:
        logs.configure("reset", to_file=False)
    err = capsys.readouterr().err
    assert err.count("cannot be written") == 1 and "Hint: set DQ_LOG_DIR" in err
    assert "first" in err and "second" in err  # stderr still has every line


def test_the_file_rotates_at_its_size_and_keeps_the_configured_backups(isolated_env: Path, tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DQ_LOG_DIR", str(tmp_path / "logs"))
    monkeypatch.setenv("DQ_LOG_MAX_MB", "0.002")  # about 2 KB
    monkeypatch.setenv("DQ_LOG_BACKUPS", "2")
    path = logs.configure("cli-test", stderr_level=logging.CRITICAL)
    try:
        for i in range(100):
            logs.event(logging.getLogger("dq.test"), logging.INFO, logs.RUN_FINISHED, run_id=i, suite="silver.orders")
    finally:
        logs.configure("reset", to_file=False)
    assert path is not None
    assert sorted(p.name for p in path.parent.iterdir()) == ["cli-test.log", "cli-test.log.1", "cli-test.log.2"]
    assert all(p.stat().st_size <= 2100 for p in path.parent.iterdir())
    assert path.read_text().rstrip().endswith("DQ run finished: run_id=99 suite=silver.orders")
