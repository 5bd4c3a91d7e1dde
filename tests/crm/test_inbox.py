"""The inbox table behind the webhook route, on SQLite and PostgreSQL: committed envelopes come
back in id order exactly as stored, ids are never reused, readers miss nothing under concurrent
writers, and pruning never takes a row the flow has not read."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import update

from crm import CRMStore
from crm.engine import _alembic_config
from crm.schema import inbox, metadata
from hub.errors import MalformedPayload
from hub.models import DeadLetter, Envelope, utcnow

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def envelope(n: int, payload: object | None = None, **fields: object) -> Envelope:
    values: dict[str, object] = {
        "channel": "hooktest",
        "kind": "parley.message",
        "account": "brand",
        "received_at": T0 + timedelta(seconds=n),
        "payload": {"native_id": f"m{n}", "text": f"message {n}"} if payload is None else payload,
    }
    return Envelope.model_validate(values | fields)


def test_added_envelopes_come_back_in_order_exactly_as_stored(store: CRMStore) -> None:
    sent = [
        envelope(1),
        envelope(2, {"text": "ünïcödé ✓ 日本語", "nested": [1, 2.5, None, True], "nul": "a\x00b"}),
        envelope(3, b"\x00\xffraw bytes, not UTF-8", kind="rfc822", raw_ref="webhook:hooktest/brand"),
        envelope(4, "a bare string"),
        envelope(5, {"lone": "\ud800 surrogate from a JSON escape"}),
    ]
    ids = store.add_inbox(sent)
    assert ids == sorted(ids) and len(set(ids)) == 5
    entries = store.read_inbox(0, 100)
    assert [entry.id for entry in entries] == ids
    assert [entry.item for entry in entries] == sent
    assert store.count_inbox() == 5 and store.count_inbox(unread=True) == 5


def test_reading_pages_from_a_cursor(store: CRMStore) -> None:
    ids = store.add_inbox([envelope(n) for n in range(10)])
    assert [e.id for e in store.read_inbox(0, 4)] == ids[:4]
    assert [e.id for e in store.read_inbox(ids[3], 4)] == ids[4:8]
    assert [e.id for e in store.read_inbox(ids[7], 4)] == ids[8:]
    assert store.read_inbox(ids[-1], 4) == []
    assert store.add_inbox([]) == []


def test_a_payload_that_is_not_json_is_refused_and_nothing_is_stored(store: CRMStore) -> None:
    with pytest.raises(MalformedPayload, match="must be JSON or bytes"):
        store.add_inbox([envelope(1), envelope(2, {"content": b"bytes inside a dict"})])
    assert store.count_inbox() == 0


def test_a_row_that_no_longer_decodes_is_read_as_a_dead_letter(store: CRMStore) -> None:
    first, second = store.add_inbox([envelope(1), envelope(2)])
    with store.engine.begin() as conn:
        conn.execute(update(inbox).where(inbox.c.id == first).values(envelope='{"channel": "hooktest"'))
    bad, good = store.read_inbox(0, 10)
    assert isinstance(bad.item, DeadLetter) and bad.id == first
    assert (
        bad.item.stage == "inbox" and bad.item.channel == "hooktest" and bad.item.raw_ref == f"inbox:{first}"
    )
    assert good.item == envelope(2) and good.id == second


def test_read_marks_and_where_a_reader_without_a_cursor_starts(store: CRMStore) -> None:
    assert store.inbox_read_through() == 0 and store.first_unread_inbox() is None
    ids = store.add_inbox([envelope(n) for n in range(5)])
    assert store.first_unread_inbox() == ids[0]
    store.mark_inbox_read(0, ids[2])
    assert store.inbox_read_through() == ids[2]
    assert store.first_unread_inbox() == ids[3]
    assert store.count_inbox(unread=True) == 2
    store.mark_inbox_read(ids[2], ids[2])  # an empty range changes nothing
    assert store.count_inbox(unread=True) == 2


def test_prune_takes_only_rows_read_before_the_retention_and_at_or_below_the_cursor(store: CRMStore) -> None:
    ids = store.add_inbox([envelope(n) for n in range(6)])
    store.mark_inbox_read(0, ids[3])
    # nothing was read before this instant
    assert store.prune_inbox(ids[-1], utcnow() - timedelta(days=1)) == 0
    later = utcnow() + timedelta(seconds=1)
    assert store.prune_inbox(ids[1], later) == 2, "only up to the cursor given"
    assert store.prune_inbox(ids[-1], later) == 2, "unread rows are never pruned"
    assert [e.id for e in store.read_inbox(0, 10)] == ids[4:]


def test_ids_are_never_reused_after_everything_was_pruned(store: CRMStore) -> None:
    ids = store.add_inbox([envelope(n) for n in range(3)])
    store.mark_inbox_read(0, ids[-1])
    assert store.prune_inbox(ids[-1], utcnow() + timedelta(seconds=1)) == 3
    assert store.count_inbox() == 0
    (fresh,) = store.add_inbox([envelope(9)])
    assert fresh > ids[-1], "a reader whose cursor is at the old highest id must see the new row"


def test_a_reader_misses_nothing_while_writers_commit_concurrently(store: CRMStore) -> None:
    writers, per_writer = 4, 25
    added: list[int] = []
    lock = threading.Lock()

    def write(worker: int) -> None:
        for n in range(per_writer):
            ids = store.add_inbox([envelope(worker * 1000 + n)])
            with lock:
                added.extend(ids)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for thread in threads:
        thread.start()
    seen: list[int] = []
    cursor = 0
    while True:
        writing = any(thread.is_alive() for thread in threads)
        entries = store.read_inbox(cursor, 7)
        seen.extend(entry.id for entry in entries)
        cursor = entries[-1].id if entries else cursor
        if not entries and not writing:  # drained after the last commit
            break
    for thread in threads:
        thread.join()
    assert seen == sorted(seen) and len(seen) == len(set(seen))
    assert sorted(seen) == sorted(added), "every committed row was read once, none skipped"


def test_the_migration_creates_exactly_the_declared_table_and_downgrades(store: CRMStore) -> None:
    with store.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata) == []
    with store.engine.begin() as conn:
        command.downgrade(_alembic_config(conn), "0001")
    with store.engine.begin() as conn:
        command.upgrade(_alembic_config(conn), "head")
    assert store.add_inbox([envelope(1)]) != []
