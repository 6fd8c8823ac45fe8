"""The layers go one way: engine/ and store/ never import Streamlit or the front ends."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = {
    "engine": ("streamlit", "pages", "console", "cli", "scheduler", "alerting", "ops", "store"),
    "store": ("streamlit", "pages", "console", "cli", "scheduler", "alerting", "ops"),
    "ops": ("streamlit", "pages", "console", "cli"),
    "alerting": ("streamlit", "pages", "console", "cli"),
    "scheduler": ("streamlit", "pages", "console"),
    # Log texts and process counters: usable from every layer, so they import none of them.
    "telemetry": ("streamlit", "pages", "console", "cli", "scheduler", "alerting", "ops", "store", "engine"),
}


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_only_downward(package: str) -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(imported_roots(path) & set(FORBIDDEN[package]))
        for path in (ROOT / package).rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_no_unsafe_html_anywhere() -> None:
    hits = [str(p.relative_to(ROOT)) for folder in ("pages", "console") for p in (ROOT / folder).rglob("*.py")
            if "unsafe_allow_html" in p.read_text()]
    hits += ["app.py"] if (ROOT / "app.py").is_file() and "unsafe_allow_html" in (ROOT / "app.py").read_text() else []
    assert hits == []
