"""CSV import and export of static segments: what a file's records mean and what an export
writes; the transactions are :class:`crm.segments.SegmentStore`'s.

An import is read twice: first every record is checked (:func:`check_import`), so a file
the csv module cannot read is refused whole, with the first problems and their lines, before
anything is written; then the records are matched to contacts and added a batch at a time
(:func:`import_batches`), so a 20 MB file never holds the store's write lock for long. The
report keeps counts and the first :data:`IMPORT_MAX_PROBLEMS` unmatched rows, never every row.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from itertools import chain, islice
from typing import Any

from sqlalchemy import Connection, func, select

from crm.csvfile import read_records, restore_cell
from crm.errors import InvalidCSV, InvalidRequest
from crm.normalise import Resolver
from crm.rollups import chunks
from crm.schema import contacts, identities
from crm.views import contact_view
from hub.models import identity_id

__all__ = [
    "EXPORT_COLUMNS",
    "IMPORT_BATCH_ROWS",
    "IMPORT_MAX_PROBLEMS",
    "MATCH_COLUMNS",
    "ImportReport",
    "check_import",
    "export_row",
    "import_batches",
    "live_id",
    "match_rows",
]

#: records matched and added per write transaction
IMPORT_BATCH_ROWS = 500
#: unreadable records (refusing the file) or unmatched rows (in the report) listed at most
IMPORT_MAX_PROBLEMS = 20
#: the columns an import reads; the others are ignored
MATCH_COLUMNS = ("contact_id", "email", "phone", "handle", "channel")
#: characters of a cell an unmatched row echoes back
ECHOED_CELL_CHARS = 256
#: how deep a chain of merges an imported contact id is followed
MAX_MERGE_HOPS = 20

EXPORT_COLUMNS = [
    "contact_id",
    "display_name",
    "emails",
    "phones",
    "handles",
    "channels",
    "first_seen",
    "last_seen",
    "message_count",
    "sentiment_avg",
    "tags",
]


@dataclass
class ImportReport:
    """What a CSV import did: members added, rows already members, rows matching no contact
    (``unmatched_count``, of which the first :data:`IMPORT_MAX_PROBLEMS` in ``unmatched``)."""

    added: int = 0
    already: int = 0
    unmatched_count: int = 0
    unmatched: list[dict[str, Any]] = field(default_factory=list)

    def unmatched_row(self, line: int, row: dict[str, str], reason: str) -> None:
        self.unmatched_count += 1
        if len(self.unmatched) < IMPORT_MAX_PROBLEMS:
            echoed = {column: value[:ECHOED_CELL_CHARS] for column, value in row.items() if value}
            self.unmatched.append({"line": line, "row": echoed, "reason": reason})


def _header(cells: Sequence[str]) -> list[str]:
    return [restore_cell(cell).strip().lower() for cell in cells]


def check_import(text: str) -> None:
    """Raise ``InvalidRequest`` unless ``text`` has a header naming a column to match on, and
    :class:`~crm.errors.InvalidCSV` (with the first problems) unless every record reads."""
    records = read_records(text)
    first = next(records, None)
    if first is None:
        raise InvalidRequest("the CSV is empty; it needs a header with contact_id, email, phone or handle")
    if first.error is None and not set(_header(first.cells)) & {"contact_id", "email", "phone", "handle"}:
        raise InvalidRequest("the CSV needs a header with contact_id, email, phone or handle")
    problems: list[tuple[int, str]] = []
    count = 0
    for record in chain([first], records):
        if record.error is not None:
            count += 1
            if len(problems) < IMPORT_MAX_PROBLEMS:
                problems.append((record.line, record.error))
    if count:
        raise InvalidCSV(problems, count)


def import_batches(text: str, size: int = IMPORT_BATCH_ROWS) -> Iterator[list[tuple[int, dict[str, str]]]]:
    """The data records of a checked ``text`` as (line, {column: value}), ``size`` at a time;
    only :data:`MATCH_COLUMNS` are kept, and a cell an export quoted is read as it was."""
    records = read_records(text)
    header = _header(next(records).cells)
    wanted = [(i, name) for i, name in enumerate(header) if name in MATCH_COLUMNS]
    rows = (
        (
            record.line,
            {name: restore_cell(record.cells[i]) if i < len(record.cells) else "" for i, name in wanted},
        )
        for record in records
    )
    while batch := list(islice(rows, size)):
        yield batch


def live_id(conn: Connection, contact_id: str) -> str | None:
    """The live contact ``contact_id`` is or was merged into; None when there is none."""
    current: str | None = contact_id
    for _ in range(MAX_MERGE_HOPS):
        row = conn.execute(select(contacts.c.merged_into).where(contacts.c.id == current)).first()
        if row is None:
            return None
        if row.merged_into is None:
            return current
        current = row.merged_into
    return None


def _email_and_phone_ids(resolver: Resolver, row: dict[str, str]) -> list[str]:
    candidates: list[str] = []
    if row.get("email"):
        candidates.append(identity_id("email", resolver.email(row["email"]).value))
    if row.get("phone"):
        candidates.append(identity_id("phone", resolver.phone(row["phone"]).value))
    return candidates


def _live_contacts(conn: Connection, contact_ids: set[str]) -> dict[str, str]:
    """contact id -> the live contact it is (or was merged into), for those that exist."""
    found: dict[str, str] = {}
    for part in chunks(sorted(contact_ids)):
        query = select(contacts.c.id, contacts.c.merged_into).where(contacts.c.id.in_(part))
        for contact_id, merged_into in conn.execute(query):
            live = contact_id if merged_into is None else live_id(conn, merged_into)
            if live is not None:
                found[contact_id] = live
    return found


def _identity_contacts(conn: Connection, ids: set[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for part in chunks(sorted(ids)):
        query = select(identities.c.id, identities.c.contact_id).where(identities.c.id.in_(part))
        found.update((ident, contact) for ident, contact in conn.execute(query))
    return found


def _handle_contacts(conn: Connection, handles: set[str]) -> dict[str, list[tuple[str, str]]]:
    """lower-cased handle -> (channel, contact id) of every identity with that handle."""
    found: dict[str, list[tuple[str, str]]] = {}
    handle = func.lower(identities.c.handle)
    for part in chunks(sorted(handles)):
        query = select(handle, identities.c.channel, identities.c.contact_id).where(handle.in_(part))
        for name, channel, contact in conn.execute(query):
            found.setdefault(name, []).append((channel, contact))
    return found


def match_rows(
    conn: Connection, resolver: Resolver, rows: Sequence[dict[str, str]]
) -> list[tuple[str | None, str]]:
    """The live contact each row names, or None and why not: by contact_id; else by email,
    then phone; else by handle (within ``channel`` when given, and only when one contact has
    it). A few queries for all ``rows``, not a few per row: an import matches 500 at a time."""
    keys = [_email_and_phone_ids(resolver, row) if not row.get("contact_id") else [] for row in rows]
    by_contact_id = _live_contacts(conn, {r["contact_id"].strip() for r in rows if r.get("contact_id")})
    by_identity = _identity_contacts(conn, {key for row_keys in keys for key in row_keys})
    wanted_handles = {
        r["handle"].strip().lstrip("@").lower()
        for r, row_keys in zip(rows, keys, strict=True)
        if r.get("handle") and not r.get("contact_id") and not any(k in by_identity for k in row_keys)
    }
    by_handle = _handle_contacts(conn, wanted_handles) if wanted_handles else {}
    results: list[tuple[str | None, str]] = []
    for row, row_keys in zip(rows, keys, strict=True):
        if row.get("contact_id"):
            results.append((by_contact_id.get(row["contact_id"].strip()), "no contact with this contact_id"))
            continue
        found = next((by_identity[key] for key in row_keys if key in by_identity), None)
        if found is None and row.get("handle"):
            channel = row.get("channel", "").strip().lower()
            owners = {
                contact
                for owner_channel, contact in by_handle.get(row["handle"].strip().lstrip("@").lower(), [])
                if not channel or owner_channel == channel
            }
            if len(owners) > 1:
                results.append((None, "handle matches several contacts; add a channel column"))
                continue
            found = owners.pop() if owners else None
        if found is not None:
            results.append((found, ""))
        elif not (row.get("email") or row.get("phone") or row.get("handle")):
            results.append((None, "row has none of contact_id, email, phone, handle"))
        else:
            results.append((None, "no contact with this email, phone or handle"))
    return results


def export_row(row: Any, identity_rows: Sequence[Any]) -> list[str]:
    """The export cells (:data:`EXPORT_COLUMNS`) of a contact row and its identity rows."""
    view = contact_view(row, identity_rows)
    handles = [f"{channel}:{h}" for channel, hs in view.handles.items() for h in hs]
    return [
        view.id,
        view.display_name or "",
        ";".join(view.emails),
        ";".join(view.phones),
        ";".join(handles),
        ";".join(sorted(view.message_counts)),
        view.first_seen.isoformat() if view.first_seen else "",
        view.last_seen.isoformat() if view.last_seen else "",
        str(view.message_count),
        "" if view.sentiment_avg is None else str(view.sentiment_avg),
        ";".join(view.tags),
    ]
