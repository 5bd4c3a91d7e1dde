"""Header helpers for RFC 5322 mail: message ids, addresses, dates and subjects.

Pure functions over header strings. They never raise on malformed input: a header that cannot
be read is treated as absent (the caller decides whether that makes the message unusable).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.header import decode_header, make_header
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import getaddresses, parsedate_to_datetime

__all__ = [
    "addresses",
    "clean_text",
    "first_msg_id",
    "header_text",
    "header_values",
    "msg_ids",
    "normalize_subject",
    "parse_date",
]

# A message id is "<left@right>"; real mail also carries ids without brackets or with spaces
# folded in, so anything between angle brackets counts, and bare tokens with an "@" as a
# fallback when no brackets are present at all.
_BRACKETED = re.compile(r"<([^<>\s]+)>")
_BARE = re.compile(r"[^\s<>,;\"]+@[^\s<>,;\"]+")

# Reply / forward prefixes in the languages support mail actually arrives in; "Re[2]:" and
# "Re: Fwd: Re:" chains are stripped repeatedly.
_PREFIX = re.compile(
    r"^\s*(?:re|fwd?|aw|sv|vs|wg|tr|rv|ref|réf|antw|odp|res|enc|doorst|vl|ynt|"
    r"回复|回覆|答复|转发|轉寄)\s*(?:\[\d+\]|\(\d+\))?\s*[:：]\s*",
    re.IGNORECASE,
)
_LIST_TAG = re.compile(r"^\s*\[[^\]]{1,40}\]\s*")
_SPACES = re.compile(r"\s+")


def clean_text(value: str) -> str:
    """``value`` without lone surrogates: raw 8-bit header bytes decoded as UTF-8 or cp1252.

    The parser keeps undeclared 8-bit header bytes as surrogate escapes, which cannot be
    stored or serialised; most such headers are UTF-8, the rest some Windows code page.
    """
    try:
        value.encode("utf-8")
        return value
    except UnicodeEncodeError:
        raw = value.encode("utf-8", "surrogateescape")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")


def header_values(msg: EmailMessage, name: str) -> list[object]:
    """Every value of header ``name``: structured when the header parses, else decoded text.

    The header registry raises on some real-world garbage (it is a parser with bugs of its
    own); the raw value, with encoded words decoded leniently, is better than losing it.
    """
    try:
        return list(msg.get_all(name, failobj=[]))
    except Exception:
        return [_decode_raw(v) for k, v in msg.raw_items() if k.lower() == name.lower()]


def _decode_raw(value: str) -> str:
    try:
        return str(make_header(decode_header(value)))
    except Exception:
        return value


def header_text(msg: EmailMessage, name: str) -> str | None:
    """The decoded value of header ``name`` (the first one), or None when absent or empty."""
    values = header_values(msg, name)
    if not values:
        return None
    text = _SPACES.sub(" ", clean_text(str(values[0]))).strip()
    return text or None


def msg_ids(value: str | None) -> list[str]:
    """Every message id in a References / In-Reply-To / Message-ID value, brackets removed."""
    if not value:
        return []
    found = _BRACKETED.findall(value)
    if not found:
        found = _BARE.findall(value)
    seen: set[str] = set()
    ids: list[str] = []
    for item in found:
        if item not in seen:
            seen.add(item)
            ids.append(item)
    return ids


def first_msg_id(value: str | None) -> str | None:
    ids = msg_ids(value)
    if ids:
        return ids[0]
    # An id without "@" in angle brackets is still an id some clients send.
    if value and value.strip().strip("<>").strip():
        token = value.strip().split()[0].strip("<>")
        return token or None
    return None


def addresses(msg: EmailMessage, *names: str) -> list[tuple[str, str]]:
    """(display name, address) pairs from the named headers, in order, without duplicates."""
    pairs: list[tuple[str, str]] = []
    seen: set[str] = set()
    for name in names:
        for value in header_values(msg, name):
            for display, addr in _addresses_of(value):
                addr, display = clean_text(addr), clean_text(display)
                key = addr.lower()
                if addr and key not in seen:
                    seen.add(key)
                    pairs.append((display, addr))
    return pairs


def _addresses_of(value: object) -> list[tuple[str, str]]:
    # The structured header knows its groups and encoded words; a header the registry could
    # not parse falls back to the tolerant getaddresses on the decoded string.
    found: list[tuple[str, str]] = []
    try:
        addrs: tuple[Address, ...] = getattr(value, "addresses", ())
        for a in addrs:
            if a.addr_spec and "@" in a.addr_spec:
                found.append((a.display_name or "", a.addr_spec))
    except Exception:
        found = []
    if found:
        return found
    for display, addr in getaddresses([str(value)]):
        if addr and "@" in addr:
            found.append((display, addr))
    return found


def parse_date(value: str | None) -> datetime | None:
    """The Date header as a UTC datetime, or None when missing or unreadable."""
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed is None:
        return None
    if parsed.tzinfo is None:  # RFC 5322 says -0000 means "UTC, origin unknown"
        return parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except (OverflowError, ValueError):
        return None


def normalize_subject(subject: str | None) -> str:
    """The subject without reply/forward prefixes and list tags, lower-cased, spaces folded."""
    text = _SPACES.sub(" ", subject or "").strip()
    while True:
        stripped = _LIST_TAG.sub("", _PREFIX.sub("", text, count=1), count=1)
        if stripped == text:
            break
        text = stripped
    return text.strip().lower()
