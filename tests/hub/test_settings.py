"""The root settings: one definition of the brand's identities, and channel tables that the root
reads without knowing any channel's fields."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict

from hub.errors import FatalError
from hub.settings import BrandSettings, Settings
from hub.settings_sources import describe_setting


class _Table(BaseModel):
    model_config = ConfigDict(extra="forbid")

    accounts: list[dict[str, str]] = []
    window_days: int = 14
    secret: str = ""


def test_brand_identities_are_one_definition_split_by_kind() -> None:
    brand = BrandSettings(
        identities={
            "sms": ["+44 7700 900100"],
            "email": ["Care@brand.example"],
            "twitter": ["@ParleyCoffee", "Care@brand.example"],
            "facebook": ["parley.coffee", " "],
        }
    )
    settings = Settings(brand=brand)
    assert settings.own_addresses() == ["+44 7700 900100", "Care@brand.example"]
    assert brand.handles() == ["@ParleyCoffee", "parley.coffee"]
    assert settings.own_identities() == frozenset(
        {"+44 7700 900100", "care@brand.example", "parleycoffee", "parley.coffee"}
    )


def test_with_identities_adds_each_value_once() -> None:
    settings = Settings(brand=BrandSettings(identities={"email": ["care@brand.example"]}))
    more = settings.with_identities(
        {"email": ["care@brand.example", "inbox@brand.example"], "sms": ["+447700900100"]}
    )
    assert more.brand.identities == {
        "email": ["care@brand.example", "inbox@brand.example"],
        "sms": ["+447700900100"],
    }
    assert more.with_identities({"email": ["inbox@brand.example"]}) == more
    assert settings.brand.identities == {"email": ["care@brand.example"]}  # a copy, not a change


@pytest.mark.parametrize(
    "variable", ["PARLEY_SOMECHANNEL__ACCOUNTS", "PARLEY_CHANNELS__SOMECHANNEL__ACCOUNTS"]
)
def test_channel_tables_from_the_environment(monkeypatch: pytest.MonkeyPatch, variable: str) -> None:
    monkeypatch.setenv(variable, json.dumps([{"name": "a"}]))
    monkeypatch.setenv("PARLEY_SOMECHANNEL__WINDOW_DAYS", "3")
    monkeypatch.setenv("PARLEY_SOMECHANNEL__SECRET", "[not json")  # stays a string
    monkeypatch.setenv("PARLEY_KB__BACKEND", "sqlite")  # root groups are not channel tables
    table = Settings().channel_settings("somechannel", _Table)
    assert table == _Table(accounts=[{"name": "a"}], window_days=3, secret="[not json")
    assert set(Settings().channels) == {"somechannel"}


def test_channel_tables_from_parley_toml_with_the_environment_winning(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = tmp_path / "parley.toml"
    config.write_text(
        'demo = false\n[somechannel]\nwindow_days = 7\n[[somechannel.accounts]]\nname = "file"\n'
        "[channels.other]\nwindow_days = 1\n"
    )
    monkeypatch.setenv("PARLEY_CONFIG", str(config))
    settings = Settings()
    assert settings.demo is False
    assert settings.channel_settings("somechannel", _Table) == _Table(
        accounts=[{"name": "file"}], window_days=7
    )
    assert settings.channel_settings("other", _Table).window_days == 1
    monkeypatch.setenv("PARLEY_SOMECHANNEL__WINDOW_DAYS", "9")
    assert Settings().channel_settings("somechannel", _Table) == _Table(
        accounts=[{"name": "file"}], window_days=9
    )


def test_an_invalid_channel_table_names_the_variable() -> None:
    settings = Settings(channels={"somechannel": {"accounts": [{"name": 5}], "colour": "red"}})
    with pytest.raises(FatalError) as failed:
        settings.channel_settings("somechannel", _Table)
    message = str(failed.value)
    assert "PARLEY_SOMECHANNEL__ACCOUNTS ([somechannel] accounts in parley.toml) at 0.name" in message
    assert "PARLEY_SOMECHANNEL__COLOUR ([somechannel] colour in parley.toml)" in message


def test_settings_are_described_as_operators_write_them() -> None:
    assert (
        describe_setting(("kb", "backend"), "bad") == "PARLEY_KB__BACKEND ([kb] backend in parley.toml): bad"
    )
    assert describe_setting(("demo",), "bad") == "PARLEY_DEMO (demo in parley.toml): bad"
    assert describe_setting(("channels", "email"), "bad") == "PARLEY_EMAIL__* ([email] in parley.toml): bad"


@pytest.mark.parametrize(
    ("variable", "moved_to"),
    [
        ("PARLEY_CRM__OWN_ADDRESSES", "PARLEY_BRAND__IDENTITIES"),
        ("PARLEY_ENRICHMENT__HANDLES", "PARLEY_BRAND__IDENTITIES"),
        ("PARLEY_ENRICHMENT__BRANDS", "PARLEY_BRAND__NAMES"),
    ],
)
def test_options_that_moved_to_the_brand_fail_instead_of_being_ignored(
    monkeypatch: pytest.MonkeyPatch, variable: str, moved_to: str
) -> None:
    monkeypatch.setenv(variable, '["x"]')
    with pytest.raises(ValueError, match=moved_to):
        Settings()
