"""Email threads as mail clients thread them (JWZ), through the parser and the thread store.

Every msg-id In-Reply-To and References name is honoured; a token that cannot be a msg-id
(``git send-email`` set-ups that answer "yes" to its In-Reply-To prompt write
``In-Reply-To: <yes>`` and ``References: <yes> <real-parent@host>``) names nothing, so such a
message still joins its real thread and unrelated series never meet in a thread rooted at
"yes". Runs on SQLite and, with ``PARLEY_TEST_POSTGRES_URL``, PostgreSQL (``store``).
"""

from __future__ import annotations

from itertools import permutations

from channels import parse_envelope
from crm import CRMStore
from flows.threading import ThreadState, thread_link
from hub.models import Envelope, Message, conversation_id_for


def _mail(message_id: str, subject: str, *, in_reply_to: str = "", references: str = "") -> Message:
    headers = [
        "From: Dev <dev@example.org>",
        "To: list@example.org",
        f"Subject: {subject}",
        "Date: Tue, 03 Mar 2026 10:00:00 +0000",
        f"Message-ID: <{message_id}>",
    ]
    if in_reply_to:
        headers.append(f"In-Reply-To: {in_reply_to}")
    if references:
        headers.append(f"References: {references}")
    raw = ("\r\n".join(headers) + "\r\n\r\nbody of " + subject + "\r\n").encode()
    (message,) = parse_envelope(Envelope(channel="email", kind="rfc822", payload=raw, raw_ref=message_id))
    return message


def _homes(store: CRMStore, messages: list[Message], account: str) -> dict[str, str]:
    """native id -> conversation after the messages arrive one batch each, in this order."""
    state = ThreadState()
    links = [thread_link(state, m.model_copy(update={"account": account})) for m in messages]
    for link in links:
        store.threads.assign([link])
    final = store.threads.assign(links).conversations  # a replay answers where each one is now
    return {link.native_id: str(final[link.key]) for link in links}


def test_a_bogus_first_reference_is_dropped_by_the_parser() -> None:
    reply = _mail("p1@host", "[PATCH 1/2] fix", in_reply_to="<cover@host>", references="<yes> <cover@host>")
    assert (reply.reply_to, reply.thread_key, reply.references) == (
        "cover@host",
        "cover@host",
        ["cover@host"],
    )
    assert reply.metadata["ignored_thread_ids"] == ["yes"]
    cover = _mail("cover@host", "[PATCH 0/2] series", in_reply_to="<yes>", references="<yes>")
    assert (cover.reply_to, cover.thread_key, cover.references) == (None, None, [])
    plain = _mail(
        "r@host", "Re: x", in_reply_to="<a@host> (Ann's message)", references="<root@host> <a@host>"
    )
    assert (plain.reply_to, plain.thread_key, plain.references) == (
        "a@host",
        "root@host",
        ["root@host", "a@host"],
    )
    assert "ignored_thread_ids" not in plain.metadata


def test_bogus_first_references_join_their_real_threads_in_any_order(store: CRMStore) -> None:
    series = [
        _mail("cover-a@host", "[PATCH 0/1] a", in_reply_to="<yes>", references="<yes>"),
        _mail(
            "patch-a@host", "[PATCH 1/1] a", in_reply_to="<cover-a@host>", references="<yes> <cover-a@host>"
        ),
        _mail("cover-b@host", "[PATCH 0/1] b", in_reply_to="<yes>", references="<yes>"),
        _mail(
            "patch-b@host", "[PATCH 1/1] b", in_reply_to="<cover-b@host>", references="<yes> <cover-b@host>"
        ),
        _mail("real-parent@host", "question"),
        _mail(
            "answer@host",
            "Re: question",
            in_reply_to="<real-parent@host>",
            references="<yes> <real-parent@host>",
        ),
    ]
    for number, order in enumerate(permutations(series)):
        if number % 7:  # 103 of the 720 orders: every message first and last many times over
            continue
        account = f"jwz-{number}"
        homes = _homes(store, list(order), account)
        for root, reply in (("cover-a", "patch-a"), ("cover-b", "patch-b"), ("real-parent", "answer")):
            expected = conversation_id_for("email", account, f"{root}@host")
            assert homes[f"{root}@host"] == homes[f"{reply}@host"] == expected, [m.native_id for m in order]
        assert len(set(homes.values())) == 3  # three threads, none rooted at "yes"


def test_every_link_of_a_long_chain_is_honoured(store: CRMStore) -> None:
    # the middle of the thread never arrives: References alone ties the ends together
    root = _mail("m0@host", "topic")
    late = _mail("m3@host", "Re: topic", in_reply_to="<m2@host>", references="<m0@host> <m1@host> <m2@host>")
    other = _mail("n1@host", "Re: topic", in_reply_to="<m1@host>")  # knows only its parent
    for number, order in enumerate(permutations([root, late, other])):
        account = f"chain-{number}"
        homes = _homes(store, list(order), account)
        assert set(homes.values()) == {conversation_id_for("email", account, "m0@host")}
