"""run_dq_checks and dq_gate as real processes on a read that hangs on a locked PostgreSQL table:
SIGINT and SIGTERM end them with the run ABORTED, --timeout ends the read in the source, and a
run left by SIGKILL is marked ABORTED by the next process that finds its owner gone."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import connectorx_url
from tests.scheduler.helpers import (
    ROOT,
    Lock,
    environment,
    load_rules,
    pg_warehouse,
    runs,
    wait_for,
)


@pytest.fixture
def hung(sqlite_store: str, pg_url: str, tmp_path: Path) -> Iterator[tuple[dict[str, str], Lock]]:
    """A store, a suite `gold_daily` reading `orders`, and that table locked."""
    pg_warehouse(pg_url)
    load_rules(tmp_path / "rules", {"gold_daily": "0 0 * * *", "gold_other": "0 0 * * *"})
    env = {"DQ_RULES_DIR": str(tmp_path / "rules"), "DQ_SOURCE_WAREHOUSE_URL": connectorx_url(pg_url)}
    lock = Lock(pg_url)
    try:
        yield env, lock
    finally:
        lock.release()


def _start(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, str(ROOT / "manage.py"), *args], env=environment(env), cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _hanging(lock: Lock, process: subprocess.Popen[str]) -> None:
    wait_for("the read to hang on the lock", lambda: lock.waiting() >= 1 or process.poll() is not None)
    assert process.poll() is None, process.communicate()


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_run_dq_checks_honours_a_signal_during_a_hung_read(hung: tuple[dict[str, str], Lock], sig: int, code: int) -> None:
    env, lock = hung
    process = _start(env, "run_dq_checks", "--suite", "gold_daily")
    _hanging(lock, process)
    sent = time.monotonic()
    process.send_signal(sig)
    _, err = process.communicate(timeout=15)
    assert process.returncode == code, err
    assert time.monotonic() - sent < 5
    (run,) = runs()
    assert run["status"] == "ABORTED" and f"interrupted by {signal.Signals(sig).name}" in run["error"]
    assert f"interrupted by {signal.Signals(sig).name}; run #{run['id']} recorded ABORTED" in err
    time.sleep(0.3)
    assert lock.waiting() == 0  # its read was cancelled in the source, not left waiting on the lock


def test_dq_gate_honours_sigterm_during_a_hung_read(hung: tuple[dict[str, str], Lock]) -> None:
    env, lock = hung
    process = _start(env, "dq_gate", "--suite", "gold_daily")
    _hanging(lock, process)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=15)
    assert process.returncode == 2, err  # the pipeline sees "could not run", never a pass
    assert "The gate decided nothing" in err
    assert [r["status"] for r in runs()] == ["ABORTED"]
    time.sleep(0.3)
    assert lock.waiting() == 0


@pytest.mark.parametrize("command", ["run_dq_checks", "dq_gate"])
def test_timeout_ends_the_read_in_the_source(hung: tuple[dict[str, str], Lock], command: str) -> None:
    env, lock = hung
    started = time.monotonic()
    process = _start(env, command, "--suite", "gold_daily", "--timeout", "3")
    out, err = process.communicate(timeout=30)
    took = time.monotonic() - started
    assert process.returncode == 2, (out, err)
    assert took < 3 + 8  # start-up, the 3 s budget, the record; never the hang
    (run,) = runs()
    assert run["status"] == "ERROR" and "ran longer than 3s and was stopped" in run["error"]
    assert lock.waiting() == 0


def test_the_timeout_defaults_to_the_suite_timeout(hung: tuple[dict[str, str], Lock]) -> None:
    env, lock = hung
    process = _start({**env, "DQ_SUITE_TIMEOUT_SECONDS": "2"}, "run_dq_checks", "--suite", "gold_daily")
    out, err = process.communicate(timeout=30)
    assert process.returncode == 2, (out, err)
    assert "ran longer than 2s" in runs()[0]["error"]


def test_a_bad_timeout_is_a_usage_error(hung: tuple[dict[str, str], Lock]) -> None:
    env, _ = hung
    process = _start(env, "run_dq_checks", "--suite", "gold_daily", "--timeout", "0")
    _, err = process.communicate(timeout=30)
    assert process.returncode == 3 and "--timeout must be a positive number of seconds" in err


def test_a_run_left_by_sigkill_is_aborted_by_the_next_process(hung: tuple[dict[str, str], Lock]) -> None:
    env, lock = hung
    process = _start(env, "run_dq_checks", "--suite", "gold_daily")
    _hanging(lock, process)
    (left,) = runs()
    assert (left["status"], left["owner_pid"]) == ("RUNNING", process.pid)
    process.kill()
    process.communicate(timeout=15)
    assert lock.waiting() == 1  # SIGKILL leaves the backend waiting on the lock
    following = _start(env, "run_dq_checks", "--suite", "gold_other", "--timeout", "2")
    out, err = following.communicate(timeout=60)
    assert following.returncode == 2, (out, err)  # its own read timed out on the lock, as it should
    first, second = runs()
    assert (first["id"], first["status"]) == (left["id"], "ABORTED")
    assert f"pid {process.pid}" in first["error"] and "is gone" in first["error"]
    assert second["status"] == "ERROR"
    assert lock.waiting() == 0  # the orphan's backend was cancelled by whoever repaired it
