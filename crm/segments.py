"""Segments of contacts: static (explicit members, CSV import/export) and dynamic (a criteria
expression, see ``crm.criteria``).

A dynamic segment is evaluated on demand against the contacts as they are now; ``refresh``
also stores the result as its membership (so ``segment:<name>`` in other criteria and the
member count reflect the last refresh). Members are always live contacts: a merge moves a
static membership to the surviving contact and an unmerge moves it back.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, delete, func, insert, select, update
from sqlalchemy.sql.elements import ColumnElement

from crm.criteria import compile_criteria
from crm.engine import write
from crm.errors import Conflict, InvalidRequest, NotFound
from crm.ids import record_id
from crm.normalise import Resolver
from crm.rollups import chunks
from crm.schema import contacts, identities, segment_members, segments
from crm.views import SegmentView, contact_view, segment_view
from hub.models import identity_id, utcnow

__all__ = ["ImportReport", "SegmentStore"]

#: how deep a chain of merges an imported contact id is followed
MAX_MERGE_HOPS = 20


@dataclass
class ImportReport:
    """What a CSV import did: members added, rows already members, rows matching no contact."""

    added: int = 0
    already: int = 0
    unmatched: list[dict[str, Any]] = field(default_factory=list)


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
            resolved = [self._live_id(conn, c) for c in contact_ids]
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

    def _live_id(self, conn: Connection, contact_id: str) -> str | None:
        current: str | None = contact_id
        for _ in range(MAX_MERGE_HOPS):
            row = conn.execute(select(contacts.c.merged_into).where(contacts.c.id == current)).first()
            if row is None:
                return None
            if row.merged_into is None:
                return current
            current = row.merged_into
        return None

    def _match_row(self, conn: Connection, row: dict[str, str]) -> tuple[str | None, str]:
        if row.get("contact_id"):
            found = self._live_id(conn, row["contact_id"].strip())
            return found, "no contact with this contact_id"
        candidates: list[str] = []
        if row.get("email"):
            email = self._resolver.email(row["email"])
            candidates.append(identity_id("email", email.value))
        if row.get("phone"):
            phone = self._resolver.phone(row["phone"])
            candidates.append(identity_id("phone", phone.value))
        for ident in candidates:
            found = conn.execute(select(identities.c.contact_id).where(identities.c.id == ident)).scalar()
            if found:
                return found, ""
        if row.get("handle"):
            query = select(identities.c.contact_id).where(
                func.lower(identities.c.handle) == row["handle"].strip().lstrip("@").lower()
            )
            if row.get("channel"):
                query = query.where(identities.c.channel == row["channel"].strip().lower())
            found_ids = set(conn.execute(query).scalars())
            if len(found_ids) == 1:
                return found_ids.pop(), ""
            if len(found_ids) > 1:
                return None, "handle matches several contacts; add a channel column"
        if not (row.get("email") or row.get("phone") or row.get("handle")):
            return None, "row has none of contact_id, email, phone, handle"
        return None, "no contact with this email, phone or handle"

    def import_csv(self, segment_id: str, text: str) -> ImportReport:
        """Add the contacts a CSV names (columns: contact_id, or email / phone / handle
        [+ channel]) to a static segment; unmatched rows are reported with a reason."""
        self._static(segment_id)
        reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
        columns = {c.strip().lower() for c in reader.fieldnames or []}
        if not columns & {"contact_id", "email", "phone", "handle"}:
            raise InvalidRequest("the CSV needs a header with contact_id, email, phone or handle")
        rows = [{(k or "").strip().lower(): (v or "") for k, v in row.items()} for row in reader]

        def work(conn: Connection) -> ImportReport:
            report = ImportReport()
            matched: list[str] = []
            for line, row in enumerate(rows, start=2):
                found, reason = self._match_row(conn, row)
                if found is None:
                    report.unmatched.append({"line": line, "row": row, "reason": reason})
                else:
                    matched.append(found)
            report.added, report.already = self._add(conn, segment_id, matched) if matched else (0, 0)
            report.already += len(matched) - len(set(matched))
            return report

        return write(self._writer, work)

    def export_rows(self, segment_id: str, *, page_size: int = 1000) -> Iterator[list[str]]:
        """The CSV rows (header first) of the segment's members, read a page at a time."""
        yield [
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
            view = contact_view(rows[cid], idents[cid])
            handles = [f"{channel}:{h}" for channel, hs in view.handles.items() for h in hs]
            yield [
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

    def export_csv(self, segment_id: str) -> str:
        out = io.StringIO()
        writer = csv.writer(out)
        for row in self.export_rows(segment_id):
            writer.writerow(row)
        return out.getvalue()
