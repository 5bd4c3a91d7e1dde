"""Credentials of agents: API tokens, sign-in sessions, one-time sign-in links, password checks.

What the store promises (the API's authentication is built on it):

* a secret is returned once, when it is made (:class:`NewToken`, :class:`NewSession`,
  :class:`NewLink`; their ``repr`` hides it) and stored only as a SHA-256 digest; no method
  returns a digest or a password hash;
* a token authenticates until it expires or is revoked, a session until it expires or ends,
  and neither once its agent is disabled (:meth:`CredentialStore.authenticate_token`,
  :meth:`CredentialStore.authenticate_session` answer ``None``, never why);
* a sign-in link works once, before it expires: redeeming is atomic, so two requests racing
  with one link get one session between them;
* :meth:`CredentialStore.check_sign_in` takes as long for an unknown email, a disabled agent
  or an agent without a password as for a wrong password, and answers all of them ``None``.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Connection, Engine, delete, insert, select, update

from crm.agents import AgentView, agent_view, email_key
from crm.credential_cache import CredentialCache
from crm.engine import write
from crm.errors import Conflict, InvalidRequest, NotFound
from crm.hashing import (
    LINK_PREFIX,
    TOKEN_PREFIX,
    check_password,
    digest,
    hash_password,
    new_secret,
    waste_a_password_check,
)
from crm.schema import agents, api_tokens, sessions, sign_in_links
from hub.models import utcnow

__all__ = ["Authenticated", "CredentialStore", "NewLink", "NewSession", "NewToken", "TokenView", "Via"]

Via = Literal["token", "session"]
#: a token's ``last_used_at`` is written at most this often (not on every request)
LAST_USED_RESOLUTION = timedelta(minutes=5)
#: longer presented secrets are refused unread (ours are about 54 characters)
MAX_SECRET_CHARS = 256


@dataclass(frozen=True)
class Authenticated:
    """Who a credential belongs to and what it is: a token (``credential_id`` its id) or a
    session (``credential_id`` its digest; ``csrf_digest`` what the CSRF token must match)."""

    agent: AgentView
    via: Via
    credential_id: str
    csrf_digest: str | None = field(default=None, repr=False)


class TokenView(BaseModel):
    """An API token as listed: never the token or its digest; ``hint`` is its first characters."""

    model_config = ConfigDict(frozen=True)

    id: str
    agent_id: str
    name: str
    hint: str
    created_at: datetime
    expires_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True)
class CachedToken:
    """A token that authenticated, with what decides how long the answer may be reused."""

    caller: Authenticated
    expires_at: datetime
    #: the token's ``last_used_at`` as stored (None: never written)
    last_used_at: datetime | None


@dataclass(frozen=True)
class NewToken:
    token: str = field(repr=False)
    view: TokenView


@dataclass(frozen=True)
class NewSession:
    agent: AgentView
    session_id: str = field(repr=False)
    csrf_token: str = field(repr=False)
    expires_at: datetime


@dataclass(frozen=True)
class NewLink:
    agent_id: str
    token: str = field(repr=False)
    expires_at: datetime


def _token_view(row: Any) -> TokenView:
    return TokenView(
        id=row["id"],
        agent_id=row["agent_id"],
        name=row["name"],
        hint=row["hint"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        last_used_at=row["last_used_at"],
        revoked_at=row["revoked_at"],
    )


def _presentable(secret: str, prefix: str) -> bool:
    return secret.startswith(prefix) and len(secret) <= MAX_SECRET_CHARS


def _enabled_agent(conn: Connection, agent_id: str) -> Any:
    row = conn.execute(select(agents).where(agents.c.id == agent_id)).mappings().first()
    if row is None:
        raise NotFound(f"no agent {agent_id}")
    if row["disabled"]:
        raise Conflict(f"agent {agent_id} is disabled")
    return row


def _check_ttl(ttl: timedelta) -> None:
    if ttl <= timedelta(0):
        raise InvalidRequest("a credential must live a positive time")


class CredentialStore:
    """API tokens, sessions and sign-in links (see the module doc for the contract)."""

    def __init__(
        self, engine: Engine, writer: Engine, cache: CredentialCache[CachedToken] | None = None
    ) -> None:
        self._engine = engine
        self._writer = writer
        #: tokens that authenticated lately (``crm.credential_cache``); off unless given
        self.cache: CredentialCache[CachedToken] = cache if cache is not None else CredentialCache(0)

    # --- API tokens ------------------------------------------------------------------------

    def create_token(self, agent_id: str, *, name: str, ttl: timedelta) -> NewToken:
        """A new API token for ``agent_id``, valid for ``ttl``; ``NotFound``, ``Conflict`` when
        the agent is disabled."""
        _check_ttl(ttl)
        token = new_secret(TOKEN_PREFIX)
        now = utcnow()
        row = {
            "id": f"tok_{secrets.token_hex(8)}",
            "agent_id": agent_id,
            "name": name.strip()[:256] or "token",
            "token_digest": digest(token),
            "hint": token[: len(TOKEN_PREFIX) + 4],
            "created_at": now,
            "expires_at": now + ttl,
            "last_used_at": None,
            "revoked_at": None,
        }

        def work(conn: Connection) -> None:
            _enabled_agent(conn, agent_id)
            conn.execute(insert(api_tokens).values(row))

        write(self._writer, work)
        return NewToken(token=token, view=_token_view(row))

    def list_tokens(self, agent_id: str, *, include_revoked: bool = False) -> list[TokenView]:
        """``agent_id``'s tokens, newest first (revoked ones too with ``include_revoked``)."""
        query = (
            select(api_tokens)
            .where(api_tokens.c.agent_id == agent_id)
            .order_by(api_tokens.c.created_at.desc(), api_tokens.c.id)
        )
        if not include_revoked:
            query = query.where(api_tokens.c.revoked_at.is_(None))
        with self._engine.connect() as conn:
            return [_token_view(row) for row in conn.execute(query).mappings()]

    def get_token(self, token_id: str) -> TokenView | None:
        with self._engine.connect() as conn:
            row = conn.execute(select(api_tokens).where(api_tokens.c.id == token_id)).mappings().first()
        return _token_view(row) if row is not None else None

    def revoke_token(self, token_id: str) -> TokenView:
        """Revoke a token (again is harmless); ``NotFound``."""

        def work(conn: Connection) -> None:
            row = conn.execute(select(api_tokens).where(api_tokens.c.id == token_id)).mappings().first()
            if row is None:
                raise NotFound(f"no token {token_id}")
            if row["revoked_at"] is None:
                statement = update(api_tokens).where(api_tokens.c.id == token_id).values(revoked_at=utcnow())
                conn.execute(statement)

        try:
            write(self._writer, work)
        finally:
            self.cache.clear()
        view = self.get_token(token_id)
        assert view is not None
        return view

    def cached_token(self, token: str) -> Authenticated | None:
        """The agent ``token`` authenticated within the cache's seconds, or ``None`` when only
        the database can say (:meth:`authenticate_token` asks it); never reads the database."""
        if not self.cache.enabled or not _presentable(token, TOKEN_PREFIX):
            return None
        entry = self.cache.get(digest(token))
        if entry is None:
            return None
        now = utcnow()
        if entry.expires_at <= now:
            return None
        if entry.last_used_at is None or now - entry.last_used_at > LAST_USED_RESOLUTION:
            return None  # due to be written: the database path writes it
        return entry.caller

    def authenticate_token(self, token: str) -> Authenticated | None:
        """The agent ``token`` authenticates, or ``None`` (unknown, expired, revoked, disabled).

        A token that authenticated within ``auth.credential_cache_seconds`` is answered from
        memory (``crm.credential_cache`` says when a change is seen)."""
        cached = self.cached_token(token)
        if cached is not None:
            return cached
        if not _presentable(token, TOKEN_PREFIX):
            return None
        key = digest(token)
        generation, seen = self.cache.generation(), self.cache.now()
        query = (
            select(
                agents,
                api_tokens.c.id.label("token_id"),
                api_tokens.c.expires_at.label("token_expires_at"),
                api_tokens.c.revoked_at.label("token_revoked_at"),
                api_tokens.c.last_used_at.label("token_last_used_at"),
            )
            .join(agents, agents.c.id == api_tokens.c.agent_id)
            .where(api_tokens.c.token_digest == key)
        )
        with self._engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        now = utcnow()
        if row is None or row["disabled"] or row["token_revoked_at"] is not None:
            return None
        if row["token_expires_at"] <= now:
            return None
        last_used = row["token_last_used_at"]
        if last_used is None or now - last_used > LAST_USED_RESOLUTION:
            statement = update(api_tokens).where(api_tokens.c.id == row["token_id"]).values(last_used_at=now)
            write(self._writer, lambda conn: conn.execute(statement))
            last_used = now
        caller = Authenticated(agent=agent_view(row), via="token", credential_id=row["token_id"])
        self.cache.put(key, CachedToken(caller, row["token_expires_at"], last_used), seen, generation)
        return caller

    # --- passwords and sessions ------------------------------------------------------------

    def check_sign_in(self, email: str, password: str) -> AgentView | None:
        """The enabled agent whose email and password these are, or ``None`` whatever the
        reason, taking as long either way; re-hashes a password whose parameters aged."""
        try:
            key = email_key(email)
        except InvalidRequest:
            key = None
        row = None
        if key is not None:
            with self._engine.connect() as conn:
                row = conn.execute(select(agents).where(agents.c.email_key == key)).mappings().first()
        if row is None or row["disabled"] or row["password_hash"] is None:
            waste_a_password_check(password)
            return None
        matches, needs_rehash = check_password(row["password_hash"], password)
        if not matches:
            return None
        if needs_rehash:
            rehashed = hash_password(password)
            statement = update(agents).where(agents.c.id == row["id"]).values(password_hash=rehashed)
            write(self._writer, lambda conn: conn.execute(statement))
        return agent_view(row)

    def start_session(self, agent_id: str, *, ttl: timedelta) -> NewSession:
        """A new session for ``agent_id`` (``NotFound``; ``Conflict`` when disabled)."""
        _check_ttl(ttl)
        return write(self._writer, lambda conn: self._insert_session(conn, agent_id, ttl))

    @staticmethod
    def _insert_session(conn: Connection, agent_id: str, ttl: timedelta) -> NewSession:
        row = _enabled_agent(conn, agent_id)
        now = utcnow()
        # expired sessions are of no use to anyone: sweep them whenever one starts
        conn.execute(delete(sessions).where(sessions.c.expires_at <= now))
        session_id, csrf_token = new_secret(), new_secret()
        conn.execute(
            insert(sessions).values(
                id_digest=digest(session_id),
                agent_id=agent_id,
                csrf_digest=digest(csrf_token),
                created_at=now,
                expires_at=now + ttl,
            )
        )
        return NewSession(
            agent=agent_view(row), session_id=session_id, csrf_token=csrf_token, expires_at=now + ttl
        )

    def authenticate_session(self, session_id: str) -> Authenticated | None:
        """The agent a session cookie's value authenticates, or ``None`` (unknown, expired,
        ended, disabled)."""
        if not session_id or len(session_id) > MAX_SECRET_CHARS:
            return None
        query = (
            select(
                agents,
                sessions.c.id_digest.label("session_digest"),
                sessions.c.csrf_digest.label("session_csrf_digest"),
                sessions.c.expires_at.label("session_expires_at"),
            )
            .join(agents, agents.c.id == sessions.c.agent_id)
            .where(sessions.c.id_digest == digest(session_id))
        )
        with self._engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        if row is None or row["disabled"] or row["session_expires_at"] <= utcnow():
            return None
        return Authenticated(
            agent=agent_view(row),
            via="session",
            credential_id=row["session_digest"],
            csrf_digest=row["session_csrf_digest"],
        )

    def end_session(self, session_id: str) -> bool:
        """End a session; whether there was one."""
        statement = delete(sessions).where(sessions.c.id_digest == digest(session_id))
        return bool(write(self._writer, lambda conn: conn.execute(statement).rowcount))

    # --- one-time sign-in links ------------------------------------------------------------

    def create_sign_in_link(self, agent_id: str, *, ttl: timedelta) -> NewLink:
        """A sign-in token for ``agent_id`` that works once within ``ttl``."""
        _check_ttl(ttl)
        token = new_secret(LINK_PREFIX)
        now = utcnow()

        def work(conn: Connection) -> None:
            _enabled_agent(conn, agent_id)
            conn.execute(
                insert(sign_in_links).values(
                    token_digest=digest(token), agent_id=agent_id, created_at=now, expires_at=now + ttl
                )
            )

        write(self._writer, work)
        return NewLink(agent_id=agent_id, token=token, expires_at=now + ttl)

    def redeem_sign_in_link(self, token: str, *, session_ttl: timedelta) -> NewSession | None:
        """Use a sign-in token: a new session for its agent, or ``None`` when the token is
        unknown, used, expired or its agent disabled. One use only, even under races."""
        if not _presentable(token, LINK_PREFIX):
            return None
        _check_ttl(session_ttl)
        token_digest = digest(token)

        def work(conn: Connection) -> NewSession | None:
            now = utcnow()
            row = (
                conn.execute(select(sign_in_links).where(sign_in_links.c.token_digest == token_digest))
                .mappings()
                .first()
            )
            if row is None or row["used_at"] is not None or row["expires_at"] <= now:
                return None
            claim = (
                update(sign_in_links)
                .where(sign_in_links.c.token_digest == token_digest, sign_in_links.c.used_at.is_(None))
                .values(used_at=now)
            )
            if conn.execute(claim).rowcount != 1:
                return None
            try:
                return self._insert_session(conn, row["agent_id"], session_ttl)
            except (NotFound, Conflict):
                return None  # the link is burnt all the same

        return write(self._writer, work)
