"""Header helpers for RFC 5322 mail: message ids, addresses, dates and subjects.

Pure functions over header strings. They never raise on malformed input: a header that cannot
be read is treated as absent (the caller decides whether that makes the message unusable).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.header import decode_header, make_header
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import getaddresses, parsedate_to_datetime
from typing import NamedTuple

__all__ = [
    "MAX_ADDRESSES",
    "MAX_ADDRESS_CHARS",
    "AddressList",
    "address_list",
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

#: Address entries parsed from the headers of one ``addresses``/``address_list`` call (To and Cc
#: together, say); the entries after them are counted, not parsed. Anyone can send mail to the
#: support inbox with 100,000 recipients, and the stdlib address parser takes over a minute and
#: a gigabyte to read such a header.
MAX_ADDRESSES = 100
#: Characters of those headers that reach the parser at most, however few entries they hold.
MAX_ADDRESS_CHARS = 32 * 1024

# One entry of an address list: everything up to the next comma outside quoted strings,
# comments and angle brackets, which may all hold commas. An unterminated quoted string or
# comment runs to the end (or to the next parenthesis), as the stdlib parser reads it, and the
# possessive repeats never rescan: the match is linear in the header's length whatever it holds
# (a header of escaped quotes made a backtracking pattern quadratic). A "<" without its ">" is a
# plain character.
_ENTRY = re.compile(
    r'(?:[^,"(<]++|"(?:[^"\\]|\\.)*+"?|\((?:[^()\\]|\\.)*+\)?|<[^<>]*+>|<)*+',
    re.DOTALL,
)


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


@dataclass(frozen=True, slots=True)
class AddressList:
    """The first address entries of some headers, parsed, and how many entries they hold.

    ``pairs`` are (display name, address) in header order without duplicates, read from at most
    ``limit`` entries and ``MAX_ADDRESS_CHARS`` characters; ``total`` counts every entry that
    holds an ``@`` without parsing it (duplicates included); ``capped`` says entries were left
    unread.
    """

    pairs: list[tuple[str, str]]
    total: int
    capped: bool


def address_list(msg: EmailMessage, *names: str, limit: int = MAX_ADDRESSES) -> AddressList:
    """The addresses in the named headers, parsing only their first ``limit`` entries.

    The raw header values are split on top-level commas by a regular expression (linear, in C)
    and only the leading slice is handed to the header parser, so the cost is bounded whatever
    the header's size.
    """
    pairs: list[tuple[str, str]] = []
    seen: set[str] = set()
    entries_left, chars_left = limit, MAX_ADDRESS_CHARS
    total, capped = 0, False
    for name in names:
        for raw in _raw_values(msg, name):
            part = _leading_entries(raw, entries_left, chars_left)
            total += part.total
            capped = capped or part.capped
            entries_left -= part.kept
            chars_left -= part.end
            if not part.kept:
                continue
            for display, addr in _addresses_of(_structured(msg, name, raw[: part.end])):
                addr, display = clean_text(addr), clean_text(display)
                key = addr.lower()
                if addr and key not in seen:
                    seen.add(key)
                    pairs.append((display, addr))
    return AddressList(pairs=pairs, total=total, capped=capped)


def addresses(msg: EmailMessage, *names: str, limit: int = MAX_ADDRESSES) -> list[tuple[str, str]]:
    """(display name, address) pairs from the named headers, in order, without duplicates.

    At most the first ``limit`` entries are read (see ``address_list``).
    """
    return address_list(msg, *names, limit=limit).pairs


def _raw_values(msg: EmailMessage, name: str) -> list[str]:
    # raw_items() gives the values as received, before the header registry parses them.
    wanted = name.lower()
    return [str(value) for key, value in msg.raw_items() if key.lower() == wanted]


class _Slice(NamedTuple):
    end: int  # raw[:end] holds the kept entries
    kept: int  # non-blank entries in raw[:end]
    total: int  # entries in all of raw holding an "@"
    capped: bool  # a non-blank entry was left out


def _leading_entries(raw: str, max_entries: int, max_chars: int) -> _Slice:
    """The longest prefix of ``raw`` made of whole entries within both limits, and the total."""
    end = kept = total = pos = 0
    keeping = True
    while pos <= len(raw):
        match = _ENTRY.match(raw, pos)
        assert match is not None  # the pattern matches the empty string
        entry = match.group()
        if "@" in entry:
            total += 1
        if keeping and entry.strip():
            if kept < max_entries and match.end() <= max_chars:
                kept, end = kept + 1, match.end()
            else:
                keeping = False
        pos = match.end() + 1  # past the comma
    if keeping and len(raw) <= max_chars:
        end = len(raw)  # nothing left out: the parser sees the header exactly as received
    return _Slice(end=end, kept=kept, total=total, capped=not keeping)


def _structured(msg: EmailMessage, name: str, value: str) -> object:
    # What msg.get(name) does, on the slice only; the registry raises on some real-world garbage
    # (it is a parser with bugs of its own), and the leniently decoded text is better than nothing.
    try:
        return msg.policy.header_fetch_parse(name, value)
    except Exception:
        return _decode_raw(value)


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
