"""Thread membership in the relational store: one answer whatever the order, batching or
concurrency of arrivals (SQLite and, with PARLEY_TEST_POSTGRES_URL, PostgreSQL)."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from itertools import permutations

import pytest
from sqlalchemy import select

from crm import CRMStore, open_crm
from crm.schema import conversation_aliases, thread_nodes
from crm.threads import ThreadLink
from hub.models import conversation_id_for
from hub.settings import Settings


def link(
    account: str, native_id: str, *chain: str, opens: bool = True, follows: str | None = None
) -> ThreadLink:
    return ThreadLink("twitter", account, native_id, tuple(chain), opens=opens, follows=follows)


def conv(account: str, native_id: str) -> str:
    return conversation_id_for("twitter", account, native_id)


def chain_links(account: str, length: int) -> list[ThreadLink]:
    """A reply chain: message n answers n-1 (and names nothing more)."""
    return [link(account, str(n), *([str(n - 1)] if n else [])) for n in range(length)]


def homes(store: CRMStore, links: list[ThreadLink]) -> dict[str, str | None]:
    """Where each link's message is now (a replay answers with the current conversation)."""
    assigned = store.threads.assign(links).conversations
    return {lk.native_id: assigned[lk.key] for lk in links}


def assert_aliases_are_one_hop(store: CRMStore) -> None:
    with store.engine.connect() as conn:
        query = select(conversation_aliases.c.conversation_id, conversation_aliases.c.into_id)
        aliases = {source: into for source, into in conn.execute(query)}
        stored = set(conn.execute(select(thread_nodes.c.conversation_id)).scalars())
    assert not set(aliases.values()) & set(aliases), "an alias points at a folded conversation"
    assert not stored & set(aliases), "a node sits in a folded conversation"


@pytest.fixture
def store(crm_settings: Settings) -> Iterator[CRMStore]:
    crm = open_crm(crm_settings)
    try:
        yield crm
    finally:
        crm.close()


def test_every_arrival_order_of_a_chain_ends_in_the_roots_conversation(store: CRMStore) -> None:
    for number, order in enumerate(permutations(range(4))):
        account = f"one-by-one-{number}"
        links = chain_links(account, 4)
        for n in order:
            store.threads.assign([links[n]])
        assert set(homes(store, links).values()) == {conv(account, "0")}, order

        account = f"one-batch-{number}"
        links = chain_links(account, 4)
        first = store.threads.assign([links[n] for n in order])
        assert set(first.conversations.values()) == {conv(account, "0")}, order
        assert first.folds == {}  # decided in one transaction: nothing to move
    assert_aliases_are_one_hop(store)


def test_two_threads_meeting_take_the_parents_root(store: CRMStore) -> None:
    store.threads.assign([link("a", "1"), link("a", "2", "1")])
    store.threads.assign([link("a", "4", "3")])  # 3 unseen: its component is rooted at 3
    assert homes(store, [link("a", "4")]) == {"4": conv("a", "3")}

    joined = store.threads.assign([link("a", "3", "2")])
    assert joined.conversations == {conv("a", "3"): conv("a", "1")}
    assert joined.folds == {conv("a", "3"): conv("a", "1")}
    assert store.threads.resolve([conv("a", "3"), conv("a", "1")]) == {
        conv("a", "3"): conv("a", "1"),
        conv("a", "1"): conv("a", "1"),
    }
    assert store.threads.pending_folds() == {conv("a", "3"): conv("a", "1")}
    store.threads.mark_moved({conv("a", "3"): conv("a", "1")})
    assert store.threads.pending_folds() == {}


def test_a_thread_key_is_the_root_even_unseen(store: CRMStore) -> None:
    late = store.threads.assign([link("a", "9", "5", "8")])
    assert late.conversations == {conv("a", "9"): conv("a", "5")}
    assert store.threads.assign([link("a", "8", "5"), link("a", "5")]).folds == {}
    assert set(homes(store, [link("a", n) for n in ("5", "8", "9")]).values()) == {conv("a", "5")}


def test_a_replay_changes_nothing(store: CRMStore) -> None:
    links = chain_links("a", 3)
    first = store.threads.assign(links)
    again = store.threads.assign(links[::-1])
    assert again.conversations == first.conversations and again.folds == {}


def test_bounces_never_open_a_conversation(store: CRMStore) -> None:
    bounce = link("a", "bounce", "nowhere", opens=False)
    assert store.threads.assign([bounce]).conversations == {bounce.key: None}
    with store.engine.connect() as conn:
        assert conn.execute(select(thread_nodes.c.key)).all() == []  # no node, no ghost

    store.threads.assign([link("a", "orig")])
    auto = link("a", "auto", "orig", opens=False)
    assert store.threads.assign([auto]).conversations == {auto.key: conv("a", "orig")}


def test_a_subject_follower_joins_and_never_becomes_the_root(store: CRMStore) -> None:
    store.threads.assign([link("a", "m1")])
    follower = link("a", "m2", follows="m1")
    assert store.threads.assign([follower]).conversations == {follower.key: conv("a", "m1")}
    forgotten = link("a", "m3", follows="never-seen")
    assert store.threads.assign([forgotten]).conversations == {forgotten.key: conv("a", "m3")}


def test_a_reply_loop_is_one_conversation_in_either_order(store: CRMStore) -> None:
    ends = set()
    for account, order in (("x", ("p", "q")), ("y", ("q", "p"))):
        loop = {"p": link(account, "p", "q"), "q": link(account, "q", "p")}
        for name in order:
            store.threads.assign([loop[name]])
        found = homes(store, list(loop.values()))
        assert len(set(found.values())) == 1
        ends.add(min(conv(account, "p"), conv(account, "q")) == found["p"])
    assert ends == {True}  # the smallest key of the loop, whichever came first
    assert_aliases_are_one_hop(store)


def test_conflicting_ancestry_settles_on_one_root_in_any_order(store: CRMStore) -> None:
    # m says p descends from r0, n says from s0, p itself answers q: three parentless nodes,
    # and the smallest key among them is the root, whatever came first
    messages = [("m", ("r0", "p")), ("n", ("s0", "p")), ("p", ("q",))]
    for number, order in enumerate(permutations(messages)):
        account = f"c{number}"
        links = [link(account, name, *chain) for name, chain in order]
        for lk in links:
            store.threads.assign([lk])
        expected = min(conv(account, name) for name in ("r0", "s0", "q"))
        assert set(homes(store, links).values()) == {expected}, order
    assert_aliases_are_one_hop(store)


def _assign_in_batches(settings: Settings, links: list[ThreadLink], start: threading.Barrier) -> None:
    crm = open_crm(settings)  # its own engine: its own connections
    try:
        start.wait(timeout=60)
        for at in range(0, len(links), 10):
            crm.threads.assign(links[at : at + 10])
    finally:
        crm.close()


def test_concurrent_assignment_from_two_connections_converges(
    store: CRMStore, crm_settings: Settings
) -> None:
    chains, length = 60, 6
    links = [lk for c in range(chains) for lk in chain_links(f"c{c}", length)]
    random.Random(7).shuffle(links)
    halves = [links[::2], links[1::2]]
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def run(half: list[ThreadLink]) -> None:
        try:
            _assign_in_batches(crm_settings, half, start)
        except BaseException as exc:  # surfaced below, in the test's thread
            errors.append(exc)

    workers = [threading.Thread(target=run, args=(half,)) for half in halves]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert errors == []

    for c in range(chains):
        assert set(homes(store, chain_links(f"c{c}", length)).values()) == {conv(f"c{c}", "0")}
    assert_aliases_are_one_hop(store)
    folded = store.threads.pending_folds(limit=10_000)
    live = {conv(f"c{c}", "0") for c in range(chains)}
    assert set(folded.values()) <= live


def test_the_migrated_tables_match_the_schema(store: CRMStore) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from crm.schema import metadata

    with store.engine.connect() as conn:
        differences = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), metadata
        )
    assert differences == []
