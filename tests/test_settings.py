"""Every setting is declared once and documented; values come from the environment or secrets.toml."""

from __future__ import annotations

from pathlib import Path

import pytest

import settings
from cli.settings import masked, reference

DOC = Path(__file__).resolve().parents[1] / "docs" / "settings.md"


def test_every_setting_is_documented() -> None:
    text = DOC.read_text()
    missing = [name for name in settings.SETTINGS if f"`{name}`" not in text]
    assert missing == [], "run `python manage.py settings --markdown` and update docs/settings.md"


def test_the_reference_table_in_the_docs_is_current() -> None:
    assert reference() in DOC.read_text()


def test_environment_wins_over_secrets_and_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secrets = tmp_path / "secrets.toml"
    secrets.write_text('DQ_TIMEZONE = "Europe/Berlin"\n[dq]\nDQ_HEALTH_PORT = 9000\n[sources]\nwarehouse = "postgresql://u:pw@h/db"\n')
    monkeypatch.setenv("DQ_SECRETS_FILE", str(secrets))
    assert (settings.get("DQ_TIMEZONE"), settings.get("DQ_HEALTH_PORT")) == ("Europe/Berlin", 9000)
    monkeypatch.setenv("DQ_TIMEZONE", "UTC")
    assert settings.get("DQ_TIMEZONE") == "UTC"
    assert settings.source_url("warehouse") == "postgresql://u:pw@h/db"
    monkeypatch.setenv("DQ_SOURCE_WAREHOUSE_URL", "sqlite:////x.db")
    assert settings.source_url("warehouse") == "sqlite:////x.db"


def test_a_bad_value_names_the_setting_and_its_meaning(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DQ_HEALTH_PORT", "eighty")
    with pytest.raises(settings.SettingsError, match=r"DQ_HEALTH_PORT='eighty' is invalid: .* Hint: Port of"):
        settings.get("DQ_HEALTH_PORT")


def test_default_store_is_a_sqlite_file_in_the_data_dir(isolated_env: Path) -> None:
    assert settings.get("DQ_STORE_URL") == f"sqlite:///{isolated_env / 'dq_store.db'}"


def test_secrets_are_masked_when_shown() -> None:
    assert masked("DQ_SMTP_PASSWORD", "hunter2") == "***"
    assert masked("DQ_STORE_URL", "postgresql://dq:pw@db/dq") == "postgresql://dq:***@db/dq"
    assert masked("DQ_TIMEZONE", "UTC") == "UTC"
