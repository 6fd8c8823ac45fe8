"""Run `python manage.py ...` as a subprocess with the test's environment (DQ_STORE_URL, DQ_NOW, ...)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def manage(*args: str, cwd: Path = ROOT, **env: str) -> subprocess.CompletedProcess[str]:
    """`python manage.py *args`; keyword arguments override environment variables (e.g. DQ_STORE_URL=...)."""
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        cwd=cwd, env={**os.environ, **env}, capture_output=True, text=True, timeout=120,
    )
