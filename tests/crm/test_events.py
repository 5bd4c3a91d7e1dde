"""The event log: appended in commit order, read with a cursor that misses nothing, joined to
the transaction of the change it describes, bounded data, merges recorded."""

from __future__ import annotations

import multiprocessing
import traceback
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import insert

from crm import CRMStore, NewEvent, NotFound, open_crm
from crm.engine import write
from crm.schema import audit_log
from hub.models import utcnow
from hub.settings import Settings
from tests.crm.helpers import author, message

WRITERS = 3
PER_WRITER = 40


def test_events_are_read_in_order_after_a_cursor_and_filtered(store: CRMStore) -> None:
    assert store.events.last_id() == 0 and store.events.read() == []
    first = store.events.append("conversation.created", conversation_id="cnv_1", data={"channel": "email"})
    ids = store.events.append_many(
        [
            NewEvent(type="conversation.assigned", conversation_id="cnv_1", data={"assignee": "agt_a"}),
            NewEvent(type="conversation.created", conversation_id="cnv_2", actor_id="agt_b"),
        ]
    )
    assert ids == sorted(ids) and ids[0] > first and store.events.last_id() == ids[-1]
    assert [e.type for e in store.events.read()] == [
        "conversation.created",
        "conversation.assigned",
        "conversation.created",
    ]
    assert [e.id for e in store.events.read(after=first)] == ids
    assert [e.conversation_id for e in store.events.read(types=["conversation.created"])] == [
        "cnv_1",
        "cnv_2",
    ]
    assert [e.id for e in store.events.read(conversation_id="cnv_1", limit=1)] == [first]
    second = store.events.read(after=first, limit=1)[0]
    assert second.data == {"assignee": "agt_a"} and second.actor_id is None and second.at.tzinfo is not None


@pytest.mark.parametrize("bad", ["Conversation.Created", "created", "a.b c", "x" * 70 + ".y"])
def test_a_malformed_type_is_refused_before_anything_is_written(store: CRMStore, bad: str) -> None:
    with pytest.raises(ValidationError):
        store.events.append(bad)
    assert store.events.last_id() == 0


def test_data_is_bounded_so_one_bulk_change_cannot_write_megabytes(store: CRMStore) -> None:
    store.events.append(
        "conversation.updated", data={"changes": {"tags": [[], ["t"] * 5000]}, "note": "n" * 10_000}
    )
    (event,) = store.events.read()
    assert len(str(event.data)) < 5_000
    assert event.data["note"].endswith("(10000 chars)")


def test_an_event_joins_the_transaction_of_its_change(store: CRMStore) -> None:
    writer = store.audit._writer  # the store's write engine

    def change_then_fail(conn: Any) -> None:
        conn.execute(
            insert(audit_log).values(
                at=utcnow(), actor="t", via="system", action="x.y", target_type="x", before=None, after=None
            )
        )
        store.events.append("conversation.status_changed", conversation_id="cnv_1", conn=conn)
        raise RuntimeError("the change fails after its event was appended")

    with pytest.raises(RuntimeError):
        write(writer, change_then_fail)
    assert store.events.read() == [] and store.audit.read() == []
    write(writer, lambda conn: store.events.append("conversation.reopened", conversation_id="c", conn=conn))
    assert [e.type for e in store.events.read()] == ["conversation.reopened"]


def test_merges_unmerges_and_splits_are_events_of_their_transactions(store: CRMStore) -> None:
    ann = author("twitter", "ann1", handle="ann", name="Ann", email="ann@example.org")
    bob = author("sms", "+447911333444", phone="+447911333444", name="Bob")
    ids = store.upsert_from_messages([message(ann, "a1"), message(bob, "b1", minutes=3)])
    ann_id, bob_id = ids[ann.id], ids[bob.id]
    merged = store.merge(ann_id, bob_id, actor="agt_kim")
    undone = store.unmerge(ann_id, actor="agt_kim")
    contact = store.get_contact(ann_id)
    assert contact is not None
    split = store.split(ann_id, [contact.identities[0].id], actor="agt_kim")
    events = store.events.read(types=["contact.merged", "contact.unmerged", "contact.split"])
    assert [(e.type, e.contact_id, e.actor_id, e.data["event_id"]) for e in events] == [
        ("contact.merged", ann_id, "agt_kim", merged.id),
        ("contact.unmerged", ann_id, "agt_kim", undone.id),
        ("contact.split", ann_id, "agt_kim", split.id),
    ]
    assert events[0].data["merged"] == [bob_id] and events[0].data["mode"] == "manual"
    with pytest.raises(NotFound):
        store.merge(ann_id, "con_missing", actor="agt_kim")
    assert store.events.last_id() == events[-1].id  # a refused merge appends nothing


def _append(data_dir: str, database_url: str | None, writer: int, start: Any, errors: Any) -> None:
    try:
        crm = open_crm(Settings(data_dir=data_dir, database_url=database_url, demo=False))
        start.wait(timeout=60)
        try:
            for n in range(PER_WRITER):
                crm.events.append("conversation.updated", data={"writer": writer, "n": n})
        finally:
            crm.close()
    except BaseException:
        errors.put(f"writer {writer}: {traceback.format_exc()}")


def test_concurrent_writers_never_leave_a_follower_behind(crm_settings: Settings, store: CRMStore) -> None:
    """A follower reading while processes append sees every event exactly once, in id order."""
    context = multiprocessing.get_context("spawn")
    start, errors = context.Event(), context.Queue()
    processes = [
        context.Process(
            target=_append, args=(str(crm_settings.data_dir), crm_settings.database_url, w, start, errors)
        )
        for w in range(WRITERS)
    ]
    for process in processes:
        process.start()
    start.set()
    seen: list[int] = []
    cursor = 0
    while any(p.is_alive() for p in processes) or store.events.last_id() > cursor:
        page = store.events.read(after=cursor, limit=7)
        seen.extend(e.id for e in page)
        cursor = page[-1].id if page else cursor
    for process in processes:
        process.join(timeout=120)
    assert errors.empty(), errors.get()
    assert len(seen) == len(set(seen)) == WRITERS * PER_WRITER
    assert seen == sorted(seen)
    per_writer: dict[int, list[int]] = {}
    for event in store.events.read(limit=1000):
        per_writer.setdefault(event.data["writer"], []).append(event.data["n"])
    assert per_writer == {w: list(range(PER_WRITER)) for w in range(WRITERS)}
