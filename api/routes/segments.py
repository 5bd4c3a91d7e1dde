"""The /segments resource: static and dynamic segments of contacts, CSV import and export.

A dynamic segment's members are evaluated on demand from its criteria (``crm.criteria``);
``POST /segments/{id}/refresh`` also stores them and their count.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from api.deps import MAX_CRM_OFFSET, CRMDep
from api.fields import MAX_TEXT_CHARS, Id, RequestBody
from api.routes.contacts import ContactPage
from crm import CRMStore, SegmentView

__all__ = ["router"]

router = APIRouter(tags=["segments"])


class SegmentCreate(RequestBody):
    name: str = Field(min_length=1, max_length=256)
    kind: Literal["static", "dynamic"]
    criteria: str | None = Field(
        default=None,
        max_length=MAX_TEXT_CHARS,
        description="dynamic only, e.g. channel:twitter AND sentiment_avg < -0.3 AND last_seen > now-30d",
    )
    description: str | None = Field(default=None, max_length=MAX_TEXT_CHARS)


class SegmentUpdate(RequestBody):
    name: str | None = Field(default=None, min_length=1, max_length=256)
    criteria: str | None = Field(default=None, max_length=MAX_TEXT_CHARS)
    description: str | None = Field(default=None, max_length=MAX_TEXT_CHARS)


class Members(RequestBody):
    contact_ids: list[Id] = Field(min_length=1, max_length=10_000)


class MembersChanged(BaseModel):
    changed: int
    segment: SegmentView


class ImportResult(BaseModel):
    added: int
    already: int
    unmatched: list[dict[str, Any]]
    segment: SegmentView


def _require(crm: CRMDep, segment_id: str) -> SegmentView:
    segment = crm.segments.get(segment_id)
    if segment is None:
        raise HTTPException(status_code=404, detail=f"no segment {segment_id}")
    return segment


@router.get("/segments")
def list_segments(crm: CRMDep) -> list[SegmentView]:
    return crm.segments.list_all()


@router.post("/segments", status_code=201)
def create_segment(body: SegmentCreate, crm: CRMDep) -> SegmentView:
    """A static segment (add members or import a CSV) or a dynamic one (criteria)."""
    return crm.segments.create(body.name, body.kind, criteria=body.criteria, description=body.description)


@router.get("/segments/{segment_id}")
def get_segment(segment_id: str, crm: CRMDep) -> SegmentView:
    return _require(crm, segment_id)


@router.patch("/segments/{segment_id}")
def update_segment(segment_id: str, body: SegmentUpdate, crm: CRMDep) -> SegmentView:
    return crm.segments.update(
        segment_id, name=body.name, criteria=body.criteria, description=body.description
    )


@router.delete("/segments/{segment_id}", status_code=204)
def delete_segment(segment_id: str, crm: CRMDep) -> Response:
    crm.segments.delete(segment_id)
    return Response(status_code=204)


@router.post("/segments/{segment_id}/refresh")
def refresh_segment(segment_id: str, crm: CRMDep) -> SegmentView:
    """Re-evaluate a dynamic segment now and store its members and count."""
    return crm.segments.refresh(segment_id)


@router.get("/segments/{segment_id}/contacts")
def segment_contacts(
    segment_id: str,
    crm: CRMDep,
    limit: int = Query(default=25, ge=1, le=200),
    offset: int = Query(default=0, ge=0, le=MAX_CRM_OFFSET),
) -> ContactPage:
    """The segment's members as they are now, most recently active first."""
    total, ids = crm.segments.member_ids(segment_id, limit=limit, offset=offset)
    found = crm.get_contacts(ids)
    return ContactPage(total=total, items=[found[i] for i in ids if i in found])


@router.post("/segments/{segment_id}/members")
def add_members(segment_id: str, body: Members, crm: CRMDep) -> MembersChanged:
    """Add contacts to a static segment."""
    changed = crm.segments.add_members(segment_id, body.contact_ids)
    return MembersChanged(changed=changed, segment=_require(crm, segment_id))


@router.post("/segments/{segment_id}/members/remove")
def remove_members(segment_id: str, body: Members, crm: CRMDep) -> MembersChanged:
    """Remove contacts from a static segment."""
    changed = crm.segments.remove_members(segment_id, body.contact_ids)
    return MembersChanged(changed=changed, segment=_require(crm, segment_id))


#: the import route; its body cap is ``api.max_import_bytes`` (see :mod:`api.limits`)
IMPORT_ROUTE = "/segments/{segment_id}/import"


@router.post(
    IMPORT_ROUTE,
    openapi_extra={"requestBody": {"content": {"text/csv": {"schema": {"type": "string"}}}}},
)
async def import_members(segment_id: str, request: Request, crm: CRMDep) -> ImportResult:
    """Add the contacts a CSV body names (header with contact_id, or email / phone / handle
    [+ channel]) to a static segment; rows matching nobody come back with a reason.

    A body over ``api.max_import_bytes`` (20 MiB by default) is refused with 413 before it is
    read (Content-Length) or as soon as the streamed body passes the cap (chunked uploads); the
    database work runs in the threadpool so a 20 MB import never stalls the event loop."""
    body = await request.body()
    return await run_in_threadpool(_import_csv, crm, segment_id, body)


def _import_csv(crm: CRMStore, segment_id: str, body: bytes) -> ImportResult:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise HTTPException(status_code=400, detail=f"CSV is not UTF-8: {exc}") from exc
    report = crm.segments.import_csv(segment_id, text)
    return ImportResult(
        added=report.added,
        already=report.already,
        unmatched=report.unmatched,
        segment=_require(crm, segment_id),
    )


def _csv_lines(rows: Iterator[list[str]]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for row in rows:
        writer.writerow(row)
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()


@router.get("/segments/{segment_id}/export.csv", response_class=StreamingResponse)
def export_members(segment_id: str, crm: CRMDep) -> StreamingResponse:
    """All members as CSV, one row per contact with their profile rollups."""
    segment = _require(crm, segment_id)
    filename = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in segment.name) or segment.id
    return StreamingResponse(
        _csv_lines(crm.segments.export_rows(segment_id)),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}.csv"'},
    )
