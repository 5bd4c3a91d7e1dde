"""The email channel: ``rfc822`` messages read over IMAP, replies sent over SMTP.

``EMAIL`` is its descriptor. ``parse`` turns raw mail into hub messages (``PARSERS["rfc822"]``),
``source`` polls IMAP mailboxes as a Bytewax source (one partition per mailbox folder; cursor
UIDVALIDITY + last UID), ``importers`` read ``.eml`` and mbox files, ``replier`` sends threaded
replies with SMTP, ``settings`` holds the mailboxes. Helpers: ``headers`` (ids, addresses,
dates, subjects), ``body`` (MIME walk, charsets, HTML to text, attachments), ``quotes``
(quoted replies and signatures), ``classify`` (bounces, auto-replies), ``imap`` (the one
place that speaks IMAP).

Configure mailboxes in ``parley.toml``::

    [[email.accounts]]
    name = "support"                      # = Envelope.account and Reply.account
    imap_host = "imap.example.org"        # imap_port = 993, imap_tls = "ssl" by default
    username = "support@example.org"
    password_env = "SUPPORT_APP_PASSWORD" # the (app) password stays in the environment
    folders = ["INBOX"]
    smtp_host = "smtp.example.org"        # smtp_port = 587, smtp_tls = "starttls"
    smtp_username = "support@example.org" # SMTP AUTH reuses the IMAP password
    from_address = "support@example.org"
    from_name = "Example Support"

or as JSON in ``PARLEY_EMAIL__ACCOUNTS`` (``[channels.email]`` and
``PARLEY_CHANNELS__EMAIL__ACCOUNTS`` are the same table spelt out).
"""

from __future__ import annotations

from channels.base import Channel
from channels.email.importers import IMPORTERS
from channels.email.parse import PARSERS
from channels.email.replier import check_reply, replier_for
from channels.email.settings import CHANNEL, EmailSettings, own_identities, threading_rules
from channels.email.source import sources

__all__ = ["EMAIL"]

EMAIL: Channel[EmailSettings] = Channel(
    name=CHANNEL,
    settings_model=EmailSettings,
    parsers=PARSERS,
    sources=sources,
    importers=IMPORTERS,
    replier=replier_for,
    check_reply=check_reply,
    reply_kinds=frozenset({"private"}),
    threading=threading_rules,
    own_identities=own_identities,
)
