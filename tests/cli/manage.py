"""Run `python manage.py ...` as a subprocess with the test's environment (DQ_STORE_URL, DQ_NOW, ...)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def manage(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        cwd=cwd, env=dict(os.environ), capture_output=True, text=True, timeout=120,
    )
