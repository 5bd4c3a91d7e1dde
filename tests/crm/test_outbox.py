"""The outbox's contract (crm.outbox) on SQLite and PostgreSQL: one reply per Idempotency-Key
whatever races, one sender per reply, transitions only by the run holding the claim, replies in
doubt found, and a person's retry and drop; notes; migration 0008 up and down."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from alembic import command

from crm import Conflict, CRMStore, NotFound
from crm.engine import _alembic_config
from crm.outbox import NewReply, request_digest
from hub.models import utcnow

LEASE = timedelta(minutes=5)


def new_reply(
    key: str | None = None, text: str = "Your kettle ships today.", author: str = "a-1"
) -> NewReply:
    return NewReply(
        conversation_id="cnv_1",
        channel="email",
        account="support",
        author_id=author,
        text=text,
        in_reply_to="msg_1",
        idempotency_key=key,
        request_digest=request_digest({"text": text}) if key else None,
    )


def test_enqueue_writes_a_queued_row(store: CRMStore) -> None:
    reply, created = store.outbox.enqueue(new_reply())
    assert created and reply.state == "queued" and reply.attempts == 0
    assert reply.id.startswith("rpl_") and reply.text == "Your kettle ships today."
    assert store.outbox.get(reply.id) == reply
    assert store.outbox.for_conversation("cnv_1") == [reply]
    assert store.outbox.counts()["queued"] == 1


def test_the_same_key_gives_the_same_reply_and_another_request_is_refused(store: CRMStore) -> None:
    first, created = store.outbox.enqueue(new_reply("k-1"))
    again, created_again = store.outbox.enqueue(new_reply("k-1"))
    assert created and not created_again and again == first
    with pytest.raises(Conflict, match="different request"):
        store.outbox.enqueue(new_reply("k-1", text="something else"))
    # keys are the author's own: another agent's k-1 is another reply
    other, created_other = store.outbox.enqueue(new_reply("k-1", author="a-2"))
    assert created_other and other.id != first.id
    assert store.outbox.counts()["queued"] == 2


def test_a_hundred_concurrent_requests_with_one_key_make_one_row(store: CRMStore) -> None:
    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(lambda _: store.outbox.enqueue(new_reply("race")), range(100)))
    assert len({reply.id for reply, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    assert store.outbox.counts()["queued"] == 1


def test_claim_takes_each_due_reply_once(store: CRMStore) -> None:
    ids = {store.outbox.enqueue(new_reply())[0].id for _ in range(20)}
    with ThreadPoolExecutor(max_workers=4) as pool:
        claims = list(pool.map(lambda n: store.outbox.claim(f"run-{n % 4}", LEASE), range(30)))
    taken = [c for c in claims if c is not None]
    assert sorted(c.id for c in taken) == sorted(ids)  # every one, none twice
    assert all(c.state == "sending" and c.attempts == 1 and c.claimed_by for c in taken)
    assert store.outbox.claim("run-x", LEASE) is None


def test_transitions_need_the_claim(store: CRMStore) -> None:
    reply, _ = store.outbox.enqueue(new_reply())
    claimed = store.outbox.claim("run-a", LEASE)
    assert claimed is not None and claimed.id == reply.id
    # another run cannot record anything about it
    assert (
        store.outbox.record_sent(reply.id, "run-b", platform_id="x", message_id="m", sent_at=utcnow()) is None
    )
    sent = store.outbox.record_sent(
        reply.id, "run-a", platform_id="<p@x>", message_id="msg_9", sent_at=utcnow()
    )
    assert sent is not None and sent.state == "sent" and sent.platform_id == "<p@x>"
    assert store.outbox.record_failed(reply.id, "run-a", reason="late") is None  # not sending any more
    assert store.outbox.unrecorded() == [sent]
    store.outbox.mark_recorded(reply.id)
    assert store.outbox.unrecorded() == []


def test_a_passing_failure_queues_it_for_later(store: CRMStore) -> None:
    reply, _ = store.outbox.enqueue(new_reply())
    store.outbox.claim("run-a", LEASE)
    later = utcnow() + timedelta(minutes=10)
    queued = store.outbox.record_retry(reply.id, "run-a", reason="451 try later", at=later)
    assert queued is not None and queued.state == "queued" and queued.reason == "451 try later"
    assert store.outbox.claim("run-a", LEASE) is None  # not due yet
    due = store.outbox.claim("run-a", LEASE, now=later + timedelta(seconds=1))
    assert due is not None and due.attempts == 2


def test_replies_left_sending_are_in_doubt(store: CRMStore) -> None:
    one, _ = store.outbox.enqueue(new_reply())
    two, _ = store.outbox.enqueue(new_reply())
    store.outbox.claim("dead-run", LEASE)
    store.outbox.claim("live-run", LEASE)
    # a dispatcher alone on its store: every other run's sending rows
    assert store.outbox.in_doubt("live-run", every_other_run=True) == [one.id]
    # several dispatchers: only expired leases
    assert store.outbox.in_doubt("live-run", every_other_run=False) == []
    later = utcnow() + LEASE + timedelta(seconds=1)
    assert sorted(store.outbox.in_doubt("x", every_other_run=False, now=later)) == sorted([one.id, two.id])
    taken = store.outbox.take_in_doubt(one.id, "live-run", LEASE, every_other_run=True)
    assert taken is not None and taken.claimed_by == "live-run"
    assert store.outbox.take_in_doubt(one.id, "third-run", LEASE, every_other_run=False) is None
    unknown = store.outbox.record_unknown(one.id, "live-run", reason="cannot tell")
    assert unknown is not None and unknown.state == "unknown"


def test_a_person_retries_or_drops(store: CRMStore) -> None:
    reply, _ = store.outbox.enqueue(new_reply())
    with pytest.raises(Conflict, match="queued"):
        store.outbox.drop(reply.id, "a-1")
    store.outbox.claim("run", LEASE)
    store.outbox.record_unknown(reply.id, "run", reason="died mid-send")
    again = store.outbox.retry(reply.id, "a-1")
    assert again.state == "queued" and again.attempts == 0 and "retried by a person" in (again.reason or "")
    store.outbox.claim("run", LEASE)
    store.outbox.record_unknown(reply.id, "run", reason="died again")
    dropped = store.outbox.drop(reply.id, "a-1")
    assert dropped.state == "failed" and "dropped by a person" in (dropped.reason or "")
    with pytest.raises(NotFound):
        store.outbox.retry("rpl_nope", "a-1")


def test_notes_are_stored_in_order(store: CRMStore) -> None:
    first = store.notes.add("cnv_1", "a-1", "VIP customer, be nice")
    second = store.notes.add("cnv_1", "a-2", "refund approved")
    store.notes.add("cnv_2", "a-1", "elsewhere")
    assert [n.id for n in store.notes.for_conversation("cnv_1")] == [first.id, second.id]


def test_migration_0008_downgrades_and_upgrades(store: CRMStore) -> None:
    store.outbox.enqueue(new_reply())
    with store.engine.begin() as conn:
        command.downgrade(_alembic_config(conn), "0008-1")
    with store.engine.begin() as conn:
        command.upgrade(_alembic_config(conn), "head")
    assert store.outbox.counts()["queued"] == 0  # the table was dropped and created again
    assert store.outbox.enqueue(new_reply("k"))[1]
