"""Merging, unmerging and splitting contacts, each recorded as an auditable event.

A merge moves every identity of the absorbed contact to the survivor and leaves the absorbed
contact as a tombstone (``merged_into``). The event records exactly what it changed (identities
moved, tags, attributes and name the survivor gained, segment memberships moved) so that an
unmerge restores both contacts as they were, plus any identity that joined the survivor later
*through* one of the moved identities. An unmerge also records a merge block so identity
resolution does not join the two again on its own. All functions run inside the caller's
write transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, and_, delete, insert, or_, select, update

from crm.errors import Conflict, InvalidRequest, NotFound
from crm.events import NewEvent, append_events
from crm.ids import new_contact_row, record_id
from crm.rollups import chunks, recompute_rollups
from crm.schema import contacts, identities, merge_blocks, merge_events, segment_members
from hub.models import utcnow

__all__ = ["is_blocked", "merge_contacts", "split_contact", "unmerge_contact"]


def _event_id(*parts: str) -> str:
    return record_id("mev", *parts, utcnow().isoformat())


def _live_contact(conn: Connection, contact_id: str) -> Mapping[Any, Any]:
    row = conn.execute(select(contacts).where(contacts.c.id == contact_id)).mappings().first()
    if row is None:
        raise NotFound(f"contact {contact_id} does not exist")
    if row["merged_into"] is not None:
        raise Conflict(f"contact {contact_id} was merged into {row['merged_into']}")
    return row


def is_blocked(conn: Connection, a: str, b: str) -> bool:
    """Whether a person said ``a`` and ``b`` are different people (an unmerge or split)."""
    first, second = sorted((a, b))
    query = select(merge_blocks.c.contact_a).where(
        merge_blocks.c.contact_a == first, merge_blocks.c.contact_b == second
    )
    return conn.execute(query).first() is not None


def _block(conn: Connection, a: str, b: str, reason: str) -> None:
    if not is_blocked(conn, a, b):
        first, second = sorted((a, b))
        conn.execute(
            insert(merge_blocks).values(contact_a=first, contact_b=second, reason=reason, created_at=utcnow())
        )


def _merge_event(
    conn: Connection,
    type: str,
    contact_id: str,
    other_id: str,
    event_id: str,
    actor: str | None,
    *,
    mode: str,
) -> None:
    """The event-log entry of a merge, unmerge or split, in its transaction (docs/events.md)."""
    data = {"merged": [other_id], "event_id": event_id, "mode": mode}
    if type == "contact.split":
        data = {"split_into": other_id, "event_id": event_id, "mode": mode}
    append_events(conn, [NewEvent(type=type, contact_id=contact_id, actor_id=actor, data=data)])


def merge_contacts(
    conn: Connection,
    survivor_id: str,
    absorbed_id: str,
    *,
    mode: str,
    reason: str,
    actor: str | None = None,
    rollups: bool = True,
) -> str:
    """Merge ``absorbed_id`` into ``survivor_id``; returns the merge event id."""
    if survivor_id == absorbed_id:
        raise InvalidRequest("a contact cannot be merged into itself")
    survivor = _live_contact(conn, survivor_id)
    absorbed = _live_contact(conn, absorbed_id)
    moved = list(
        conn.execute(select(identities.c.id).where(identities.c.contact_id == absorbed_id)).scalars()
    )
    survivor_tags = list(survivor["tags"] or [])
    tags_added = [t for t in absorbed["tags"] or [] if t not in survivor_tags]
    survivor_attrs = dict(survivor["attributes"] or {})
    attrs_added = {k: v for k, v in (absorbed["attributes"] or {}).items() if k not in survivor_attrs}
    name_set = absorbed["name_override"] if not survivor["name_override"] else None
    absorbed_segments = list(
        conn.execute(
            select(segment_members.c.segment_id).where(segment_members.c.contact_id == absorbed_id)
        ).scalars()
    )
    survivor_segments = set(
        conn.execute(
            select(segment_members.c.segment_id).where(segment_members.c.contact_id == survivor_id)
        ).scalars()
    )
    segments_added = [s for s in absorbed_segments if s not in survivor_segments]
    now = utcnow()
    event_id = _event_id("merge", survivor_id, absorbed_id)
    conn.execute(
        insert(merge_events).values(
            id=event_id,
            action="merge",
            mode=mode,
            survivor_id=survivor_id,
            absorbed_id=absorbed_id,
            reason=reason,
            actor=actor,
            identity_ids=moved,
            details={
                "tags_added": tags_added,
                "attributes_added": attrs_added,
                "name_override_set": name_set,
                "segments_removed": absorbed_segments,
                "segments_added": segments_added,
            },
            created_at=now,
        )
    )
    conn.execute(
        update(identities).where(identities.c.contact_id == absorbed_id).values(contact_id=survivor_id)
    )
    conn.execute(
        update(contacts)
        .where(contacts.c.id == survivor_id)
        .values(
            tags=survivor_tags + tags_added,
            attributes={**survivor_attrs, **attrs_added},
            name_override=survivor["name_override"] or name_set,
            updated_at=now,
        )
    )
    conn.execute(
        update(contacts)
        .where(contacts.c.id == absorbed_id)
        .values(merged_into=survivor_id, merged_at=now, updated_at=now)
    )
    conn.execute(delete(segment_members).where(segment_members.c.contact_id == absorbed_id))
    if segments_added:
        conn.execute(
            insert(segment_members),
            [{"segment_id": s, "contact_id": survivor_id, "added_at": now} for s in segments_added],
        )
    if rollups:
        recompute_rollups(conn, [survivor_id, absorbed_id])
    _merge_event(conn, "contact.merged", survivor_id, absorbed_id, event_id, actor, mode=mode)
    return event_id


def _find_merge(conn: Connection, contact_id: str, event_id: str | None) -> Mapping[Any, Any]:
    query = select(merge_events).where(merge_events.c.action == "merge", merge_events.c.undone_at.is_(None))
    if event_id is not None:
        query = query.where(merge_events.c.id == event_id).where(
            or_(merge_events.c.survivor_id == contact_id, merge_events.c.absorbed_id == contact_id)
        )
        row = conn.execute(query).mappings().first()
        if row is None:
            raise NotFound(f"no merge {event_id} of contact {contact_id} to undo")
        return row
    latest = query.order_by(merge_events.c.created_at.desc(), merge_events.c.id.desc())
    row = conn.execute(latest.where(merge_events.c.survivor_id == contact_id)).mappings().first()
    if row is None:
        row = conn.execute(latest.where(merge_events.c.absorbed_id == contact_id)).mappings().first()
    if row is None:
        raise NotFound(f"contact {contact_id} has no merge to undo")
    return row


def _identities_to_move(conn: Connection, event: Mapping[Any, Any]) -> list[str]:
    """The event's identities still on the survivor, plus later arrivals linked through them."""
    rows = conn.execute(
        select(identities.c.id, identities.c.linked_via, identities.c.created_at).where(
            identities.c.contact_id == event["survivor_id"]
        )
    ).all()
    moved = {row.id for row in rows} & set(event["identity_ids"])
    later = [row for row in rows if row.created_at >= event["created_at"] and row.id not in moved]
    grew = True
    while grew:
        grew = False
        for row in later:
            if row.id not in moved and row.linked_via in moved:
                moved.add(row.id)
                grew = True
    return sorted(moved)


def unmerge_contact(
    conn: Connection, contact_id: str, *, event_id: str | None = None, actor: str | None = None
) -> str:
    """Undo a merge of ``contact_id`` (as survivor or absorbed; the latest unless ``event_id``
    names one); returns the unmerge event id."""
    event = _find_merge(conn, contact_id, event_id)
    survivor_id, absorbed_id = event["survivor_id"], event["absorbed_id"]
    survivor = _live_contact(conn, survivor_id)
    absorbed = conn.execute(select(contacts).where(contacts.c.id == absorbed_id)).mappings().one()
    details = event["details"] or {}
    move = _identities_to_move(conn, event)
    now = utcnow()
    undo_id = _event_id("unmerge", survivor_id, absorbed_id)
    for part in chunks(move):
        conn.execute(update(identities).where(identities.c.id.in_(part)).values(contact_id=absorbed_id))
    added_tags = set(details.get("tags_added", []))
    attrs = dict(survivor["attributes"] or {})
    for key, value in details.get("attributes_added", {}).items():
        if attrs.get(key) == value:
            del attrs[key]
    name_set = details.get("name_override_set")
    conn.execute(
        update(contacts)
        .where(contacts.c.id == survivor_id)
        .values(
            tags=[t for t in survivor["tags"] or [] if t not in added_tags],
            attributes=attrs,
            name_override=None
            if name_set and survivor["name_override"] == name_set
            else survivor["name_override"],
            updated_at=now,
        )
    )
    conn.execute(
        update(contacts)
        .where(contacts.c.id == absorbed_id)
        .values(merged_into=None, merged_at=None, updated_at=now)
    )
    added_segments = details.get("segments_added", [])
    if added_segments:
        conn.execute(
            delete(segment_members).where(
                and_(
                    segment_members.c.contact_id == survivor_id,
                    segment_members.c.segment_id.in_(added_segments),
                )
            )
        )
    restored = details.get("segments_removed", [])
    if restored:
        conn.execute(
            insert(segment_members),
            [{"segment_id": s, "contact_id": absorbed_id, "added_at": now} for s in restored],
        )
    conn.execute(
        insert(merge_events).values(
            id=undo_id,
            action="unmerge",
            mode="manual",
            survivor_id=survivor_id,
            absorbed_id=absorbed_id,
            reason=f"undo of {event['id']} ({event['reason']})",
            actor=actor,
            identity_ids=move,
            details={"undoes": event["id"]},
            created_at=now,
        )
    )
    conn.execute(
        update(merge_events).where(merge_events.c.id == event["id"]).values(undone_at=now, undone_by=undo_id)
    )
    _block(conn, survivor_id, absorbed_id, f"unmerged by {undo_id}")
    recompute_rollups(conn, [survivor_id, absorbed["id"]])
    _merge_event(conn, "contact.unmerged", survivor_id, absorbed_id, undo_id, actor, mode="manual")
    return undo_id


def split_contact(
    conn: Connection,
    contact_id: str,
    identity_ids: Sequence[str],
    *,
    actor: str | None = None,
    reason: str = "",
) -> tuple[str, str]:
    """Move ``identity_ids`` out of ``contact_id`` into a new contact; returns (new id, event id)."""
    _live_contact(conn, contact_id)
    wanted = sorted(set(identity_ids))
    if not wanted:
        raise InvalidRequest("name at least one identity to split off")
    owned = set(conn.execute(select(identities.c.id).where(identities.c.contact_id == contact_id)).scalars())
    missing = [i for i in wanted if i not in owned]
    if missing:
        raise InvalidRequest(f"identities {missing} do not belong to contact {contact_id}")
    if len(owned) == len(wanted):
        raise InvalidRequest("a split must leave at least one identity on the contact")
    now = utcnow()
    event_id = _event_id("split", contact_id, *wanted)
    new_id = record_id("con", "split", event_id)
    conn.execute(insert(contacts).values(new_contact_row(new_id, now)))
    for part in chunks(wanted):
        conn.execute(update(identities).where(identities.c.id.in_(part)).values(contact_id=new_id))
    conn.execute(
        insert(merge_events).values(
            id=event_id,
            action="split",
            mode="manual",
            survivor_id=contact_id,
            absorbed_id=new_id,
            reason=reason or "split by a person",
            actor=actor,
            identity_ids=wanted,
            details={},
            created_at=now,
        )
    )
    _block(conn, contact_id, new_id, f"split by {event_id}")
    recompute_rollups(conn, [contact_id, new_id])
    _merge_event(conn, "contact.split", contact_id, new_id, event_id, actor, mode="manual")
    return new_id, event_id
