"""The one config loader: files a tired or hostile human writes, read through the real schemas."""

from __future__ import annotations

import ast
import time
from pathlib import Path

import pytest

import configfile
from alerting.errors import PolicyError
from configfile import ConfigFileError
from ops import gate, roles
from ops.gate import GateConfigError
from store import approval_matrix

ROOT = Path(__file__).resolve().parents[1]


def write(tmp_path: Path, text: str | bytes, name: str = "roles.yaml") -> Path:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


def roles_problems(path: Path) -> list[str]:
    with pytest.raises(roles.RolesError) as caught:
        roles.load_roles(path)
    return [str(p) for p in caught.value.problems]


# --- what people get wrong -----------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("users:\n  bob: [oncall]\n", ":2 key 'users.bob': unknown value 'oncall'. Hint: did you mean on_call? Use any of on_call"),
    ("users:\n  bob: [on_call]\n  alice: [manager, manager]\n", ":3 key 'users.alice': lists 'manager' more than once"),
    ("users:\n  - bob\n", ":1 key 'users': must be a mapping, got a list. Hint: write `users:` with `name: value` lines"),
    ("user:\n  bob: [on_call]\n", ":1 key 'user': unknown key. Hint: did you mean users? Allowed keys are users"),
    ("users:\n  bob: [on_call]\n  bob: [admin]\n", ":3 key 'bob': key 'bob' appears twice in one mapping. Hint: keep one of them"),
    ("users:\n  Bob@x.com: [on_call]\n  bob@x.com: [admin]\n", ":3 key 'users.bob@x.com': is the same user as 'Bob@x.com'"),
    ("users:\n  bob: [on_call\n", "; while parsing a flow sequence that starts at line 2). Hint: fix the YAML syntax"),
    ("users:\n\tbob: [on_call]\n", ":2: not valid YAML"),
    ("users: {bob: [on_call]}\n---\nusers: {}\n", "holds 2 YAML documents. Hint: keep one"),
    ("users:\n  12: [admin]\n", ":2 key 'users.12': 12 is not a name. Hint: quote it"),
])
def test_a_broken_roles_file_names_file_line_key_and_fix(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    found = roles_problems(path)
    assert any(p.startswith(str(path)) and expected in p for p in found), found


def test_a_single_role_and_an_empty_entry_are_read_as_written(tmp_path: Path) -> None:
    path = write(tmp_path, "users:\n  Bob@X.com: manager\n  ghost@x.com:\n")
    assert roles.load_roles(path) == {"bob@x.com": frozenset({"manager"}), "ghost@x.com": frozenset()}
    assert roles.load_roles(write(tmp_path, "")) == {}
    assert roles.load_roles(tmp_path / "absent.yaml") == {}


def test_every_problem_of_a_file_comes_at_once(tmp_path: Path) -> None:
    path = write(tmp_path, "dq:\n  strict_mode: maybe\n  enabled: 1\n  blocking_severities: [HIGH, URGENT]\n  bypass: []\n", "dq.yaml")
    with pytest.raises(GateConfigError) as caught:
        gate.load_config(path)
    assert [(p.line, p.key) for p in caught.value.problems] == [
        (2, "dq.strict_mode"), (3, "dq.enabled"), (4, "dq.blocking_severities"), (5, "dq.bypass"),
    ]
    assert str(caught.value).startswith(f"4 problems in {path}:\n  {path}:2 key 'dq.strict_mode'")


def test_a_near_miss_gets_a_suggestion(tmp_path: Path) -> None:
    path = write(tmp_path, "dq:\n  Strict_Mode: true\n", "dq.yaml")
    with pytest.raises(GateConfigError, match=r":2 key 'dq.Strict_Mode': unknown key. Hint: did you mean strict_mode\?"):
        gate.load_config(path)


def test_values_are_normalised_and_frozen(tmp_path: Path) -> None:
    path = write(tmp_path, "dq:\n  blocking_severities: [high, Critical]\n  bypass_tables: [silver.orders]\n", "dq.yaml")
    config = gate.load_config(path)
    assert config.blocking_severities == ("HIGH", "CRITICAL") and config.bypass_tables == ("silver.orders",)
    with pytest.raises(AttributeError):
        config.strict_mode = False  # type: ignore[misc]


def test_a_missing_required_file_says_how_to_get_it_back(tmp_path: Path) -> None:
    with pytest.raises(approval_matrix.MatrixError, match=r"approval_matrix.yaml: not found. Hint: restore config/approval_matrix.yaml"):
        approval_matrix.load(tmp_path / "approval_matrix.yaml")
    with pytest.raises(GateConfigError, match=r"dq.yaml: not found. Hint: pass --config"):
        gate.load_config(tmp_path / "dq.yaml")


def test_each_package_keeps_its_own_exception() -> None:
    from alerting.errors import AlertingError
    from ops.errors import OpsError
    from store.errors import StoreError

    assert issubclass(PolicyError, AlertingError) and issubclass(PolicyError, ConfigFileError)
    assert issubclass(approval_matrix.MatrixError, StoreError) and issubclass(approval_matrix.MatrixError, ConfigFileError)
    assert issubclass(GateConfigError, OpsError) and issubclass(roles.RolesError, OpsError)


# --- bounded input -------------------------------------------------------------------------


def test_a_huge_file_is_refused_before_it_is_parsed(tmp_path: Path) -> None:
    path = write(tmp_path, "users:\n" + "".join(f"  u{i}@x.com: [on_call]\n" for i in range(60_000)))
    assert path.stat().st_size > configfile.MAX_CONFIG_BYTES
    assert any("MB, more than the 1 MB a config file may have. Hint: a config file is a page of YAML" in p
               for p in roles_problems(path))


def test_a_billion_laughs_is_refused_quickly(tmp_path: Path) -> None:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 9)]
    path = write(tmp_path, "users:\n  bob: [on_call]\n" + "\n".join(lines) + "\n")
    started = time.perf_counter()
    found = roles_problems(path)
    assert time.perf_counter() - started < 2
    assert any("expands to more than 200,000 values through YAML aliases" in p for p in found), found


def test_deep_nesting_huge_values_and_self_reference_are_refused(tmp_path: Path) -> None:
    deep = "users: " + "[" * 40 + "]" * 40 + "\n"
    assert any("nests deeper than 32 levels. Hint: flatten the structure" in p for p in roles_problems(write(tmp_path, deep)))
    huge = "users:\n  bob: [" + "x" * 100_001 + "]\n"
    assert any(":2: holds a value of 100,001 characters" in p for p in roles_problems(write(tmp_path, huge)))
    loop = "users: &u\n  bob: *u\n"
    assert any("refers to itself" in p for p in roles_problems(write(tmp_path, loop)))


def test_binary_and_python_tags_are_refused(tmp_path: Path) -> None:
    assert any(":2: is not UTF-8" in p for p in roles_problems(write(tmp_path, b"users:\n  bob: [\xff\xfe]\n")))
    hostile = "users: !!python/object/apply:os.system ['touch /tmp/pwned']\n"
    assert any("not valid YAML" in p for p in roles_problems(write(tmp_path, hostile)))


def test_anchors_within_bounds_still_work(tmp_path: Path) -> None:
    path = write(tmp_path, "users:\n  a@x.com: &lead [data_eng_lead, on_call]\n  b@x.com: *lead\n")
    assert roles.load_roles(path)["b@x.com"] == frozenset({"data_eng_lead", "on_call"})


# --- the shipped files and the loader's place ------------------------------------------------


def test_the_shipped_files_are_valid() -> None:
    from ops import configuration

    statuses = configuration.validate_all()
    assert [s.path.name for s in statuses] == ["alerting.yaml", "approval_matrix.yaml", "dq.yaml", "roles.yaml", "reports.yaml"]
    assert all(s.ok for s in statuses), [s.detail for s in statuses if not s.ok]


def test_the_loader_imports_nothing_of_the_application() -> None:
    tree = ast.parse((ROOT / "configfile.py").read_text())
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert imported - {"__future__", "dataclasses", "difflib", "math", "re", "types", "typing", "collections", "pathlib", "yaml"} == {"engine"}
    assert "from engine.errors import Problem" in (ROOT / "configfile.py").read_text()  # only the shared Problem
