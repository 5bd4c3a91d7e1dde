"""The thread step: what each message names (its link), the email subject fallback, and the
conversations the store decides from those links."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from crm import CRMStore, open_crm
from flows.threading import ThreadState, thread_link
from hub.models import Identity, Message, conversation_id_for
from hub.settings import Settings

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
ANN = Identity(channel="email", native_id="ann@example.org", email="ann@example.org")


def msg(
    native_id: str,
    *,
    reply_to: str | None = None,
    thread_key: str | None = None,
    minutes: int = 0,
    channel: str = "twitter",
    **extra: object,
) -> Message:
    return Message(
        channel=channel,
        account="demo",
        native_id=native_id,
        text=f"text {native_id}",
        reply_to=reply_to,
        thread_key=thread_key,
        created_at=T0 + timedelta(minutes=minutes),
        **extra,
    )  # type: ignore[arg-type]


@pytest.fixture
def crm(settings: Settings) -> Iterator[CRMStore]:
    store = open_crm(settings)
    try:
        yield store
    finally:
        store.close()


def conversations(crm: CRMStore, state: ThreadState, *messages: Message, **kw: object) -> list[str | None]:
    """Each message threaded on its own, as separate batches would be."""
    found = []
    for message in messages:
        link = thread_link(state, message, **kw)  # type: ignore[arg-type]
        found.append(crm.threads.assign([link]).conversations[link.key])
    return found


def test_the_chain_names_the_root_first_then_references_then_the_parent() -> None:
    message = msg(
        "m@x",
        channel="email",
        thread_key="root@x",
        reply_to="parent@x",
        references=["root@x", "middle@x", "parent@x", "m@x"],
    )
    link = thread_link(ThreadState(), message)
    assert link.chain == ("root@x", "middle@x", "parent@x")  # no repeats, no self-reference
    assert (link.channel, link.account, link.native_id, link.opens, link.follows) == (
        "email",
        "demo",
        "m@x",
        True,
        None,
    )
    assert link.key == conversation_id_for("email", "demo", "m@x")


def test_bounces_and_auto_replies_are_marked_as_never_opening() -> None:
    state = ThreadState()
    assert not thread_link(state, msg("b@x", channel="email", flags=["bounce"])).opens
    assert not thread_link(state, msg("a@x", channel="email", flags=["auto_reply"])).opens
    assert thread_link(state, msg("c@x", channel="email")).opens


def test_untyped_metadata_hints_are_ignored() -> None:
    # the hints are typed fields; the round-1 metadata keys mean nothing to the thread step
    odd = msg("1", channel="email", author=ANN, metadata={"references": ["0"], "normalized_subject": "x"})
    state = ThreadState()
    assert thread_link(state, odd, subject_window=timedelta(days=14)).chain == ()
    assert state.subjects == {}


def test_the_subject_fallback_names_the_latest_message_inside_the_window_only() -> None:
    state = ThreadState()
    meta = {"subject_key": "broken kettle"}
    window = timedelta(days=14)
    first = thread_link(state, msg("a@x", channel="email", author=ANN, **meta), subject_window=window)
    follow = thread_link(
        state, msg("b@x", channel="email", author=ANN, **meta, minutes=60), subject_window=window
    )
    later = msg("c@x", channel="email", author=ANN, **meta, minutes=60 * 24 * 30)
    assert (first.follows, follow.follows) == (None, "a@x")
    assert thread_link(state, later, subject_window=timedelta(days=14)).follows is None
    no_fallback = msg("d@x", channel="email", author=ANN, **meta, minutes=60 * 24 * 30 + 1)
    assert thread_link(state, no_fallback, subject_window=None).follows is None
    replying = msg("e@x", channel="email", author=ANN, **meta, reply_to="d@x", minutes=60 * 24 * 31)
    assert (
        thread_link(state, replying, subject_window=window).follows is None
    )  # a message that names its thread uses that


def test_the_subject_fallback_stays_within_the_account() -> None:
    """The step's state holds a shard of authors across accounts: the same customer writing
    the same subject to two mailboxes opens two threads, as when each account had its own."""
    state = ThreadState()
    window = timedelta(days=14)
    support = msg("a@x", channel="email", author=ANN, subject_key="broken kettle")
    sales = msg("b@x", channel="email", author=ANN, subject_key="broken kettle", minutes=5)
    sales = sales.model_copy(update={"account": "sales"})
    assert thread_link(state, support, subject_window=window).follows is None
    assert thread_link(state, sales, subject_window=window).follows is None
    again = msg("c@x", channel="email", author=ANN, subject_key="broken kettle", minutes=10)
    assert thread_link(state, again, subject_window=window).follows == "a@x"


def test_the_subject_memory_is_bounded() -> None:
    state = ThreadState(capacity=1000)
    for i in range(150):
        author = Identity(channel="email", native_id=f"p{i}@example.org")
        thread_link(
            state, msg(f"{i}@x", channel="email", author=author, subject_key="s"), subject_window=timedelta(1)
        )
    assert len(state.subjects) == 100


def test_root_reply_chain_and_thread_keys_through_the_store(crm: CRMStore) -> None:
    state = ThreadState()
    root, reply, reply_to_reply = conversations(
        crm, state, msg("1"), msg("2", reply_to="1"), msg("3", reply_to="2")
    )
    assert root == reply == reply_to_reply == conversation_id_for("twitter", "demo", "1")
    late_reply, key_root = conversations(crm, state, msg("9", thread_key="5", reply_to="8"), msg("5"))
    assert late_reply == key_root == conversation_id_for("twitter", "demo", "5")


def test_email_subject_fallback_through_the_store(crm: CRMStore) -> None:
    meta = {"subject_key": "broken kettle"}
    first, follow, much_later = conversations(
        crm,
        ThreadState(),
        msg("a@x", channel="email", author=ANN, **meta),
        msg("b@x", channel="email", author=ANN, **meta, minutes=60),
        msg("c@x", channel="email", author=ANN, **meta, minutes=60 * 24 * 30),
        subject_window=timedelta(days=14),
    )
    assert first == follow == conversation_id_for("email", "demo", "a@x")
    assert much_later == conversation_id_for("email", "demo", "c@x")


def test_bounces_never_open_a_conversation_through_the_store(crm: CRMStore) -> None:
    state = ThreadState()
    bounce = msg("bounce@x", channel="email", flags=["bounce"], references=["nowhere@x"])
    root = msg("orig@x", channel="email")
    auto = msg("auto@x", channel="email", flags=["auto_reply"], references=["orig@x"])
    assert conversations(crm, state, bounce, root, auto) == [
        None,
        *[conversation_id_for("email", "demo", "orig@x")] * 2,
    ]


def test_newest_first_arrival_of_deep_threads_ends_in_the_roots(crm: CRMStore) -> None:
    state = ThreadState()
    threads, depth = 100, 5
    arrivals = [
        msg(f"{t}-{d}", reply_to=f"{t}-{d - 1}" if d else None) for t in range(threads) for d in range(depth)
    ]
    conversations(crm, state, *reversed(arrivals))
    final = crm.threads.assign([thread_link(state, m) for m in arrivals]).conversations  # a replay: where now
    for t in range(threads):
        homes = {final[conversation_id_for("twitter", "demo", f"{t}-{d}")] for d in range(depth)}
        assert homes == {conversation_id_for("twitter", "demo", f"{t}-0")}


def test_a_snapshot_from_before_the_store_decided_threads_restores_lean() -> None:
    import pickle

    old = ThreadState.__new__(ThreadState)
    old.__dict__.update(
        capacity=5000,
        links={"1": "cnv_x"},
        assumed_roots={},
        aliases={},
        subjects={("kettle", "idn_ann"): ("cnv_x", T0)},
    )
    restored = pickle.loads(pickle.dumps(old))
    assert vars(restored) == {"capacity": 5000, "subjects": {}}
    fresh = ThreadState(capacity=3000)
    fresh.remember_subject(("support", "kettle", "idn_ann"), "m1", T0)
    assert pickle.loads(pickle.dumps(fresh)) == fresh


def test_a_snapshot_keyed_by_channel_and_account_drops_its_subjects() -> None:
    """Before the step was keyed by author shard, subjects were keyed without the account;
    such an entry could now answer for another account's message, so it is dropped."""
    import pickle

    old = ThreadState.__new__(ThreadState)
    old.__dict__.update(capacity=5000, subjects={("kettle", "idn_ann"): ("m0", T0)})
    restored = pickle.loads(pickle.dumps(old))
    assert vars(restored) == {"capacity": 5000, "subjects": {}}
