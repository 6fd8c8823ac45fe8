"""Manifests that parse but cannot mean anything: bounds that are not numbers, NaN, min > max, crons that never fire."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.manifest import ManifestError, load_catalog

SOURCES = "sources:\n  warehouse: {kind: sql, demo: true}\n"


def _rule(body: str, check: str = "between") -> str:
    return ("suite: s\nsource: warehouse\ntable: t\nlayer: bronze\nrules:\n"
            f"  - name: r1\n    check: {check}\n    severity: LOW\n{body}")


CASES = [
    # (manifest, line, fragment)
    (_rule("    column: a\n    min: abc\n"), 10, "key 'min': has the wrong type ('abc', expected bound)"),
    (_rule("    column: a\n    min: .nan\n"), 10, "NaN and infinity bound nothing"),
    (_rule("    column: a\n    max: .inf\n"), 10, "expected bound"),
    (_rule("    column: a\n    min: 10\n    max: 1\n"), 11, "min 10 is greater than max 1: no value can pass"),
    (_rule("    column: a\n    min: '2025-01-01'\n    max: '2024-01-01'\n"), 11, "is greater than max"),
    (_rule("    column: a\n    min: '2024-02-31'\n"), 10, "expected bound"),
    (_rule("    column: a\n    min: '2024-01-01'\n    max: 5\n"), 11, "are not of one kind"),
    (_rule("    column: a\n    min: '2024-01-01T00:00+02:00'\n    max: '2024-02-01'\n"), 11, "mix a time zone with none"),
    (_rule("    min: 10\n    max: 2\n", check="row_count"), 10, "min 10 is greater than max 2"),
    (_rule("    max: 99999999999999999999999999\n", check="row_count"), 9, "a whole number from 0 to 9223372036854775807"),
    (_rule("    column: a\n    stat: mean\n    max: .nan\n", check="aggregate"), 11, "expected number"),
    (_rule("    column: a\n    min: 1\n    schedule: '0 0 31 2 *'\n"), 11, "never fires (no such date"),
    (_rule("    column: a\n    min: 1\n    sample_size: 99999999999999999999999999\n"), 11, "from 1 to 9223372036854775807"),
    (_rule("    column: a\n    min: 1\n    alert_cooldown_minutes: 1000000000000\n"), 11, "from 0 to 525600 (a year)"),
    (_rule("    column: a\n    min: 1\n    description: " + "x" * 10_001 + "\n"), 11, "10,001 characters long, more than the 10,000"),
    (_rule("    column: a\n    min: 1\n").replace("suite: s\n", "suite: s\nschedule: '0 0 30 2 *'\n"), 2, "never fires"),
    (_rule("    column: a\n    min: 1\n").replace("suite: s\n", "suite: " + "s" * 201 + "\n"), 1, "more than the 200 allowed"),
]


@pytest.mark.parametrize(("text", "line", "fragment"), CASES)
def test_a_manifest_that_cannot_mean_anything_is_refused(tmp_path: Path, text: str, line: int, fragment: str) -> None:
    (tmp_path / "sources.yaml").write_text(SOURCES)
    (tmp_path / "suite.yaml").write_text(text)
    with pytest.raises(ManifestError) as caught:
        load_catalog([tmp_path])
    matching = [p for p in caught.value.problems if fragment in str(p)]
    assert matching, str(caught.value)
    assert matching[0].line == line
    assert matching[0].file.endswith("suite.yaml")


@pytest.mark.parametrize("bounds", ["min: 0\n    max: 0\n", "min: -1.5\n    max: 2\n",
                                    "min: '2024-01-01'\n    max: '2024-12-31T23:59:59'\n"])
def test_sensible_bounds_still_load(tmp_path: Path, bounds: str) -> None:
    (tmp_path / "sources.yaml").write_text(SOURCES)
    (tmp_path / "suite.yaml").write_text(_rule(f"    column: a\n    {bounds}"))
    assert load_catalog([tmp_path]).suite("s").rules[0].name == "r1"


def test_too_many_rules_in_one_suite(tmp_path: Path) -> None:
    (tmp_path / "sources.yaml").write_text(SOURCES)
    rules = "".join(f"  - {{name: r{i}, check: not_null, column: a, severity: LOW}}\n" for i in range(2_001))
    (tmp_path / "suite.yaml").write_text("suite: s\nsource: warehouse\ntable: t\nlayer: bronze\nrules:\n" + rules)
    with pytest.raises(ManifestError, match="has 2,001 rules, more than the 2,000 one suite may have"):
        load_catalog([tmp_path])


def test_an_empty_manifest_is_refused_unless_allowed(tmp_path: Path) -> None:
    (tmp_path / "sources.yaml").write_text(SOURCES)
    (tmp_path / "suite.yaml").write_text("# emptied by mistake\n")
    with pytest.raises(ManifestError, match=r"suite.yaml: holds no suite .* Hint: .*pass --prune"):
        load_catalog([tmp_path])
    assert load_catalog([tmp_path], allow_empty=True).suites == ()


def test_thousands_of_problems_print_the_first_fifty(tmp_path: Path) -> None:
    (tmp_path / "sources.yaml").write_text(SOURCES)
    rules = "".join(f"  - {{name: r{i}, check: nope, severity: LOW}}\n" for i in range(500))
    (tmp_path / "suite.yaml").write_text("suite: s\nsource: warehouse\ntable: t\nlayer: bronze\nrules:\n" + rules)
    with pytest.raises(ManifestError) as caught:
        load_catalog([tmp_path])
    assert len(caught.value.problems) == 500
    assert str(caught.value).count("\n") == 51
    assert str(caught.value).endswith("... and 450 more (fix these first)")
