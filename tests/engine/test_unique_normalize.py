"""unique with `normalize`: keys compared after Unicode NFC, trimming and lower-casing, on every database."""

from __future__ import annotations

import pytest

from engine.errors import ManifestError
from engine.results import Verdict
from tests.engine.conftest import Database, rules_from_yaml

P, F, E = Verdict.PASSED, Verdict.FAILED, Verdict.ERROR
EMAILS = ["Ann@x.com", "ann@x.com ", "\u00a0ANN@X.COM", "Zo\u00eb", "Zoe\u0308", "bob", None, None, "", "  "]


@pytest.fixture
def people(database: Database) -> Database:
    database.execute("CREATE TABLE people (id INTEGER PRIMARY KEY, email VARCHAR(50), n INTEGER)",
                     rows={"people": [{"id": i, "email": e, "n": i} for i, e in enumerate(EMAILS)]})
    return database


# (id, normalize, failing rows, distinct duplicated keys)
CASES = [
    ("as stored: every value differs", None, 0, 0),
    ("lower only: the spaces still differ", "[lower]", 0, 0),
    ("trim: '' and '  ' collide (Unicode spaces trimmed too)", "[trim]", 2, 1),
    ("trim and lower: the three Anns and the two blanks", "[trim, lower]", 5, 2),
    ("nfc: composed and decomposed Zoë", "[nfc]", 2, 1),
    ("every step, in any order", "[lower, trim, nfc]", 7, 3),
]


@pytest.mark.parametrize(("normalize", "failing", "keys"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_keys_are_compared_after_normalising(people: Database, normalize: str | None, failing: int, keys: int) -> None:
    extra = f", normalize: {normalize}" if normalize else ""
    result = people.run(f"- {{name: u, check: unique, column: email{extra}, severity: HIGH}}", "people").results[0]

    assert (result.status, result.failing_rows, result.rows_tested) == (F if failing else P, failing, 10), result.message
    assert result.metrics["duplicated_values"] == keys


def test_the_sentence_names_the_steps_in_the_order_they_apply(people: Database) -> None:
    result = people.run("- {name: u, check: unique, column: email, normalize: [lower, nfc, trim], severity: HIGH}",
                        "people").results[0]

    assert result.message.startswith("email must be unique after nfc, trim, lower (NULLs are not duplicates): 7 of 10")


def test_normalising_a_number_column_is_an_error_of_that_rule(people: Database) -> None:
    results = people.results("""
        - {name: u, check: unique, column: n, normalize: [trim], severity: HIGH}
        - {name: ok, check: unique, column: id, severity: HIGH}
    """, "people")

    assert results["u"].status is E and "unique with normalize needs a text column" in results["u"].message
    assert results["ok"].status is P


def test_an_unknown_step_is_a_manifest_problem() -> None:
    with pytest.raises(ManifestError, match=r"normalize: unknown step\(s\) upper; use any of nfc, trim, lower"):
        rules_from_yaml("- {name: u, check: unique, column: email, normalize: [upper], severity: HIGH}")
