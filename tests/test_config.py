from __future__ import annotations

from pathlib import Path

import pytest

from corridor.config import Settings
from corridor.errors import ConfigurationError

DOCS = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"


def test_every_setting_is_documented() -> None:
    text = DOCS.read_text()
    missing = [n for n in Settings.model_fields if f"`CORRIDOR_{n.upper()}`" not in text]
    assert missing == []


def test_every_setting_has_a_description() -> None:
    assert [n for n, f in Settings.model_fields.items() if not f.description] == []


def test_environment_wins_over_toml_which_wins_over_defaults(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (home / "corridor.toml").write_text('[server]\nport = 9001\nhost = "127.0.0.2"\n')
    monkeypatch.setenv("CORRIDOR_HOME", str(home))
    monkeypatch.setenv("CORRIDOR_PORT", "9002")
    settings = Settings()
    assert settings.home == home.resolve()
    assert settings.port == 9002
    assert settings.host == "127.0.0.2"
    assert settings.max_body_bytes == 16 * 1024 * 1024
    assert settings.effective_database_url == f"sqlite:///{home.resolve() / 'corridor.db'}"
    assert settings.effective_master_key_file == home.resolve() / "master.key"


def test_bad_toml_is_a_clear_configuration_error(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (home / "corridor.toml").write_text("port = = 3\n")
    monkeypatch.setenv("CORRIDOR_HOME", str(home))
    with pytest.raises(ConfigurationError, match=r"corridor\.toml is not valid TOML"):
        Settings()


def test_out_of_range_values_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORRIDOR_PORT", "70000")
    with pytest.raises(ValueError, match="port"):
        Settings()
