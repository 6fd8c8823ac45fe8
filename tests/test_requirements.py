"""What the requirement files promise: runtime needs only requirements.txt, and every package is explained in the README."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNTIME_PACKAGES = ("engine", "store", "ops", "alerting", "scheduler", "cli", "console", "pages")


def requirement_names(path: Path) -> list[str]:
    names = []
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line and not line.startswith("-r"):
            names.append(re.split(r"[\[<>=~ ]", line)[0].lower())
    return names


def test_a_driver_runtime_code_imports_is_a_runtime_requirement() -> None:
    """pymysql was test-only until engine/cancel.py and engine/sources.py used it: then it is runtime."""
    files = [p for pkg in RUNTIME_PACKAGES for p in (ROOT / pkg).rglob("*.py")]
    users = [p for p in files if "import pymysql" in p.read_text()]
    runtime = requirement_names(ROOT / "requirements.txt")
    assert not users or "pymysql" in runtime
    assert "pymysql" not in requirement_names(ROOT / "requirements-dev.txt") or not users


def test_every_requirement_is_explained_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text().split("## Dependencies", 1)[1].lower()
    missing = [name for f in ("requirements.txt", "requirements-dev.txt") for name in requirement_names(ROOT / f)
               if name.replace("types-pyyaml", "pyyaml") not in readme]
    assert missing == []
