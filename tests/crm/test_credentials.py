"""Credentials and the audit log in the CRM store, on SQLite and PostgreSQL: tokens work until
revoked or expired, sessions until ended or expired, sign-in links once; only digests and
argon2 hashes are stored; sign-in fails the same way, at the same cost, whatever is wrong; the
audit log pages with a cursor that misses nothing and keeps its summaries bounded."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select, update

import crm.credentials
import crm.hashing
from crm import CRMStore
from crm.audit import MAX_ITEMS, MAX_TEXT, summarise
from crm.errors import Conflict, InvalidRequest, NotFound
from crm.hashing import LINK_PREFIX, TOKEN_PREFIX, check_password, digest
from crm.schema import api_tokens, metadata, sessions, sign_in_links
from hub.models import utcnow

DAY = timedelta(days=1)
PASSWORD = "correct horse battery"


@pytest.fixture
def sam(store: CRMStore) -> str:
    return store.agents.create(name="Sam", email="sam@example.org", role="agent", password=PASSWORD).id


def _every_stored_value(store: CRMStore) -> str:
    """Every value of every table, as one string, to look for secrets in."""
    with store.engine.connect() as conn:
        return repr([conn.execute(select(table)).all() for table in metadata.sorted_tables])


def test_a_token_is_shown_once_stored_as_a_digest_and_authenticates(store: CRMStore, sam: str) -> None:
    new = store.credentials.create_token(sam, name="laptop", ttl=DAY)
    assert new.token.startswith(TOKEN_PREFIX) and len(new.token) > 50
    assert new.token not in repr(new)
    stored = _every_stored_value(store)
    assert new.token not in stored and digest(new.token) in stored
    caller = store.credentials.authenticate_token(new.token)
    assert caller is not None and caller.agent.id == sam and caller.via == "token"
    assert caller.credential_id == new.view.id
    [listed] = store.credentials.list_tokens(sam)
    assert listed.name == "laptop" and listed.hint == new.token[: len(TOKEN_PREFIX) + 4]
    assert listed.last_used_at is not None
    assert digest(new.token) not in listed.model_dump_json()


def test_a_token_stops_when_revoked_or_expired(store: CRMStore, sam: str) -> None:
    revoked = store.credentials.create_token(sam, name="a", ttl=DAY)
    assert store.credentials.revoke_token(revoked.view.id).revoked_at is not None
    assert store.credentials.revoke_token(revoked.view.id).revoked_at is not None  # again: harmless
    assert store.credentials.authenticate_token(revoked.token) is None
    assert store.credentials.list_tokens(sam) == []
    assert len(store.credentials.list_tokens(sam, include_revoked=True)) == 1

    expiring = store.credentials.create_token(sam, name="b", ttl=DAY)
    with store.engine.begin() as conn:
        statement = update(api_tokens).where(api_tokens.c.id == expiring.view.id)
        conn.execute(statement.values(expires_at=utcnow() - timedelta(seconds=1)))
    assert store.credentials.authenticate_token(expiring.token) is None
    with pytest.raises(NotFound):
        store.credentials.revoke_token("tok_missing")


@pytest.mark.parametrize(
    "token", ["", "parley_pat_", "parley_pat_" + "x" * 43, "Bearer x", "parley_otl_x" * 3]
)
def test_unknown_or_malformed_tokens_authenticate_nobody(store: CRMStore, sam: str, token: str) -> None:
    store.credentials.create_token(sam, name="a", ttl=DAY)
    assert store.credentials.authenticate_token(token) is None
    assert store.credentials.authenticate_token(TOKEN_PREFIX + "y" * 10_000) is None


def test_tokens_for_missing_or_disabled_agents_and_bad_lifetimes_are_refused(
    store: CRMStore, sam: str
) -> None:
    with pytest.raises(NotFound):
        store.credentials.create_token("agt_missing", name="a", ttl=DAY)
    with pytest.raises(InvalidRequest):
        store.credentials.create_token(sam, name="a", ttl=timedelta(0))
    store.agents.create(name="Boss", email="boss@example.org", role="admin")
    store.agents.update(sam, disabled=True)
    with pytest.raises(Conflict):
        store.credentials.create_token(sam, name="a", ttl=DAY)
    with pytest.raises(Conflict):
        store.credentials.start_session(sam, ttl=DAY)


def test_sign_in_checks_the_password_and_fails_alike_for_every_reason(
    store: CRMStore, sam: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    wasted: list[str] = []
    real = crm.credentials.waste_a_password_check
    monkeypatch.setattr(crm.credentials, "waste_a_password_check", lambda p: (wasted.append(p), real(p)))
    agent = store.credentials.check_sign_in("SAM@example.org", PASSWORD)
    assert agent is not None and agent.id == sam and not wasted
    assert store.credentials.check_sign_in("sam@example.org", "wrong password!") is None
    assert not wasted  # a real check was made
    store.agents.create(name="Nopass", email="nopass@example.org")
    for email in ("nobody@example.org", "not an email", "nopass@example.org"):
        assert store.credentials.check_sign_in(email, PASSWORD) is None
    # unknown email, malformed email, no password: each cost one (wasted) argon2 check
    assert wasted == [PASSWORD] * 3


def test_an_outdated_password_hash_is_upgraded_on_sign_in(store: CRMStore, sam: str) -> None:
    from crm.schema import agents

    weak = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(PASSWORD)
    with store.engine.begin() as conn:
        conn.execute(update(agents).where(agents.c.id == sam).values(password_hash=weak))
    assert store.credentials.check_sign_in("sam@example.org", PASSWORD) is not None
    with store.engine.connect() as conn:
        upgraded = conn.execute(select(agents.c.password_hash).where(agents.c.id == sam)).scalar_one()
    assert upgraded != weak and check_password(upgraded, PASSWORD) == (True, False)


def test_the_real_hasher_uses_the_libraries_recommended_argon2id(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.undo()  # tests run with a cheap hasher (tests/conftest.py): look at the real one
    real = crm.hashing._hasher
    assert real.type.name == "ID" and real.memory_cost >= 65536 and real.time_cost >= 3


def test_sessions_authenticate_until_ended_or_expired(store: CRMStore, sam: str) -> None:
    session = store.credentials.start_session(sam, ttl=DAY)
    assert session.session_id not in repr(session) and session.csrf_token not in repr(session)
    stored = _every_stored_value(store)
    assert session.session_id not in stored and session.csrf_token not in stored
    caller = store.credentials.authenticate_session(session.session_id)
    assert caller is not None and caller.via == "session" and caller.csrf_digest == digest(session.csrf_token)
    assert store.credentials.end_session(session.session_id)
    assert store.credentials.authenticate_session(session.session_id) is None
    assert not store.credentials.end_session(session.session_id)

    old = store.credentials.start_session(sam, ttl=DAY)
    with store.engine.begin() as conn:
        conn.execute(update(sessions).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert store.credentials.authenticate_session(old.session_id) is None
    store.credentials.start_session(sam, ttl=DAY)  # sweeps the expired one
    with store.engine.connect() as conn:
        assert len(conn.execute(select(sessions)).all()) == 1
    assert store.credentials.authenticate_session("") is None


def test_a_sign_in_link_works_once_before_it_expires(store: CRMStore, sam: str) -> None:
    link = store.credentials.create_sign_in_link(sam, ttl=DAY)
    assert link.token.startswith(LINK_PREFIX) and link.token not in _every_stored_value(store)
    session = store.credentials.redeem_sign_in_link(link.token, session_ttl=DAY)
    assert session is not None and session.agent.id == sam
    assert store.credentials.redeem_sign_in_link(link.token, session_ttl=DAY) is None
    late = store.credentials.create_sign_in_link(sam, ttl=DAY)
    with store.engine.begin() as conn:
        statement = update(sign_in_links).where(sign_in_links.c.used_at.is_(None))
        conn.execute(statement.values(expires_at=utcnow() - timedelta(seconds=1)))
    assert store.credentials.redeem_sign_in_link(late.token, session_ttl=DAY) is None
    assert store.credentials.redeem_sign_in_link(LINK_PREFIX + "nope", session_ttl=DAY) is None
    assert store.credentials.redeem_sign_in_link("parley_pat_x", session_ttl=DAY) is None


def test_racing_redemptions_of_one_link_make_one_session(store: CRMStore, sam: str) -> None:
    link = store.credentials.create_sign_in_link(sam, ttl=DAY)
    sessions_made: list[object] = []
    barrier = threading.Barrier(4)

    def redeem() -> None:
        barrier.wait()
        sessions_made.append(store.credentials.redeem_sign_in_link(link.token, session_ttl=DAY))

    threads = [threading.Thread(target=redeem) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len([s for s in sessions_made if s is not None]) == 1


def test_the_audit_log_pages_with_a_cursor(store: CRMStore) -> None:
    ids = [
        store.audit.append(
            actor_id="agt_1",
            actor="sam@example.org",
            via="token",
            action="contact.merge" if n % 2 else "segment.create",
            target_type="contact",
            target_id=f"con_{n}",
            before={"n": n},
            after={"n": n + 1},
            request_id=f"req-{n}",
        )
        for n in range(5)
    ]
    assert ids == sorted(ids) and len(set(ids)) == 5
    first = store.audit.read(after=0, limit=2)
    rest = store.audit.read(after=first[-1].id, limit=10)
    assert [e.target_id for e in first + rest] == [f"con_{n}" for n in range(5)]
    assert first[0].before == {"n": 0} and first[0].after == {"n": 1} and first[0].request_id == "req-0"
    assert [e.target_id for e in store.audit.read(action="contact.merge")] == ["con_1", "con_3"]
    assert store.audit.read(actor_id="agt_2") == []
    assert store.audit.read(after=ids[-1]) == []


def test_audit_summaries_are_bounded() -> None:
    summary = summarise({"text": "x" * 10_000, "ids": list(range(1000)), "deep": [[[[[["x"]]]]]], "n": None})
    assert len(summary["text"]) < MAX_TEXT + 50 and summary["text"].endswith("(10000 chars)")
    assert len(summary["ids"]) == MAX_ITEMS + 1 and summary["ids"][-1] == "… 980 more of 1000"
    assert summary["deep"] == [[["<list>"]]] and summary["n"] is None
    assert summarise("a\x00b") == "a\\x00b"
