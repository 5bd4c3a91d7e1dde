"""Real third-party mail (../shared/corpora/email): every message parses or dead-letters.

Count in = count out: each .eml/.msg file is one message and each mbox holds as many as the
stdlib ``mailbox`` module finds; every one becomes exactly one hub message or a
``MalformedPayload`` with a reason. The notmuch threading cases thread as their headers say:
the parser's root ids are the first References ids, and the whole case lands in the same
conversation through the flow's thread links and the store's thread tables, whatever order
the files arrive in.
"""

from __future__ import annotations

import itertools
import mailbox
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from channels import parse_envelope
from channels.email.parse import MACHINE_FLAGS
from crm import CRMStore, open_crm
from hub.errors import MalformedPayload
from hub.models import Envelope, Message, conversation_id_for
from hub.settings import Settings


@pytest.fixture
def crm(settings: Settings) -> Iterator[CRMStore]:
    store = open_crm(settings)
    try:
        yield store
    finally:
        store.close()


def corpus_messages(root: Path) -> list[tuple[str, bytes]]:
    found: list[tuple[str, bytes]] = []
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.suffix not in (".eml", ".msg", ".mbox"):
            continue
        rel = str(path.relative_to(root))
        if path.suffix == ".mbox":
            box = mailbox.mbox(path, create=False)
            for index, key in enumerate(box.keys()):
                found.append((f"{rel}#{index}", box.get_bytes(key)))
        else:
            found.append((rel, path.read_bytes()))
    return found


def parse_one(ref: str, raw: bytes) -> Message | MalformedPayload:
    try:
        (message,) = parse_envelope(Envelope(channel="email", kind="rfc822", payload=raw, raw_ref=ref))
    except MalformedPayload as exc:
        return exc
    return message


@pytest.fixture(scope="module")
def email_corpus(corpora: Path) -> Path:
    root = corpora / "email"
    if not root.is_dir():
        pytest.skip(f"no email corpus at {root}")
    return root


def test_every_message_parses_or_dead_letters_with_reason(email_corpus: Path) -> None:
    messages = corpus_messages(email_corpus)
    assert len(messages) > 100
    outcomes = {ref: parse_one(ref, raw) for ref, raw in messages}
    assert len(outcomes) == len(messages)  # count in = count out
    malformed = {ref: str(o) for ref, o in outcomes.items() if isinstance(o, MalformedPayload)}
    assert all(reason.strip() for reason in malformed.values())
    # Dead letters are the exception, not an escape hatch: only non-mail may be refused.
    assert len(malformed) <= 3, malformed
    parsed = [o for o in outcomes.values() if isinstance(o, Message)]
    for message in parsed:
        assert message.native_id and message.channel == "email"
        assert isinstance(message.references, list) and all(message.references)
        assert message.thread_key is None or message.thread_key != message.native_id
        message.model_dump_json()  # serialisable: no lone surrogates anywhere


def test_outlook_msg_binary_is_refused_with_reason(email_corpus: Path) -> None:
    for path in email_corpus.rglob("*.msg"):
        outcome = parse_one(path.name, path.read_bytes())
        assert isinstance(outcome, MalformedPayload) and "not an rfc822 message" in str(outcome)


def test_bounces_and_receipts_are_flagged(email_corpus: Path) -> None:
    flanker = email_corpus / "flanker"
    if not flanker.is_dir():
        pytest.skip("flanker corpus absent")
    flags: Counter[str] = Counter()
    for path in sorted(flanker.glob("*.eml")):
        outcome = parse_one(path.name, path.read_bytes())
        assert isinstance(outcome, Message)
        is_machine = bool(MACHINE_FLAGS.intersection(outcome.flags))
        expected = path.name.startswith(("bounce_", "complaints_", "disposition-"))
        assert is_machine == expected, (path.name, outcome.flags)
        flags.update(outcome.flags)
    assert flags["bounce"] >= 5 and flags["complaint"] >= 2 and flags["receipt"] >= 1


def _case(email_corpus: Path, pattern: str) -> list[Message]:
    paths = sorted((email_corpus / "notmuch_threading").glob(pattern))
    if not paths:
        pytest.skip(f"notmuch threading case {pattern} absent")
    out = [parse_one(p.name, p.read_bytes()) for p in paths]
    assert all(isinstance(m, Message) for m in out)
    return [m for m in out if isinstance(m, Message)]


def test_root_ids_are_the_first_references(email_corpus: Path) -> None:
    by_id = {m.native_id: m for m in _case(email_corpus, "*.eml")}
    assert by_id["000-real-root@example.org"].thread_key is None
    for name in ("001-child", "001-grand-child", "001-grand-child2", "001-great-grand-child"):
        assert by_id[f"{name}@example.org"].thread_key == "000-real-root@example.org"
    fake = by_id["001-fake-message-root@example.org"]
    assert fake.reply_to == "nonexistent-message@example.org"
    assert fake.thread_key == "000-real-root@example.org"
    rt_root = next(i for i in by_id if i.startswith("rt-4.2.8-22046"))
    assert by_id[rt_root].reply_to == "87bmc6lp3h.fsf@len.workgroup"
    assert str(by_id[rt_root].thread_key).startswith("RT-Ticket-33575@")
    child = by_id["B01-child@example.org"]
    assert (child.reply_to, child.thread_key) == ("B00-root@example.org", "B00--root@example.org")


def _roots(crm: CRMStore, messages: list[Message], account: str) -> set[str]:
    """The thread roots (native ids) the store ends up with after ``messages`` arrive one by
    one under ``account`` (a fresh namespace for each arrival order)."""
    from flows.threading import ThreadState, thread_link

    state = ThreadState()
    links = [thread_link(state, m.model_copy(update={"account": account})) for m in messages]
    for link in links:
        crm.threads.assign([link])
    names = {n for link in links for n in (link.native_id, *link.chain)}
    by_id = {conversation_id_for(link.channel, account, n): n for link in links for n in names}
    final = crm.threads.assign(links).conversations  # a replay answers where each message is now
    return {by_id.get(str(c), str(c)) for c in final.values() if c is not None}


THREAD_CASES = {
    "ghost-root-example": "ghost-root__[!1]*.eml",
    "ghost-root-rt": "ghost-root__1*.eml",
    "parent-priority": "parent-priority__*.eml",
}


@pytest.mark.parametrize("case", sorted(THREAD_CASES))
def test_notmuch_cases_form_the_same_conversation_in_any_order(
    email_corpus: Path, case: str, crm: CRMStore
) -> None:
    messages = _case(email_corpus, THREAD_CASES[case])
    orders = list(itertools.permutations(messages))[:120]
    roots = [_roots(crm, list(order), f"order-{n}") for n, order in enumerate(orders)]
    split = [[m.native_id for m in o] for o, r in zip(orders, roots, strict=True) if len(r) != 1]
    assert not split, f"{len(split)}/{len(orders)} arrival orders split the thread, e.g. {split[0]}"
    assert len(set().union(*roots)) == 1, f"the root depends on the arrival order: {roots}"


def test_in_reply_to_loop_terminates_in_one_conversation(email_corpus: Path, crm: CRMStore) -> None:
    paths = sorted((email_corpus / "notmuch_broken").glob("loop__*.eml"))
    if len(paths) != 2:
        pytest.skip("notmuch loop case absent")
    messages = [parse_one(p.name, p.read_bytes()) for p in paths]
    assert all(isinstance(m, Message) for m in messages)
    loop = [m for m in messages if isinstance(m, Message)]
    assert {m.reply_to for m in loop} == {m.native_id for m in loop}  # each answers the other
    roots = [_roots(crm, order, f"loop-{n}") for n, order in enumerate((loop, loop[::-1]))]
    assert [len(r) for r in roots] == [1, 1] and roots[0] == roots[1]
