"""Conversation threading: roots, replies, channel thread keys, out-of-order arrivals, email fallback."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flows.threading import ThreadState, assign_conversation
from hub.models import Identity, Message, conversation_id_for

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


def test_root_and_reply_chain_share_the_root_conversation() -> None:
    state = ThreadState()
    root = assign_conversation(state, msg("1"))
    reply = assign_conversation(state, msg("2", reply_to="1"))
    reply_to_reply = assign_conversation(state, msg("3", reply_to="2"))
    assert root == reply == reply_to_reply == conversation_id_for("twitter", "demo", "1")


def test_replay_keeps_the_same_conversation() -> None:
    state = ThreadState()
    first = assign_conversation(state, msg("1"))
    again = assign_conversation(state, msg("1"))
    assert first == again


def test_thread_key_joins_the_root_even_when_the_root_is_unseen() -> None:
    state = ThreadState()
    late_reply = assign_conversation(state, msg("9", thread_key="5", reply_to="8"))
    root = assign_conversation(state, msg("5"))
    assert late_reply == root


def test_reply_before_its_non_root_parent_is_relinked_when_the_parent_arrives() -> None:
    state = ThreadState()
    root = assign_conversation(state, msg("1"))
    orphan = assign_conversation(state, msg("3", reply_to="2"))
    assert orphan != root
    parent = assign_conversation(state, msg("2", reply_to="1"))
    assert parent == root
    # the orphan is remembered in its new home for its own later replies
    child = assign_conversation(state, msg("4", reply_to="3"))
    assert child == root


def test_unknown_parent_is_looked_up_in_the_knowledge_base() -> None:
    state = ThreadState()
    stored = {"41": "cnv_from_kb"}
    found = assign_conversation(state, msg("42", reply_to="41"), lookup=stored.get)
    assert found == "cnv_from_kb"


def test_email_subject_fallback_inside_the_window_only() -> None:
    state = ThreadState()
    window = timedelta(days=14)  # the email channel's default (CHANNELS["email"].threading)
    key = "broken kettle"
    first = assign_conversation(
        state, msg("a@x", channel="email", author=ANN, subject_key=key), subject_window=window
    )
    follow = assign_conversation(
        state, msg("b@x", channel="email", author=ANN, subject_key=key, minutes=60), subject_window=window
    )
    much_later = assign_conversation(
        state,
        msg("c@x", channel="email", author=ANN, subject_key=key, minutes=60 * 24 * 30),
        subject_window=window,
    )
    assert first == follow
    assert much_later != first


def test_no_subject_fallback_without_a_window() -> None:
    state = ThreadState()
    first = assign_conversation(state, msg("a", author=ANN, subject_key="broken kettle"))
    again = assign_conversation(state, msg("b", author=ANN, subject_key="broken kettle", minutes=1))
    assert first != again and not state.subjects


def test_bounces_never_open_a_conversation() -> None:
    state = ThreadState()
    bounce = msg("bounce@x", channel="email", flags=["bounce"], references=["nowhere@x"])
    assert assign_conversation(state, bounce) is None
    root = assign_conversation(state, msg("orig@x", channel="email"))
    auto = msg("auto@x", channel="email", flags=["auto_reply"], references=["orig@x"])
    assert assign_conversation(state, auto) == root


def test_state_is_bounded() -> None:
    state = ThreadState(capacity=1000)
    for i in range(1500):
        assign_conversation(state, msg(str(i)))
    assert len(state.links) == 1000
    assert "0" not in state.links and "1499" in state.links


def test_newest_first_arrival_of_deep_threads_ends_in_the_roots() -> None:
    state = ThreadState()
    threads, depth = 300, 5
    arrivals = [
        msg(f"{t}-{d}", reply_to=f"{t}-{d - 1}" if d else None) for t in range(threads) for d in range(depth)
    ]
    for message in reversed(arrivals):
        assign_conversation(state, message)
    for t in range(threads):
        homes = {state.resolve(state.links[f"{t}-{d}"]) for d in range(depth)}
        assert homes == {conversation_id_for("twitter", "demo", f"{t}-0")}


def test_metadata_of_the_wrong_type_is_ignored() -> None:
    state = ThreadState()
    odd = msg("1", metadata={"references": 5, "normalized_subject": ["x"]})
    assert assign_conversation(state, odd) == conversation_id_for("twitter", "demo", "1")


def test_metadata_is_never_a_thread_hint() -> None:
    # only the typed fields thread; a metadata key of the same name is just metadata
    state = ThreadState()
    root = assign_conversation(state, msg("1"))
    lookalike = msg("2", metadata={"references": ["1"], "normalized_subject": "x"})
    assert assign_conversation(state, lookalike, subject_window=timedelta(days=14)) != root
    assert assign_conversation(state, msg("3", references=["1"])) == root
