"""Bounded YAML reading: every hostile or mis-saved file is one problem naming the file and line, fast."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import yamlsource
from engine.errors import Problem

CASES = [
    # (content, line, fragment)
    ("suite: café\n".encode("latin-1"), 1, "is not UTF-8 (byte 0xe9"),
    ("a: 1\nb: 2\nc: ü\n".encode("cp1252"), 3, "is not UTF-8"),
    ("suite: s\n".encode("utf-16"), 1, "is encoded as UTF-16, not UTF-8"),
    ("suite: s\n".encode("utf-32"), 1, "is encoded as UTF-32"),
    (b"a: 1\nb: \x00\n", 2, "holds NUL bytes: it is a binary file"),
    (("a: " + "[" * 50 + "]" * 50 + "\n").encode(), 1, "nests deeper than 32 levels"),
    ("".join(f"{'  ' * i}k{i}:\n" for i in range(40)).encode(), 33, "nests deeper than 32 levels"),
    (("a: " + "x" * 100_001 + "\n").encode(), 1, "holds a value of 100,001 characters"),
    (b"a: &a [*a]\n", 1, "refers to itself"),
    (b"? [a, b]\n: 1\n", 1, "a mapping key must be a plain value"),
    (b"a: [\n", 2, "not valid YAML"),
    (b"a: *undefined\n", 1, "not valid YAML"),
]


@pytest.mark.parametrize(("content", "line", "fragment"), CASES)
def test_a_bad_file_is_one_problem_with_its_line(tmp_path: Path, content: bytes, line: int, fragment: str) -> None:
    path = tmp_path / "m.yaml"
    path.write_bytes(content)
    problems: list[Problem] = []
    assert yamlsource.read_documents(path, problems) == []
    assert len(problems) == 1, problems
    assert fragment in problems[0].message
    assert (problems[0].file, problems[0].line) == (str(path), line)


def test_an_alias_bomb_is_refused_before_it_expands(tmp_path: Path) -> None:
    lines = ["a0: &a0 [" + ", ".join(["lol"] * 10) + "]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]  # 10**9 values
    path = tmp_path / "m.yaml"
    path.write_text("\n".join(lines) + "\n")
    problems: list[Problem] = []
    assert yamlsource.read_documents(path, problems) == []
    assert "expands to more than 200,000 values through YAML aliases" in problems[0].message


def test_modest_anchors_are_fine(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text("defaults: &d {severity: LOW, owner: me}\nrules:\n  - {<<: *d, name: a}\n  - {<<: *d, name: b}\n")
    problems: list[Problem] = []
    [document] = yamlsource.read_documents(path, problems)
    assert problems == []
    assert [r["name"] for r in document["rules"]] == ["a", "b"]
    assert document["rules"][1]["severity"] == "LOW"
    assert document.key_lines["rules"] == 2


def test_an_oversized_file_is_refused_without_reading_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(yamlsource, "MAX_FILE_BYTES", 1024)
    path = tmp_path / "m.yaml"
    path.write_text("# x\n" * 1000)
    problems: list[Problem] = []
    assert yamlsource.read_documents(path, problems) == []
    assert "more than the" in problems[0].message and "split it into one file per suite" in problems[0].hint


def test_a_utf8_bom_is_fine(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_bytes("\ufeffsuite: s\n".encode())
    assert yamlsource.read_documents(path, []) == [{"suite": "s"}]
