"""Mailbox configuration as an operator writes it: environment variables and secrets."""

from __future__ import annotations

import json

import pytest

from channels.email.replier import EmailReplier, repliers_from_settings
from channels.email.source import IMAPSource, sources_from_settings
from hub.settings import MailboxSettings, Settings


def test_mailboxes_from_environment_with_password_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    accounts = [
        {"name": "support", "imap_host": "imap.example.org", "username": "support@example.org",
         "password_env": "SUPPORT_APP_PASSWORD", "folders": ["INBOX", "Escalations"],
         "smtp_host": "smtp.example.org", "smtp_username": "support@example.org",
         "from_address": "support@example.org"},
        {"name": "sales", "imap_host": "imap.example.org", "username": "sales@example.org",
         "password": "inline-secret", "from_address": "sales@example.org"},
    ]  # fmt: skip
    monkeypatch.setenv("PARLEY_EMAIL__ACCOUNTS", json.dumps(accounts))
    monkeypatch.setenv("SUPPORT_APP_PASSWORD", "app-pw-from-env")
    settings = Settings(demo=False)
    support, sales = settings.email.accounts
    assert support.imap_password() == "app-pw-from-env"
    assert support.smtp_credentials() == ("support@example.org", "app-pw-from-env")
    assert sales.imap_password() == "inline-secret" and sales.smtp_credentials() is None
    assert "inline-secret" not in repr(settings)  # secrets stay SecretStr

    ((step_id, source),) = sources_from_settings(settings)
    assert step_id == "email_imap" and isinstance(source, IMAPSource)
    assert source.list_parts() == ["support/INBOX", "support/Escalations", "sales/INBOX"]
    repliers = repliers_from_settings(settings)
    assert set(repliers) == {"support", "sales"} and isinstance(repliers["sales"], EmailReplier)


def test_missing_env_password_falls_back_to_configured_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    mailbox = MailboxSettings(password="configured", password_env="NOT_SET_ANYWHERE")
    assert mailbox.imap_password() == "configured"


def test_same_folder_twice_is_a_configuration_error() -> None:
    from hub.errors import FatalError

    with pytest.raises(FatalError, match="configured twice"):
        IMAPSource([MailboxSettings(name="a", folders=["INBOX", "INBOX"])])
