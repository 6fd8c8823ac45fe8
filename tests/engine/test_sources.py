"""Resolving sources to URLs, the demo fallback, and passwords kept out of messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.errors import SourceNotConfigured
from engine.model import Source
from engine.sources import dialect_of, mask, mask_url, normalise, resolve

RESOLVE_CASES = [
    ("url_env wins", Source("wh", url_env="WH_URL"), {"WH_URL": "postgresql+psycopg://u@h/db", "DQ_SOURCE_WH_URL": "mysql://x@y/z"}, "postgresql", "postgresql://u@h/db"),
    ("DQ_SOURCE_<NAME>_URL", Source("sales-db"), {"DQ_SOURCE_SALES_DB_URL": "mysql+pymysql://r@h:3306/s"}, "mysql", "mysql://r@h:3306/s"),
    ("mariadb scheme reads as mysql", Source("m"), {"DQ_SOURCE_M_URL": "mariadb://r@h/s"}, "mysql", "mysql://r@h/s"),
    ("parquet folder", Source("lake", kind="parquet"), {"DQ_SOURCE_LAKE_URL": "/data/lake"}, "parquet", "/data/lake"),
    ("s3 prefix", Source("lake"), {"DQ_SOURCE_LAKE_URL": "s3://bucket/silver"}, "parquet", "s3://bucket/silver"),
    ("file:// prefix", Source("lake"), {"DQ_SOURCE_LAKE_URL": "file:///data/lake"}, "parquet", "/data/lake"),
]


@pytest.mark.parametrize(("source", "env", "dialect", "url"), [c[1:] for c in RESOLVE_CASES], ids=[c[0] for c in RESOLVE_CASES])
def test_resolve(source: Source, env: dict, dialect: str, url: str) -> None:
    location = resolve(source, env)

    assert (location.dialect, location.url) == (dialect, url)


def test_sqlite_urls_become_absolute_paths_for_connectorx(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)

    assert normalise("sqlite:///rel/w.db") == f"sqlite://{tmp_path}/rel/w.db"
    assert normalise("sqlite:////abs/w.db") == "sqlite:///abs/w.db"


def test_demo_source_falls_back_to_the_demo_warehouse(isolated_env: Path) -> None:
    location = resolve(Source("demo", demo=True))

    assert location.url == f"sqlite://{isolated_env / 'demo_warehouse.db'}"


def test_a_source_without_url_names_the_variable_and_the_secrets_key() -> None:
    with pytest.raises(SourceNotConfigured, match=r"set DQ_SOURCE_SALES_URL .*\[sources\] sales"):
        resolve(Source("sales"), {})


def test_secrets_toml_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secrets = tmp_path / "secrets.toml"
    secrets.write_text('[sources]\nsales = "postgresql://ro@db/sales"\n')
    monkeypatch.setenv("DQ_SECRETS_FILE", str(secrets))

    assert resolve(Source("sales")).url == "postgresql://ro@db/sales"


def test_unsupported_scheme_is_refused_with_the_password_masked() -> None:
    with pytest.raises(SourceNotConfigured, match=r"oracle://scott:\*\*\*@h/db"):
        dialect_of("oracle://scott:tiger123@h/db")


MASK_CASES = [
    ("password in a URL", "failed: postgresql://dq:p4ss@h:5432/db refused", None, "failed: postgresql://dq:***@h:5432/db refused"),
    ("bare password echoed by a driver", "password authentication failed for 'p4ss'", "postgresql://dq:p4ss@h/db", "password authentication failed for '***'"),
    ("url-encoded password", "auth p@ss failed", "postgresql://dq:p%40ss@h/db", "auth *** failed"),
    ("no password", "mysql://root@h/db down", None, "mysql://root@h/db down"),
]


@pytest.mark.parametrize(("text", "url", "expected"), [c[1:] for c in MASK_CASES], ids=[c[0] for c in MASK_CASES])
def test_mask(text: str, url: str | None, expected: str) -> None:
    assert mask(text, url) == expected


def test_mask_url() -> None:
    assert mask_url("postgresql+psycopg://u:secret@h/db") == "postgresql+psycopg://u:***@h/db"
