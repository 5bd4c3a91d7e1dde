"""IMAP wire details, pure functions: FETCH responses as aioimaplib returns them, mailbox names.

``parse_fetch_lines`` reads a ``UID FETCH (UID INTERNALDATE BODY[])`` response whatever order
the server puts the items in; ``imap_utf7``/``quote_mailbox`` encode folder names the way
RFC 3501 wants them (modified UTF-7, quoted when they contain spaces).
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from datetime import UTC, datetime

__all__ = ["FetchedMail", "imap_utf7", "parse_fetch_lines", "quote_mailbox"]

_FETCH_HEAD = re.compile(rb"^\d+ FETCH \(.*\{(\d+)\}$")
_UID = re.compile(rb"\bUID (\d+)")
_INTERNALDATE = re.compile(rb'INTERNALDATE "([^"]+)"')


@dataclass(frozen=True)
class FetchedMail:
    """One fetched message: its UID, raw bytes (None when the server sent no body) and date."""

    uid: int
    raw: bytes | None
    internal_date: datetime | None


def _parse_internal_date(line: bytes) -> datetime | None:
    match = _INTERNALDATE.search(line)
    if not match:
        return None
    try:
        return datetime.strptime(match.group(1).decode("ascii"), "%d-%b-%Y %H:%M:%S %z").astimezone(UTC)
    except ValueError:
        return None


def parse_fetch_lines(lines: list[bytes | bytearray]) -> dict[int, FetchedMail]:
    """The messages in a ``UID FETCH (UID INTERNALDATE BODY[])`` response, by UID.

    Servers order the items as they like: the UID and date may come before the body literal
    or in the line after it. A FETCH line without a body (a flags update, an expunged message)
    never replaces a fetched body.
    """
    found: dict[int, FetchedMail] = {}
    i = 0
    while i < len(lines):
        line = bytes(lines[i])
        if _FETCH_HEAD.match(line) and i + 1 < len(lines):
            body = bytes(lines[i + 1])
            tail = bytes(lines[i + 2]) if i + 2 < len(lines) else b""
            uid = _UID.search(line) or _UID.search(tail)
            if uid:
                when = _parse_internal_date(line) or _parse_internal_date(tail)
                found[int(uid.group(1))] = FetchedMail(int(uid.group(1)), body, when)
            i += 2
            continue
        uid = _UID.search(line)
        if uid and b" FETCH (" in line and int(uid.group(1)) not in found:
            found[int(uid.group(1))] = FetchedMail(int(uid.group(1)), None, _parse_internal_date(line))
        i += 1
    return found


def imap_utf7(name: str) -> str:
    """``name`` in IMAP's modified UTF-7 (RFC 3501 5.1.3): "Entwürfe" -> "Entw&APw-rfe"."""
    out: list[str] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            encoded = base64.b64encode("".join(pending).encode("utf-16-be")).decode("ascii")
            out.append("&" + encoded.rstrip("=").replace("/", ",") + "-")
            pending.clear()

    for char in name:
        if 0x20 <= ord(char) <= 0x7E:
            flush()
            out.append("&-" if char == "&" else char)
        else:
            pending.append(char)
    flush()
    return "".join(out)


def quote_mailbox(folder: str) -> str:
    # IMAP mailbox names are modified UTF-7; names with spaces or quotes are quoted strings.
    encoded = imap_utf7(folder)
    if re.fullmatch(r"[A-Za-z0-9._/&,+\-]+", encoded):
        return encoded
    return '"' + encoded.replace("\\", "\\\\").replace('"', '\\"') + '"'
