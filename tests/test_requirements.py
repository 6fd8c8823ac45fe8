"""What the requirement files promise: runtime needs only requirements.txt, and every package is explained in the README."""

from __future__ import annotations

import ast
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


def test_test_only_drivers_are_dev_requirements() -> None:
    assert "pymysql" not in requirement_names(ROOT / "requirements.txt")
    assert "pymysql" in requirement_names(ROOT / "requirements-dev.txt")


def test_no_runtime_code_needs_pymysql() -> None:
    files = [p for pkg in RUNTIME_PACKAGES for p in (ROOT / pkg).rglob("*.py")]
    files += [ROOT / "app.py", ROOT / "manage.py", ROOT / "settings.py"]
    users = []
    for path in files:
        text = path.read_text()
        imports = {a.name.split(".")[0] for n in ast.walk(ast.parse(text)) if isinstance(n, ast.Import) for a in n.names}
        imports |= {n.module.split(".")[0] for n in ast.walk(ast.parse(text)) if isinstance(n, ast.ImportFrom) and n.module}
        if "pymysql" in imports or "mysql+pymysql" in text:
            users.append(str(path.relative_to(ROOT)))
    assert users == []


def test_every_requirement_is_explained_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text().split("## Dependencies", 1)[1].lower()
    missing = [name for f in ("requirements.txt", "requirements-dev.txt") for name in requirement_names(ROOT / f)
               if name.replace("types-pyyaml", "pyyaml") not in readme]
    assert missing == []
