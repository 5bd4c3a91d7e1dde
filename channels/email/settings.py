"""The email channel's settings: its mailboxes and its threading window.

They live in the root settings' ``channels["email"]`` table, written ``PARLEY_EMAIL__...`` or
``[email]`` in ``parley.toml`` (see ``hub.settings_sources``). Unknown keys are refused, so a
misspelt option fails at start-up instead of being ignored. A mailbox's addresses are the
brand's own (``own_identities``): mail from them is outbound and never merges contacts.
"""

from __future__ import annotations

import os
import ssl
from datetime import timedelta
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from channels.base import ThreadingRules

if TYPE_CHECKING:
    from hub.settings import Settings

__all__ = [
    "CHANNEL",
    "EmailSettings",
    "MailboxSettings",
    "email_settings",
    "own_identities",
    "threading_rules",
]

#: the channel's name: ``Envelope.channel``, ``Message.channel`` and its settings table
CHANNEL = "email"


class MailboxSettings(BaseModel):
    """One support mailbox: read over IMAP, replied to over SMTP."""

    model_config = ConfigDict(extra="forbid")

    name: str = "support"
    imap_host: str = "localhost"
    imap_port: int = 993
    imap_tls: Literal["ssl", "starttls", "none"] = "ssl"
    username: str = ""
    password: SecretStr = SecretStr("")
    folders: list[str] = Field(default_factory=lambda: ["INBOX"])
    mark_seen: bool = False
    poll_interval_s: float = 60.0
    idle: bool = True
    smtp_host: str = "localhost"
    smtp_port: int = 587
    smtp_tls: Literal["ssl", "starttls", "none"] = "starttls"
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    from_address: str = ""
    #: display name on outgoing replies ("Acme Support"); empty sends the bare address
    from_name: str = ""
    #: quote the answered message below the reply ("On ..., Ann wrote: > ..."), as clients do
    quote_original: bool = True
    #: name of an environment variable holding the IMAP password (or app password); wins over
    #: ``password`` so secrets stay out of parley.toml. SMTP uses it too unless smtp_password.
    password_env: str | None = None
    #: timeout of every IMAP/SMTP command and connection attempt
    timeout_s: float = Field(default=30.0, gt=0)
    #: reconnect backoff: doubles from the first delay up to the cap (with jitter)
    reconnect_initial_s: float = Field(default=1.0, gt=0)
    reconnect_max_s: float = Field(default=300.0, gt=0)
    #: UIDs fetched per IMAP FETCH command during catch-up (halved after a timed-out fetch,
    #: grown back after successes)
    fetch_batch: int = Field(default=50, ge=1)
    #: timed-out fetches of one message on its own before it is dead-lettered and skipped
    fetch_attempts: int = Field(default=3, ge=1)
    #: PEM file of the CA that signed the IMAP/SMTP servers' certificates (self-signed
    #: in-house servers); None trusts the system's CAs. Certificates are always verified.
    ca_file: str | None = None

    def tls_context(self) -> ssl.SSLContext:
        """The TLS context for this mailbox's IMAP and SMTP connections."""
        return ssl.create_default_context(cafile=self.ca_file)

    def imap_password(self) -> str:
        """The IMAP password: from ``password_env`` when set, else ``password``."""
        if self.password_env and os.environ.get(self.password_env):
            return os.environ[self.password_env]
        return self.password.get_secret_value()

    def smtp_credentials(self) -> tuple[str, str] | None:
        """(user, password) for SMTP AUTH, or None to send unauthenticated."""
        user = self.smtp_username
        if not user:
            return None
        if self.smtp_password is not None:
            return user, self.smtp_password.get_secret_value()
        return user, self.imap_password()

    def own_addresses(self) -> list[str]:
        """The addresses this mailbox sends from and logs in as (logins that are not
        addresses are left out)."""
        return [address for address in (self.from_address, self.username) if "@" in address]


class EmailSettings(BaseModel):
    """The ``[email]`` table: the mailboxes read and replied from, and threading."""

    model_config = ConfigDict(extra="forbid")

    accounts: list[MailboxSettings] = Field(default_factory=list)
    #: mail with the same normalised subject from the same author within this many days joins
    #: one conversation when it names no earlier message (clients that drop In-Reply-To)
    subject_window_days: int = Field(default=14, ge=0)


def email_settings(settings: Settings) -> EmailSettings:
    """The email channel's settings out of the root ``settings`` (validated)."""
    return settings.channel_settings(CHANNEL, EmailSettings)


def own_identities(settings: Settings) -> list[str]:
    """Every configured mailbox's sending address and login address: the brand's own."""
    mailboxes = email_settings(settings).accounts
    return list(dict.fromkeys(address for mailbox in mailboxes for address in mailbox.own_addresses()))


def threading_rules(settings: Settings) -> ThreadingRules:
    """Mail threads by References, else by subject within ``subject_window_days``."""
    return ThreadingRules(subject_window=timedelta(days=email_settings(settings).subject_window_days))
