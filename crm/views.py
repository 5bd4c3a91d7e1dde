"""What the CRM store returns: frozen pydantic views of contacts, identities, merge events and
segments, built from rows. The API serialises these as they are."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ContactView",
    "IdentityView",
    "MergeEventView",
    "RawHandle",
    "SegmentView",
    "contact_view",
    "event_view",
    "identity_view",
    "segment_view",
]


class IdentityView(BaseModel):
    """One identity of a contact with its own activity figures."""

    model_config = ConfigDict(frozen=True)

    id: str
    channel: str
    native_id: str
    kind: Literal["account", "email", "phone"]
    handle: str | None = None
    display_name: str | None = None
    email: str | None = None
    email_note: str | None = None
    phone: str | None = None
    phone_note: str | None = None
    message_count: int = 0
    first_seen: datetime | None = None
    last_seen: datetime | None = None


class RawHandle(BaseModel):
    """An email or phone seen on an identity but not merged on, and why."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["email", "phone"]
    value: str
    reason: str
    identity_id: str


class ContactView(BaseModel):
    """One person across channels, with the profile rollups the ingest flow keeps current.

    ``merged_into`` is set on a contact absorbed by a merge (a tombstone: no identities).
    """

    model_config = ConfigDict(frozen=True)

    id: str
    display_name: str | None = None
    identities: list[IdentityView] = Field(default_factory=list)
    emails: list[str] = Field(default_factory=list)
    phones: list[str] = Field(default_factory=list)
    handles: dict[str, list[str]] = Field(default_factory=dict)
    raw_handles: list[RawHandle] = Field(default_factory=list)
    languages: list[str] = Field(default_factory=list)
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    message_count: int = 0
    message_counts: dict[str, int] = Field(default_factory=dict)
    sentiment_avg: float | None = None
    tags: list[str] = Field(default_factory=list)
    attributes: dict[str, Any] = Field(default_factory=dict)
    merged_into: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


class MergeEventView(BaseModel):
    """One entry of a contact's audit trail."""

    model_config = ConfigDict(frozen=True)

    id: str
    action: Literal["merge", "unmerge", "split"]
    mode: Literal["auto", "manual"]
    survivor_id: str
    absorbed_id: str
    reason: str
    actor: str | None = None
    identity_ids: list[str] = Field(default_factory=list)
    created_at: datetime
    undone_at: datetime | None = None
    undone_by: str | None = None


class SegmentView(BaseModel):
    """A static (explicit members) or dynamic (criteria expression) segment of contacts."""

    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    kind: Literal["static", "dynamic"]
    criteria: str | None = None
    description: str | None = None
    member_count: int = 0
    created_at: datetime
    updated_at: datetime
    refreshed_at: datetime | None = None


def identity_view(row: Mapping[Any, Any]) -> IdentityView:
    return IdentityView(**{name: row[name] for name in IdentityView.model_fields})


def contact_view(row: Mapping[Any, Any], identity_rows: Sequence[Mapping[Any, Any]]) -> ContactView:
    """Assemble a contact from its row and its identity rows."""
    idents = sorted((identity_view(r) for r in identity_rows), key=lambda i: (i.kind, i.channel, i.native_id))
    emails: list[str] = []
    phones: list[str] = []
    handles: dict[str, list[str]] = {}
    raw: list[RawHandle] = []

    def add(values: list[str], value: str | None) -> None:
        if value and value not in values:
            values.append(value)

    for ident in idents:
        if ident.kind == "email":
            add(emails, ident.native_id)
        elif ident.kind == "phone":
            add(phones, ident.native_id)
        elif ident.handle:
            add(handles.setdefault(ident.channel, []), ident.handle)
        if ident.email and ident.email_note:
            raw.append(
                RawHandle(kind="email", value=ident.email, reason=ident.email_note, identity_id=ident.id)
            )
        elif ident.email:
            add(emails, ident.email)
        if ident.phone and ident.phone_note:
            raw.append(
                RawHandle(kind="phone", value=ident.phone, reason=ident.phone_note, identity_id=ident.id)
            )
        elif ident.phone:
            add(phones, ident.phone)
    n = row["sentiment_n"]
    return ContactView(
        id=row["id"],
        display_name=row["name_override"] or row["display_name"],
        identities=idents,
        emails=emails,
        phones=phones,
        handles=handles,
        raw_handles=raw,
        languages=list(row["languages"] or []),
        first_seen=row["first_seen"],
        last_seen=row["last_seen"],
        message_count=row["message_count"],
        message_counts=dict(row["channel_counts"] or {}),
        sentiment_avg=round(row["sentiment_sum"] / n, 4) if n else None,
        tags=list(row["tags"] or []),
        attributes=dict(row["attributes"] or {}),
        merged_into=row["merged_into"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def event_view(row: Mapping[Any, Any]) -> MergeEventView:
    return MergeEventView(**{name: row[name] for name in MergeEventView.model_fields})


def segment_view(row: Mapping[Any, Any]) -> SegmentView:
    return SegmentView(**{name: row[name] for name in SegmentView.model_fields})
