"""Every malformed manifest of the corpus is a clear error naming its file, with nothing loaded.

The bad file sits among good ones in a folder already loaded into the store, the way a tired
person breaks one file of rules/. Time and memory per file: bench/manifest_fuzz.py.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa

from cli import main
from tests.manifest_corpus import LOADED, SOURCES, variants

VARIANTS = variants()


def _state(url: str) -> tuple[list[tuple[str, str, int]], list[tuple[str, bool]], int]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rules = [tuple(r) for r in conn.execute(sa.text("SELECT name, suite, version FROM rules ORDER BY name"))]
        suites = [tuple(r) for r in conn.execute(sa.text("SELECT name, enabled FROM suites ORDER BY name"))]
        audit = conn.execute(sa.text("SELECT count(*) FROM audit_log")).scalar_one()
    engine.dispose()
    return rules, suites, audit  # type: ignore[return-value]


@pytest.fixture(scope="module")
def loaded_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite store with the good suites loaded once; each test works on a copy."""
    folder = tmp_path_factory.mktemp("corpus")
    rules = folder / "rules"
    rules.mkdir()
    (rules / "sources.yaml").write_text(SOURCES)
    (rules / "good.yaml").write_text(LOADED)
    store = folder / "store.db"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DQ_STORE_URL", f"sqlite:///{store}")
        patch.setenv("DQ_RULES_DIR", str(rules))
        from store import db, migrations

        migrations.migrate()
        assert main(["load_dq_rules", str(rules)]) == 0
        db.dispose_all()
    return folder


def test_the_good_manifest_of_the_corpus_loads(loaded_store: Path, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The variants are mutations of GOOD: GOOD itself must load beside the stored suite."""
    from tests.manifest_corpus import GOOD

    rules = tmp_path / "rules"
    shutil.copytree(loaded_store / "rules", rules)
    shutil.copy(loaded_store / "store.db", tmp_path / "store.db")
    monkeypatch.setenv("DQ_STORE_URL", f"sqlite:///{tmp_path / 'store.db'}")
    (rules / "fuzz.yaml").write_text(GOOD)
    assert main(["load_dq_rules", str(rules)]) == 0


def test_the_corpus_is_large_and_names_are_unique() -> None:
    names = [name for name, _, _ in VARIANTS]
    assert len(names) >= 100
    assert len(set(names)) == len(names)


@pytest.mark.parametrize(("name", "content", "has_line"), VARIANTS, ids=[v[0] for v in VARIANTS])
def test_a_malformed_manifest_is_a_clear_error_and_loads_nothing(
    name: str, content: bytes, has_line: bool, loaded_store: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(loaded_store / "rules", rules)
    store = tmp_path / "store.db"
    shutil.copy(loaded_store / "store.db", store)
    url = f"sqlite:///{store}"
    monkeypatch.setenv("DQ_STORE_URL", url)
    monkeypatch.setenv("DQ_RULES_DIR", str(rules))
    bad = rules / f"{name}.yaml"
    bad.write_bytes(content)
    before = _state(url)

    for argv in (["load_dq_rules", "--dry-run", str(rules)], ["load_dq_rules", str(rules)]):
        code = main(argv)  # an exception escaping here is the traceback a user would see
        err = capsys.readouterr().err
        assert code == 2, err
        assert f"{name}.yaml" in err, err
        if has_line:
            assert re.search(rf"{re.escape(name)}\.yaml:\d+", err), err
        assert "Hint:" in err
        assert "Traceback" not in err
        assert len(err) < 20_000, f"{len(err)} characters of error output"
    assert _state(url) == before
