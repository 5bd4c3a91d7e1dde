"""Render one demo email as RFC 822 text with the stdlib ``email`` package.

Deterministic on purpose: MIME boundaries are passed in (the stdlib would draw them from the
global random generator) and attachments are tiny generated files.
"""

from __future__ import annotations

import html
import struct
import zlib
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime

__all__ = ["Mail", "render_mail"]


@dataclass(frozen=True)
class Mail:
    """Everything one rendered message needs; ``quoted`` is (who, date, text) of the parent."""

    message_id: str
    sender: str
    to: str
    subject: str
    date: datetime
    body: str
    boundary: str
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    quoted: tuple[str, datetime, str] | None = None
    language: str = "en"
    html: bool = False
    attachment: tuple[str, str] | None = None
    auto_reply: bool = False
    mailer: str | None = None


def _tiny_png() -> bytes:
    # A valid 2x2 PNG so clients that open the "photo" see an image, not garbage.
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0)
    rows = b"".join(b"\x00" + bytes([120, 72, 40]) * 2 for _ in range(2))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows, 9))
        + chunk(b"IEND", b"")
    )


def _tiny_pdf(title: str) -> bytes:
    return (
        b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
        b"2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\n"
        b"%% " + title.encode("ascii", "replace") + b"\ntrailer<</Root 1 0 R>>\n%%EOF\n"
    )


def _quote(mail: Mail) -> str:
    if mail.quoted is None:
        return mail.body
    who, when, text = mail.quoted
    quoted = "\n".join(f"> {line}" if line else ">" for line in text.splitlines())
    return f"{mail.body}\n\nOn {format_datetime(when)}, {who} wrote:\n{quoted}\n"


def _as_html(text: str) -> str:
    paragraphs = "".join(
        "<p>" + html.escape(block).replace("\n", "<br>") + "</p>\n" for block in text.split("\n\n") if block
    )
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8"></head>\n'
        f'<body style="font-family:Helvetica,Arial,sans-serif">\n{paragraphs}</body></html>\n'
    )


def render_mail(mail: Mail) -> str:
    """The message as RFC 822 text (``\\n`` line endings, non-ASCII headers RFC 2047-encoded)."""
    msg = EmailMessage(policy=policy.default)
    msg["Message-ID"] = mail.message_id
    msg["Date"] = format_datetime(mail.date)
    msg["From"] = mail.sender
    msg["To"] = mail.to
    msg["Subject"] = mail.subject
    if mail.in_reply_to:
        msg["In-Reply-To"] = mail.in_reply_to
        msg["References"] = " ".join(mail.references)
    if mail.auto_reply:
        msg["Auto-Submitted"] = "auto-replied"
        msg["X-Autoreply"] = "yes"
        msg["Precedence"] = "auto_reply"
    if mail.mailer:
        msg["X-Mailer"] = mail.mailer
    text = _quote(mail)
    msg.set_content(text)
    if mail.language != "en":
        # After set_content, which drops every Content-* header it did not write.
        msg["Content-Language"] = mail.language
    if mail.html:
        msg.add_alternative(_as_html(text), subtype="html")
    if mail.attachment is not None:
        name, content_type = mail.attachment
        maintype, subtype = content_type.split("/", 1)
        data = _tiny_png() if maintype == "image" else _tiny_pdf(name)
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    for depth, part in enumerate(p for p in msg.walk() if p.is_multipart()):
        part.set_boundary(f"{mail.boundary}.{depth}")
    return msg.as_string(policy=policy.default)
