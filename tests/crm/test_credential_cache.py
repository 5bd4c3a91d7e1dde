"""The credential cache (``crm.credential_cache``): a token that authenticated is answered
from memory for a few seconds, yet every change made through the stores is seen at once, and
a change made by another process once the seconds pass."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import event, update

from crm import CRMStore, open_crm
from crm.credential_cache import CredentialCache
from crm.credentials import LAST_USED_RESOLUTION, CachedToken
from crm.hashing import digest
from crm.schema import api_tokens
from hub.models import utcnow
from hub.settings import Settings

DAY = timedelta(days=1)


class Clock:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(crm_settings: Settings, clock: Clock) -> Iterator[CRMStore]:
    crm = open_crm(crm_settings)
    crm.credentials.cache._clock = clock  # the store's own cache (5 s by default), on the test's clock
    try:
        yield crm
    finally:
        crm.close()


@pytest.fixture
def other_process(crm_settings: Settings) -> Iterator[CRMStore]:
    """A second store over the same database: what another process changes, ours is not told."""
    crm = open_crm(crm_settings)
    try:
        yield crm
    finally:
        crm.close()


def _agent_and_token(store: CRMStore, role: str = "agent") -> tuple[str, str]:
    agent = store.agents.create(name="Sam", email="sam@example.org", role=role)  # type: ignore[arg-type]
    return agent.id, store.credentials.create_token(agent.id, name="laptop", ttl=DAY).token


def test_a_token_that_authenticated_is_answered_without_the_database(store: CRMStore) -> None:
    _, token = _agent_and_token(store)
    assert store.credentials.cached_token(token) is None  # never seen: only the database knows
    caller = store.credentials.authenticate_token(token)
    assert caller is not None
    assert store.credentials.cached_token(token) == caller
    statements: list[str] = []
    listener = lambda *args: statements.append(args[2])  # noqa: E731 (before_cursor_execute)
    event.listen(store.engine, "before_cursor_execute", listener)
    try:
        assert store.credentials.authenticate_token(token) == caller
    finally:
        event.remove(store.engine, "before_cursor_execute", listener)
    assert statements == []


def test_changes_through_the_stores_are_seen_at_once(store: CRMStore) -> None:
    agent_id, token = _agent_and_token(store)
    assert store.credentials.authenticate_token(token) is not None
    store.agents.update(agent_id, role="supervisor")
    caller = store.credentials.authenticate_token(token)
    assert caller is not None and caller.agent.role == "supervisor"
    store.agents.update(agent_id, disabled=True)
    assert store.credentials.cached_token(token) is None
    assert store.credentials.authenticate_token(token) is None

    agent_id2 = store.agents.create(name="Kim", email="kim@example.org").id
    token2 = store.credentials.create_token(agent_id2, name="a", ttl=DAY)
    assert store.credentials.authenticate_token(token2.token) is not None
    store.credentials.revoke_token(token2.view.id)
    assert store.credentials.authenticate_token(token2.token) is None


def test_another_process_s_changes_are_seen_once_the_seconds_pass(
    store: CRMStore, other_process: CRMStore, clock: Clock
) -> None:
    _, token = _agent_and_token(store)
    caller = store.credentials.authenticate_token(token)
    assert caller is not None
    [view] = other_process.credentials.list_tokens(caller.agent.id)
    other_process.credentials.revoke_token(view.id)
    clock.now += store.credentials.cache.seconds - 0.1
    assert store.credentials.authenticate_token(token) == caller  # within the cache's seconds
    clock.now += 0.1
    assert store.credentials.authenticate_token(token) is None


def test_an_expired_token_or_one_due_a_last_used_write_is_not_answered_from_memory(store: CRMStore) -> None:
    _, token = _agent_and_token(store)
    caller = store.credentials.authenticate_token(token)
    assert caller is not None
    cache, key = store.credentials.cache, digest(token)
    entry, seen = cache.get(key), cache.now()
    assert entry is not None
    expired = CachedToken(caller, utcnow() - timedelta(seconds=1), entry.last_used_at)
    cache.put(key, expired, seen, cache.generation())
    assert store.credentials.cached_token(token) is None

    # last_used_at is written every LAST_USED_RESOLUTION: an entry past it goes to the database
    long_ago = utcnow() - LAST_USED_RESOLUTION - timedelta(seconds=1)
    with store.engine.begin() as conn:
        conn.execute(update(api_tokens).values(last_used_at=long_ago))
    cache.put(key, CachedToken(caller, entry.expires_at, long_ago), seen, cache.generation())
    assert store.credentials.cached_token(token) is None
    assert store.credentials.authenticate_token(token) == caller
    [view] = store.credentials.list_tokens(caller.agent.id)
    assert view.last_used_at is not None and view.last_used_at > long_ago


def test_failures_are_never_remembered(store: CRMStore) -> None:
    _, token = _agent_and_token(store)
    assert store.credentials.authenticate_token(token + "x") is None
    assert store.credentials.authenticate_token("parley_pat_" + "y" * 43) is None
    assert len(store.credentials.cache) == 0
    assert store.credentials.authenticate_token(token) is not None
    assert len(store.credentials.cache) == 1


def test_a_lookup_that_raced_with_a_change_is_not_remembered(clock: Clock) -> None:
    cache: CredentialCache[str] = CredentialCache(5.0, clock)
    started = cache.generation()  # a lookup reads the database ...
    cache.clear()  # ... while a change commits and clears the cache
    entry = "what the database said"
    cache.put("digest", entry, clock(), started)
    assert cache.get("digest") is None
    cache.put("digest", entry, clock(), cache.generation())
    assert cache.get("digest") == entry
    clock.now += 5.0
    assert cache.get("digest") is None


def test_zero_seconds_turns_the_cache_off(clock: Clock) -> None:
    cache: CredentialCache[str] = CredentialCache(0, clock)
    cache.put("digest", "what the database said", clock(), cache.generation())
    assert not cache.enabled and cache.get("digest") is None


def test_the_cache_is_bounded(clock: Clock) -> None:
    from crm import credential_cache

    cache: CredentialCache[int] = CredentialCache(5.0, clock)
    for i in range(credential_cache.MAX_ENTRIES + 10):
        cache.put(f"d{i}", i, clock(), cache.generation())
    assert len(cache) == credential_cache.MAX_ENTRIES and cache.get("d0") is None
