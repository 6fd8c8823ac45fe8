"""Streamlit's magic stays off, and no page relies on it: a bare expression never renders its value."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted([ROOT / "app.py", *(ROOT / "pages").glob("*.py"), *(ROOT / "console").glob("*.py")])


def test_magic_is_off_in_the_server_config() -> None:
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["runner"]["magicEnabled"] is False


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_no_bare_expression_but_calls(path: Path) -> None:
    # With magic on, `a.dataframe(x) if c else a.info(y)` printed DeltaGenerator's docs on three pages.
    bare = [node.lineno for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.Expr) and not isinstance(node.value, ast.Call | ast.Await | ast.Constant)]
    assert not bare, f"{path.name}: bare expression statements at lines {bare}; write an if/else of calls"
