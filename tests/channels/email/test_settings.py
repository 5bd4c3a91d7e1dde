"""Mailbox configuration as an operator writes it: environment variables, parley.toml, secrets."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from channels import CHANNELS, configure
from channels.email import EMAIL
from channels.email.replier import EmailReplier
from channels.email.settings import EmailSettings, MailboxSettings
from channels.email.source import IMAPSource
from hub.errors import FatalError, SkippableError
from hub.settings import Settings

ACCOUNTS = [
    {"name": "support", "imap_host": "imap.example.org", "username": "support@example.org",
     "password_env": "SUPPORT_APP_PASSWORD", "folders": ["INBOX", "Escalations"],
     "smtp_host": "smtp.example.org", "smtp_username": "support@example.org",
     "from_address": "support@example.org"},
    {"name": "sales", "imap_host": "imap.example.org", "username": "sales@example.org",
     "password": "inline-secret", "from_address": "sales@example.org"},
]  # fmt: skip


@pytest.mark.parametrize("variable", ["PARLEY_EMAIL__ACCOUNTS", "PARLEY_CHANNELS__EMAIL__ACCOUNTS"])
def test_mailboxes_from_environment_with_password_from_env(
    monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    monkeypatch.setenv(variable, json.dumps(ACCOUNTS))
    monkeypatch.setenv("SUPPORT_APP_PASSWORD", "app-pw-from-env")
    settings = configure(Settings(demo=False))
    support, sales = EMAIL.settings_of(settings).accounts
    assert support.imap_password() == "app-pw-from-env"
    assert support.smtp_credentials() == ("support@example.org", "app-pw-from-env")
    assert sales.imap_password() == "inline-secret" and sales.smtp_credentials() is None
    # secrets are SecretStr once validated, in the table too
    assert "inline-secret" not in repr(settings) and "inline-secret" not in repr(settings.channels)

    email = CHANNELS["email"]
    assert email.sources is not None and email.replier is not None
    ((step_id, source),) = email.sources(settings)
    assert step_id == "email_imap" and isinstance(source, IMAPSource)
    assert source.list_parts() == ["support/INBOX", "support/Escalations", "sales/INBOX"]
    replier = email.replier(settings, "sales")
    assert isinstance(replier, EmailReplier) and replier.mailbox.name == "sales"
    with pytest.raises(SkippableError, match="no mailbox named 'import'"):
        email.replier(settings, "import")


def test_mailboxes_and_window_from_parley_toml(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "parley.toml"
    config.write_text(
        "[email]\nsubject_window_days = 3\n\n"
        '[[email.accounts]]\nname = "support"\nusername = "care@brand.example"\n'
    )
    monkeypatch.setenv("PARLEY_CONFIG", str(config))
    settings = Settings(demo=False)
    email = EMAIL.settings_of(settings)
    assert [mailbox.name for mailbox in email.accounts] == ["support"]
    assert EMAIL.threading(settings).subject_window == timedelta(days=3)
    # the environment still wins over the file, key by key
    monkeypatch.setenv("PARLEY_EMAIL__SUBJECT_WINDOW_DAYS", "5")
    settings = Settings(demo=False)
    assert EMAIL.threading(settings).subject_window == timedelta(days=5)
    assert [mailbox.name for mailbox in EMAIL.settings_of(settings).accounts] == ["support"]


def test_default_threading_window_is_two_weeks() -> None:
    assert EMAIL.threading(Settings(demo=False)).subject_window == timedelta(days=14)


def test_a_misspelt_option_names_the_variable_to_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARLEY_EMAIL__ACCOUNTS", json.dumps([{"name": "support", "imap_prot": 993}]))
    with pytest.raises(
        FatalError, match=r"PARLEY_EMAIL__ACCOUNTS \(\[email\] accounts in parley.toml\) at 0.imap_prot"
    ):
        configure(Settings(demo=False))


def test_mailboxes_are_the_brands_own_identities() -> None:
    mailboxes = EmailSettings(
        accounts=[
            MailboxSettings(name="care", username="inbox-7@brand.example", from_address="Care@brand.example"),
            MailboxSettings(name="login-only", username="imapuser"),  # a login, not an address
        ]
    )
    settings = EMAIL.with_settings(Settings(demo=False), mailboxes)
    assert settings.own_addresses() == []  # until the composition root adds them
    configured = configure(settings)
    assert configured.brand.identities["email"] == ["Care@brand.example", "inbox-7@brand.example"]
    assert configured.own_identities() == frozenset({"care@brand.example", "inbox-7@brand.example"})
    assert configure(configured) == configured  # idempotent


def test_missing_env_password_falls_back_to_configured_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    mailbox = MailboxSettings(password="configured", password_env="NOT_SET_ANYWHERE")
    assert mailbox.imap_password() == "configured"


def test_same_folder_twice_is_a_configuration_error() -> None:
    with pytest.raises(FatalError, match="configured twice"):
        IMAPSource([MailboxSettings(name="a", folders=["INBOX", "INBOX"])])
