"""Pages, the console helpers and the CLI reach state changes only through ops/ (which checks roles).

An AST scan: importing one of the store's writers below, or calling it as `module.writer`, from
pages/, console/, cli/ or app.py fails this test; call the ops function that checks the role instead.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FRONT_DOORS = sorted([*ROOT.glob("pages/*.py"), *ROOT.glob("console/*.py"), *ROOT.glob("cli/*.py"), ROOT / "app.py"])

# module -> its writers that skip the role check, and the ops function to call instead
WRITERS = {
    "store.violations": {"acknowledge": "ops.violations", "snooze": "ops.violations", "resolve": "ops.violations"},
    "store.lifecycle": {"set_rule_state": "ops.lifecycle"},
    "store.alerts": {"retry_failed": "ops.alert_retry"},
    "store.bypass": {n: "ops.bypass" for n in ("create_request", "approve", "reject", "restore", "rollback")},
    "ops.run_requests": {"request_run": "ops.run_requests.run_now"},
}


def _writer_uses(tree: ast.Module) -> list[tuple[int, str, str]]:
    """(line, module.writer, the ops function instead) for each direct import or attribute call."""
    aliases: dict[str, str] = {}  # local name -> module
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                if full in WRITERS:
                    aliases[alias.asname or alias.name] = full
                elif alias.name in WRITERS.get(node.module, {}):
                    found.append((node.lineno, full, WRITERS[node.module][alias.name]))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in WRITERS:
                    aliases[alias.asname or alias.name] = alias.name
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            base = node.value
            module = aliases.get(base.id) if isinstance(base, ast.Name) else (
                ast.unparse(base) if ast.unparse(base) in WRITERS else None)
            if module and node.attr in WRITERS[module]:
                found.append((node.lineno, f"{module}.{node.attr}", WRITERS[module][node.attr]))
    return found


@pytest.mark.parametrize("path", FRONT_DOORS, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_front_door_calls_a_store_writer(path: Path) -> None:
    uses = _writer_uses(ast.parse(path.read_text(encoding="utf-8")))
    assert uses == [], "\n".join(f"{path.relative_to(ROOT)}:{line} uses {what}; call {instead} (it checks the role)"
                                 for line, what, instead in uses)


@pytest.mark.parametrize(
    "source",
    [
        "from store.violations import acknowledge",
        "from store import violations\nviolations.snooze([1], 'x', None)",
        "from store import lifecycle as lc\nlc.set_rule_state('r', 'retired', 'x', 'y')",
        "import store.alerts\nstore.alerts.retry_failed(None, None)",
        "from ops.run_requests import request_run",
    ],
)
def test_the_scan_catches_each_way_in(source: str) -> None:
    assert _writer_uses(ast.parse(source)), source


def test_the_scan_passes_reads_and_ops_calls() -> None:
    source = "from store import lifecycle, violations\nlifecycle.list_rules()\nviolations.RESOLUTIONS\n" \
             "from ops import violations as v\nv.acknowledge(u, [1])"
    assert _writer_uses(ast.parse(source)) == []
