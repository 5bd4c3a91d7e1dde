"""Segments of contacts: static (explicit members, CSV import/export) and dynamic (a criteria
expression, see ``crm.criteria``).

A dynamic segment is evaluated on demand against the contacts as they are now; ``refresh``
also stores the result as its membership (so ``segment:<name>`` in other criteria and the
member count reflect the last refresh). Members are always live contacts: a merge moves a
static membership to the surviving contact and an unmerge moves it back.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import Connection, Engine, delete, func, insert, select, update
from sqlalchemy.sql.elements import ColumnElement

from crm.criteria import compile_criteria
from crm.csvfile import write_csv
from crm.engine import write
from crm.errors import Conflict, InvalidRequest, NotFound
from crm.ids import record_id
from crm.normalise import Resolver
from crm.rollups import chunks
from crm.schema import contacts, identities, segment_members, segments
from crm.segment_csv import (
    EXPORT_COLUMNS,
    IMPORT_BATCH_ROWS,
    ImportReport,
    check_import,
    export_row,
    import_batches,
    live_id,
    match_rows,
)
from crm.views import SegmentView, segment_view
from hub.models import utcnow

__all__ = ["ImportReport", "SegmentStore"]


class SegmentStore:
    """Creates, evaluates, refreshes, imports and exports segments."""

    def __init__(self, engine: Engine, writer: Engine, resolver: Resolver) -> None:
        self._engine = engine
        self._writer = writer
        self._resolver = resolver

    # --- definitions ---------------------------------------------------------------------

    def _check(self, kind: str, criteria: str | None) -> None:
        if kind not in {"static", "dynamic"}:
            raise InvalidRequest(f"segment kind must be static or dynamic, not {kind!r}")
        if kind == "dynamic":
            compile_criteria(criteria or "", resolver=self._resolver)
        elif criteria:
            raise InvalidRequest("a static segment has members, not criteria")

    def create(
        self, name: str, kind: str, *, criteria: str | None = None, description: str | None = None
    ) -> SegmentView:
        name = name.strip()
        if not name:
            raise InvalidRequest("a segment needs a name")
        self._check(kind, criteria)
        segment_id = record_id("seg", name, utcnow().isoformat())

        def work(conn: Connection) -> None:
            if conn.execute(select(segments.c.id).where(segments.c.name == name)).first():
                raise Conflict(f"a segment named {name!r} exists")
            now = utcnow()
            conn.execute(
                insert(segments).values(
                    id=segment_id,
                    name=name,
                    kind=kind,
                    criteria=criteria,
                    description=description,
                    member_count=0,
                    created_at=now,
                    updated_at=now,
                )
            )

        write(self._writer, work)
        return self._require(segment_id)

    def get(self, segment_id: str) -> SegmentView | None:
        with self._engine.connect() as conn:
            row = conn.execute(select(segments).where(segments.c.id == segment_id)).mappings().first()
        return segment_view(row) if row is not None else None

    def _require(self, segment_id: str) -> SegmentView:
        segment = self.get(segment_id)
        if segment is None:
            raise NotFound(f"segment {segment_id} does not exist")
        return segment

    def list_all(self) -> list[SegmentView]:
        with self._engine.connect() as conn:
            rows = conn.execute(select(segments).order_by(segments.c.name)).mappings().all()
        return [segment_view(row) for row in rows]

    def update(
        self,
        segment_id: str,
        *,
        name: str | None = None,
        criteria: str | None = None,
        description: str | None = None,
    ) -> SegmentView:
        segment = self._require(segment_id)
        if criteria is not None:
            self._check(segment.kind, criteria)
        values: dict[str, Any] = {"updated_at": utcnow()}
        if name is not None and name.strip():
            values["name"] = name.strip()
        if criteria is not None:
            values["criteria"] = criteria
        if description is not None:
            values["description"] = description

        def work(conn: Connection) -> None:
            if "name" in values:
                clash = select(segments.c.id).where(
                    segments.c.name == values["name"], segments.c.id != segment_id
                )
                if conn.execute(clash).first():
                    raise Conflict(f"a segment named {values['name']!r} exists")
            conn.execute(update(segments).where(segments.c.id == segment_id).values(values))

        write(self._writer, work)
        return self._require(segment_id)

    def delete(self, segment_id: str) -> None:
        self._require(segment_id)

        def work(conn: Connection) -> None:
            conn.execute(delete(segment_members).where(segment_members.c.segment_id == segment_id))
            conn.execute(delete(segments).where(segments.c.id == segment_id))

        write(self._writer, work)

    # --- membership ----------------------------------------------------------------------

    def _condition(self, segment: SegmentView, now: datetime | None = None) -> ColumnElement[bool]:
        live = contacts.c.merged_into.is_(None)
        if segment.kind == "dynamic":
            return live & compile_criteria(segment.criteria or "", now=now, resolver=self._resolver)
        member = select(segment_members.c.contact_id).where(segment_members.c.segment_id == segment.id)
        return live & contacts.c.id.in_(member)

    def member_ids(
        self, segment_id: str, *, limit: int = 50, offset: int = 0, now: datetime | None = None
    ) -> tuple[int, list[str]]:
        """The segment's members now (dynamic ones evaluated on demand), most recently active
        first; returns (total, page of contact ids)."""
        condition = self._condition(self._require(segment_id), now)
        with self._engine.connect() as conn:
            total = conn.execute(select(func.count()).select_from(contacts).where(condition)).scalar_one()
            query = (
                select(contacts.c.id)
                .where(condition)
                .order_by(contacts.c.last_seen.desc().nulls_last(), contacts.c.id)
                .limit(limit)
                .offset(offset)
            )
            return total, list(conn.execute(query).scalars())

    def refresh(self, segment_id: str, *, now: datetime | None = None) -> SegmentView:
        """Re-evaluate a dynamic segment and store its membership; recount a static one."""
        segment = self._require(segment_id)
        condition = self._condition(segment, now)

        def work(conn: Connection) -> None:
            stamp = utcnow()
            if segment.kind == "dynamic":
                members = list(conn.execute(select(contacts.c.id).where(condition)).scalars())
                conn.execute(delete(segment_members).where(segment_members.c.segment_id == segment_id))
                if members:
                    rows = [{"segment_id": segment_id, "contact_id": c, "added_at": stamp} for c in members]
                    conn.execute(insert(segment_members), rows)
                count = len(members)
            else:
                count = conn.execute(select(func.count()).select_from(contacts).where(condition)).scalar_one()
            conn.execute(
                update(segments)
                .where(segments.c.id == segment_id)
                .values(member_count=count, refreshed_at=stamp, updated_at=stamp)
            )

        write(self._writer, work)
        return self._require(segment_id)

    def _static(self, segment_id: str) -> SegmentView:
        segment = self._require(segment_id)
        if segment.kind != "static":
            raise InvalidRequest("members of a dynamic segment come from its criteria; refresh it instead")
        return segment

    def _add(self, conn: Connection, segment_id: str, contact_ids: Sequence[str]) -> tuple[int, int]:
        wanted = list(dict.fromkeys(contact_ids))
        present: set[str] = set()
        for part in chunks(wanted):
            query = select(segment_members.c.contact_id).where(
                segment_members.c.segment_id == segment_id, segment_members.c.contact_id.in_(part)
            )
            present.update(conn.execute(query).scalars())
        new = [c for c in wanted if c not in present]
        if new:
            stamp = utcnow()
            conn.execute(
                insert(segment_members),
                [{"segment_id": segment_id, "contact_id": c, "added_at": stamp} for c in new],
            )
        self._recount(conn, segment_id)
        return len(new), len(present)

    def _recount(self, conn: Connection, segment_id: str) -> None:
        count = (
            select(func.count())
            .select_from(segment_members)
            .where(segment_members.c.segment_id == segment_id)
        )
        conn.execute(
            update(segments)
            .where(segments.c.id == segment_id)
            .values(member_count=conn.execute(count).scalar_one(), updated_at=utcnow())
        )

    def add_members(self, segment_id: str, contact_ids: Sequence[str]) -> int:
        """Add live contacts (merged ids resolve to their survivor); returns how many were new."""
        self._static(segment_id)

        def work(conn: Connection) -> int:
            resolved = [live_id(conn, c) for c in contact_ids]
            missing = [c for c, r in zip(contact_ids, resolved, strict=True) if r is None]
            if missing:
                raise NotFound(f"contacts {missing} do not exist")
            return self._add(conn, segment_id, [r for r in resolved if r is not None])[0]

        return write(self._writer, work)

    def remove_members(self, segment_id: str, contact_ids: Sequence[str]) -> int:
        self._static(segment_id)

        def work(conn: Connection) -> int:
            removed = 0
            for part in chunks(list(dict.fromkeys(contact_ids))):
                result = conn.execute(
                    delete(segment_members).where(
                        segment_members.c.segment_id == segment_id, segment_members.c.contact_id.in_(part)
                    )
                )
                removed += result.rowcount
            self._recount(conn, segment_id)
            return removed

        return write(self._writer, work)

    # --- CSV -----------------------------------------------------------------------------

    def import_csv(self, segment_id: str, text: str, *, batch_rows: int = IMPORT_BATCH_ROWS) -> ImportReport:
        """Add the contacts a CSV names (columns: contact_id, or email / phone / handle
        [+ channel]) to a static segment; unmatched rows are counted, the first few reported.

        A file with unreadable records is refused whole (:class:`~crm.errors.InvalidCSV`)
        before anything is written. Rows are then added ``batch_rows`` per transaction: a
        large file never holds the write lock for long, and a failure part way leaves the
        batches before it added (importing the file again completes it; rows already in
        count as ``already``)."""
        self._static(segment_id)
        check_import(text)
        report = ImportReport()
        for batch in import_batches(text, batch_rows):
            # Counted from what the transaction returns: a retried one must not count twice.
            added, already, unmatched = write(self._writer, partial(self._import_batch, segment_id, batch))
            report.added += added
            report.already += already
            for line, row, reason in unmatched:
                report.unmatched_row(line, row, reason)
        return report

    def _import_batch(
        self, segment_id: str, batch: list[tuple[int, dict[str, str]]], conn: Connection
    ) -> tuple[int, int, list[tuple[int, dict[str, str], str]]]:
        """Add the contacts of ``batch`` that match; (added, already members, unmatched)."""
        kind = conn.execute(select(segments.c.kind).where(segments.c.id == segment_id)).scalar()
        if kind != "static":  # deleted by someone else since the last batch
            raise NotFound(f"segment {segment_id} does not exist")
        matched: list[str] = []
        unmatched: list[tuple[int, dict[str, str], str]] = []
        found_by_row = match_rows(conn, self._resolver, [row for _, row in batch])
        for (line, row), (found, reason) in zip(batch, found_by_row, strict=True):
            if found is None:
                unmatched.append((line, row, reason))
            else:
                matched.append(found)
        added, already = self._add(conn, segment_id, matched) if matched else (0, 0)
        return added, already + len(matched) - len(set(matched)), unmatched

    def export_rows(self, segment_id: str, *, page_size: int = 1000) -> Iterator[list[str]]:
        """The CSV rows (header first) of the segment's members, read a page at a time."""
        yield list(EXPORT_COLUMNS)
        offset = 0
        while True:
            _, ids = self.member_ids(segment_id, limit=page_size, offset=offset)
            if not ids:
                return
            yield from self._export_page(ids)
            offset += len(ids)

    def _export_page(self, ids: Sequence[str]) -> Iterator[list[str]]:
        with self._engine.connect() as conn:
            rows = {
                r["id"]: r for r in conn.execute(select(contacts).where(contacts.c.id.in_(ids))).mappings()
            }
            idents: dict[str, list[Any]] = {cid: [] for cid in ids}
            for ident in conn.execute(select(identities).where(identities.c.contact_id.in_(ids))).mappings():
                idents[ident["contact_id"]].append(ident)
        for cid in ids:
            yield export_row(rows[cid], idents[cid])

    def export_csv(self, segment_id: str) -> str:
        """The whole export as CSV text (cells a spreadsheet would run are neutralised)."""
        return write_csv(self.export_rows(segment_id))
