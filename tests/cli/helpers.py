"""Run manage.py as a real subprocess with a given environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def manage(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items()}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args], capture_output=True, text=True, env=full_env,
        cwd=ROOT, timeout=timeout,
    )


def load_rules_in_process(env: dict[str, str]) -> None:
    """`manage.py load_dq_rules` in this process, with `env` set only for the call: the setup step of tests
    about another command (a subprocess would add a Python start, ~2 s of CPU, to each of them)."""
    from cli import main
    from store import db

    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        code = main(["load_dq_rules"])
        db.dispose_all()
    assert code == 0, "load_dq_rules failed in the test's setup (its stderr is above)"
