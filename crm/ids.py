"""Stable ids, fresh rows and storable text for the CRM store's own records."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

__all__ = ["clean_text", "contact_id_for", "new_contact_row", "record_id"]


def clean_text(value: str | None) -> str | None:
    """``value`` made storable on every backend: PostgreSQL refuses NUL characters and no
    driver encodes lone surrogates (what undecodable bytes become); both are kept visibly as
    backslash escapes instead of failing the whole batch."""
    if value is None:
        return None
    if "\x00" in value:
        value = value.replace("\x00", "\\x00")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = value.encode("utf-8", "backslashreplace").decode("utf-8")
    return value


def record_id(prefix: str, *parts: str) -> str:
    """A stable id from ``parts`` (same scheme as ``hub.models``' message and identity ids)."""
    raw = "\x1f".join(parts).encode("utf-8", "surrogatepass")
    return f"{prefix}_{hashlib.blake2b(raw, digest_size=12).hexdigest()}"


def contact_id_for(identity_id: str) -> str:
    """The id of the contact first created for ``identity_id``: replays create the same ids."""
    return record_id("con", identity_id)


def new_contact_row(contact_id: str, now: datetime) -> dict[str, Any]:
    """Every column of a fresh, empty contact."""
    return {
        "id": contact_id,
        "display_name": None,
        "name_override": None,
        "merged_into": None,
        "merged_at": None,
        "created_at": now,
        "updated_at": now,
        "first_seen": None,
        "last_seen": None,
        "message_count": 0,
        "sentiment_sum": 0.0,
        "sentiment_n": 0,
        "sentiment_avg": None,
        "channel_counts": {},
        "languages": [],
        "tags": [],
        "attributes": {},
        "search_text": "",
    }
