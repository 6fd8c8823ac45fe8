"""`manage.py console`: dev mode listens on 127.0.0.1 only unless DQ_DEV_ALLOW_REMOTE says otherwise."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from ops import console_launch
from tests.scheduler.helpers import free_port

ROOT = Path(__file__).resolve().parents[2]


def _console(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "manage.py", "console", *args], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=60)


@pytest.mark.parametrize(("args", "env"), [
    (("--server.address", "0.0.0.0"), {}),
    (("--server.address=192.0.2.10",), {}),
    ((), {"STREAMLIT_SERVER_ADDRESS": "0.0.0.0"}),
])
def test_dev_mode_refuses_any_address_but_loopback(isolated_env: Path, args: tuple[str, ...], env: dict[str, str]) -> None:
    done = _console("--check", *args, **env)
    assert done.returncode == 3
    assert "listens on 127.0.0.1 only. Hint: configure OIDC or DQ_AUTH_HEADER" in done.stderr
    assert "DQ_DEV_ALLOW_REMOTE=true" in done.stderr


def test_the_setting_or_a_real_login_lifts_the_rule(isolated_env: Path, tmp_path: Path) -> None:
    allowed = _console("--check", "--server.address", "0.0.0.0", DQ_DEV_ALLOW_REMOTE="true")
    assert allowed.returncode == 0 and "dev mode, listening on 0.0.0.0" in allowed.stdout
    assert "warning: dev mode on 0.0.0.0" in allowed.stderr
    header = _console("--check", "--server.address", "0.0.0.0", DQ_AUTH_HEADER="X-Forwarded-User")
    assert header.returncode == 0 and "header mode" in header.stdout
    secrets = tmp_path / "secrets.toml"
    secrets.write_text('[auth]\nredirect_uri = "https://dq.example/oauth2callback"\n')
    oidc = _console("--check", "--server.address", "0.0.0.0", "--secrets.files", str(secrets))
    assert oidc.returncode == 0 and "oidc mode" in oidc.stdout


def test_without_an_address_dev_mode_gets_loopback_not_streamlits_every_interface(isolated_env: Path) -> None:
    launch = console_launch.plan(["--server.port", "8502"], env={}, root=ROOT)
    assert launch.args == ("--server.port", "8502", "--server.address", "127.0.0.1")


def test_the_started_console_listens_on_loopback_only(isolated_env: Path) -> None:
    port = free_port()
    server = subprocess.Popen([sys.executable, "manage.py", "console", "--server.port", str(port), "--server.headless", "true"],
                              cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as response:
                    if response.read().strip() == b"ok":
                        break
            except OSError:
                time.sleep(0.3)
        else:
            pytest.fail("the console did not answer")
        listening = subprocess.run(["ss", "-Hltn", f"sport = :{port}"], capture_output=True, text=True).stdout.split()
        assert [word for word in listening if word.endswith(f":{port}")] == [f"127.0.0.1:{port}"]
    finally:
        server.terminate()
        server.wait(20)
