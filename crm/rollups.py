"""Profile rollups: a contact's figures recomputed from its identities' own statistics.

Rollups are always derived, never incremented on the contact itself, so moving identities
between contacts (merge, unmerge, split) leaves every contact's figures exactly right.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from crm.bulk import bulk_update
from crm.schema import contacts, identities
from hub.models import utcnow

__all__ = ["chunks", "recompute_rollups", "rollup_values"]

#: rows per IN (...) list: well below SQLite's and PostgreSQL's bound-parameter limits
CHUNK = 2000


def chunks(items: Sequence[str], size: int = CHUNK) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _name(rows: Sequence[Mapping[Any, Any]]) -> str | None:
    # The most recently active identity's own name is the best guess of what the person is
    # called now; handles, then addresses, are fallbacks.
    def recency(row: Mapping[Any, Any]) -> tuple[int, datetime | None, str]:
        seen: datetime | None = row["last_seen"]
        return (seen is not None, seen, row["id"])

    ordered = sorted(rows, key=lambda r: recency(r), reverse=True)
    for field in ("display_name", "handle", "email", "phone"):
        for row in ordered:
            if row[field]:
                return str(row[field])
    for row in ordered:
        if row["kind"] in {"email", "phone"}:
            return str(row["native_id"])
    return None


def rollup_values(rows: Sequence[Mapping[Any, Any]]) -> dict[str, Any]:
    """The contact columns derived from its identity rows."""
    channel_counts: Counter[str] = Counter()
    languages: Counter[str] = Counter()
    firsts = [r["first_seen"] for r in rows if r["first_seen"] is not None]
    lasts = [r["last_seen"] for r in rows if r["last_seen"] is not None]
    search: list[str] = []
    for row in rows:
        if row["message_count"]:
            channel_counts[row["channel"]] += row["message_count"]
        languages.update(row["languages"] or {})
        for field in ("display_name", "handle", "email", "phone"):
            if row[field]:
                search.append(str(row[field]).lower())
        if row["kind"] != "account":
            search.append(str(row["native_id"]).lower())
    sentiment_sum = sum(r["sentiment_sum"] for r in rows)
    sentiment_n = sum(r["sentiment_n"] for r in rows)
    return {
        "display_name": _name(rows),
        "first_seen": min(firsts) if firsts else None,
        "last_seen": max(lasts) if lasts else None,
        "message_count": sum(channel_counts.values()),
        "channel_counts": dict(sorted(channel_counts.items())),
        "languages": [lang for lang, _ in sorted(languages.items(), key=lambda kv: (-kv[1], kv[0]))],
        "sentiment_sum": sentiment_sum,
        "sentiment_n": sentiment_n,
        "sentiment_avg": sentiment_sum / sentiment_n if sentiment_n else None,
        "search_text": "\n".join(dict.fromkeys(search)),
    }


def recompute_rollups(conn: Connection, contact_ids: Iterable[str]) -> None:
    """Rewrite the rollup columns of ``contact_ids`` from their identities."""
    ids = sorted(set(contact_ids))
    if not ids:
        return
    by_contact: dict[str, list[Mapping[Any, Any]]] = {cid: [] for cid in ids}
    for part in chunks(ids):
        for row in conn.execute(select(identities).where(identities.c.contact_id.in_(part))).mappings():
            by_contact[row["contact_id"]].append(row)
    now = utcnow()
    rows = [{"id": cid, **rollup_values(found), "updated_at": now} for cid, found in by_contact.items()]
    bulk_update(conn, contacts, "id", rows)
