"""The email channel: ``rfc822`` messages read over IMAP, replies sent over SMTP.

``parse`` turns raw mail into hub messages (``PARSERS["rfc822"]``), ``source`` polls IMAP
mailboxes as a Bytewax source (one partition per mailbox folder; cursor UIDVALIDITY + last
UID), ``replier`` sends threaded replies with SMTP. Helpers: ``headers`` (ids, addresses,
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

or as JSON in ``PARLEY_EMAIL__ACCOUNTS``.
"""
