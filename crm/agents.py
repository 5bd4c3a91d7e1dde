"""Agents: the people who work the inbox, their role, what they handle and whether they are in.

What the store promises:

* an email is one agent whatever its case (``email_key`` is unique); emails are checked for
  shape only (one ``@``, no spaces), since ``admin@localhost`` must be valid;
* roles are ranked ``viewer < agent < supervisor < admin`` (:data:`ROLES`); every role can do
  what the roles below it can (:func:`role_at_least`);
* there is always an enabled admin once there is one: demoting or disabling the last enabled
  admin is a :class:`~crm.errors.Conflict`;
* disabling an agent revokes every credential they hold (API tokens, sessions, unused sign-in
  links) in the same transaction, so re-enabling them restores no old credential;
* agents are never deleted (the audit log and assignments refer to them): they are disabled.

Languages, channels, capacity and availability are what routing reads: only ``online`` agents
with ``capacity`` left, the conversation's language and its channel get new conversations.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Connection, Engine, func, insert, select, update

from crm.engine import write
from crm.errors import Conflict, InvalidRequest, NotFound
from crm.hashing import hash_password
from crm.schema import agents, api_tokens, sessions, sign_in_links
from hub.models import utcnow

__all__ = [
    "DEFAULT_CAPACITY",
    "ROLES",
    "AgentStore",
    "AgentView",
    "Availability",
    "Role",
    "agent_view",
    "email_key",
    "revoke_credentials",
    "role_at_least",
]

Role = Literal["viewer", "agent", "supervisor", "admin"]
Availability = Literal["online", "away", "offline"]
#: every role, lowest first: each can do what those before it can
ROLES: tuple[Role, ...] = get_args(Role)
AVAILABILITIES: tuple[Availability, ...] = get_args(Availability)
#: open conversations an agent takes at once unless told otherwise
DEFAULT_CAPACITY = 10
#: the longest password accepted (argon2 takes any length; this bounds the work a request asks)
MAX_PASSWORD_CHARS = 1024
MIN_PASSWORD_CHARS = 12

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")


def role_at_least(role: str, minimum: Role) -> bool:
    """Whether ``role`` may do what ``minimum`` may (an unknown role may do nothing)."""
    return role in ROLES and ROLES.index(role) >= ROLES.index(minimum)


def email_key(email: str) -> str:
    """``email`` as agents are told apart: stripped and lower-cased; ``InvalidRequest`` when it
    is not shaped like an address."""
    key = email.strip().lower()
    if len(key) > 320 or not _EMAIL.fullmatch(key):
        raise InvalidRequest(f"not an email address: {email[:100]!r}")
    return key


def check_password_rules(password: str) -> None:
    """``InvalidRequest`` unless ``password`` is 12 to 1024 characters long."""
    if not MIN_PASSWORD_CHARS <= len(password) <= MAX_PASSWORD_CHARS:
        raise InvalidRequest(
            f"a password must be {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters long"
        )


def _codes(values: Iterable[str], what: str) -> list[str]:
    cleaned = [value.strip().lower() for value in values]
    bad = [value for value in cleaned if not value or len(value) > 64]
    if bad:
        raise InvalidRequest(f"empty or overlong {what} in {list(values)!r}")
    return list(dict.fromkeys(cleaned))


class AgentView(BaseModel):
    """One agent as the API shows it: never a password hash, only whether one is set."""

    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    email: str
    role: Role
    languages: list[str]
    channels: list[str]
    capacity: int
    availability: Availability
    availability_at: datetime
    disabled: bool
    has_password: bool
    created_at: datetime
    updated_at: datetime


def agent_view(row: Any) -> AgentView:
    return AgentView(
        id=row["id"],
        name=row["name"],
        email=row["email"],
        role=row["role"],
        languages=list(row["languages"] or []),
        channels=list(row["channels"] or []),
        capacity=row["capacity"],
        availability=row["availability"],
        availability_at=row["availability_at"],
        disabled=bool(row["disabled"]),
        has_password=row["password_hash"] is not None,
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def revoke_credentials(conn: Connection, agent_id: str, now: datetime) -> None:
    """End every session, revoke every token and burn every unused sign-in link of ``agent_id``."""
    conn.execute(sessions.delete().where(sessions.c.agent_id == agent_id))
    conn.execute(
        update(api_tokens)
        .where(api_tokens.c.agent_id == agent_id, api_tokens.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    conn.execute(
        update(sign_in_links)
        .where(sign_in_links.c.agent_id == agent_id, sign_in_links.c.used_at.is_(None))
        .values(used_at=now)
    )


def _other_enabled_admins(conn: Connection, agent_id: str) -> int:
    query = (
        select(func.count())
        .select_from(agents)
        .where(agents.c.role == "admin", agents.c.disabled.is_(False), agents.c.id != agent_id)
    )
    return conn.execute(query).scalar_one()


class AgentStore:
    """Creates, reads and changes agents (see the module doc for the contract)."""

    def __init__(self, engine: Engine, writer: Engine, on_change: Callable[[], None] = lambda: None) -> None:
        self._engine = engine
        self._writer = writer
        #: called after every change to an agent (the credential cache forgets who it knew)
        self._on_change = on_change

    def create(
        self,
        *,
        name: str,
        email: str,
        role: Role = "agent",
        languages: Sequence[str] = (),
        channels: Sequence[str] = (),
        capacity: int = DEFAULT_CAPACITY,
        availability: Availability = "offline",
        password: str | None = None,
    ) -> AgentView:
        """A new agent; ``Conflict`` when the email is taken, ``InvalidRequest`` for bad values."""
        row = self._new_row(name, email, role, languages, channels, capacity, availability, password)

        def work(conn: Connection) -> None:
            taken = select(agents.c.id).where(agents.c.email_key == row["email_key"])
            if conn.execute(taken).first() is not None:
                raise Conflict(f"an agent with email {row['email']!r} already exists")
            conn.execute(insert(agents).values(row))

        write(self._writer, work)
        return self._require(row["id"])

    def ensure_first_admin(self, *, name: str, email: str) -> AgentView | None:
        """Create an admin named ``name`` when there is no agent at all; ``None`` otherwise.

        Safe when several processes start at once: exactly one creates the admin."""
        row = self._new_row(name, email, "admin", (), (), DEFAULT_CAPACITY, "offline", None)

        def work(conn: Connection) -> bool:
            if conn.execute(select(func.count()).select_from(agents)).scalar_one():
                return False
            conn.execute(insert(agents).values(row))
            return True

        return self._require(row["id"]) if write(self._writer, work) else None

    def _new_row(
        self,
        name: str,
        email: str,
        role: str,
        languages: Sequence[str],
        channels: Sequence[str],
        capacity: int,
        availability: str,
        password: str | None,
    ) -> dict[str, Any]:
        if not name.strip():
            raise InvalidRequest("an agent needs a name")
        self._check_enums(role, availability)
        if capacity < 0:
            raise InvalidRequest("capacity cannot be negative")
        if password is not None:
            check_password_rules(password)
        now = utcnow()
        return {
            "id": f"agt_{secrets.token_hex(8)}",
            "name": name.strip(),
            "email": email.strip(),
            "email_key": email_key(email),
            "role": role,
            "languages": _codes(languages, "language"),
            "channels": _codes(channels, "channel"),
            "capacity": capacity,
            "availability": availability,
            "availability_at": now,
            "disabled": False,
            "password_hash": hash_password(password) if password is not None else None,
            "created_at": now,
            "updated_at": now,
        }

    @staticmethod
    def _check_enums(role: str | None, availability: str | None) -> None:
        if role is not None and role not in ROLES:
            raise InvalidRequest(f"unknown role {role!r}; roles: {', '.join(ROLES)}")
        if availability is not None and availability not in AVAILABILITIES:
            raise InvalidRequest(f"unknown availability {availability!r}: {', '.join(AVAILABILITIES)}")

    def get(self, agent_id: str) -> AgentView | None:
        with self._engine.connect() as conn:
            row = conn.execute(select(agents).where(agents.c.id == agent_id)).mappings().first()
        return agent_view(row) if row is not None else None

    def _require(self, agent_id: str) -> AgentView:
        found = self.get(agent_id)
        if found is None:
            raise NotFound(f"no agent {agent_id}")
        return found

    def by_email(self, email: str) -> AgentView | None:
        """The agent with ``email`` (any case), or ``None``."""
        try:
            key = email_key(email)
        except InvalidRequest:
            return None
        with self._engine.connect() as conn:
            row = conn.execute(select(agents).where(agents.c.email_key == key)).mappings().first()
        return agent_view(row) if row is not None else None

    def list_all(self, *, include_disabled: bool = True) -> list[AgentView]:
        """Every agent by name (the enabled ones only, without ``include_disabled``)."""
        query = select(agents).order_by(agents.c.name, agents.c.id)
        if not include_disabled:
            query = query.where(agents.c.disabled.is_(False))
        with self._engine.connect() as conn:
            return [agent_view(row) for row in conn.execute(query).mappings()]

    def count(self) -> int:
        with self._engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(agents)).scalar_one()

    def update(
        self,
        agent_id: str,
        *,
        name: str | None = None,
        role: Role | None = None,
        languages: Sequence[str] | None = None,
        channels: Sequence[str] | None = None,
        capacity: int | None = None,
        availability: Availability | None = None,
        disabled: bool | None = None,
    ) -> AgentView:
        """Change the fields given (``None`` leaves one as it is). ``NotFound``; ``Conflict``
        when this would leave no enabled admin; disabling revokes the agent's credentials."""
        self._check_enums(role, availability)
        values: dict[str, Any] = {}
        if name is not None:
            if not name.strip():
                raise InvalidRequest("an agent needs a name")
            values["name"] = name.strip()
        if role is not None:
            values["role"] = role
        if languages is not None:
            values["languages"] = _codes(languages, "language")
        if channels is not None:
            values["channels"] = _codes(channels, "channel")
        if capacity is not None:
            if capacity < 0:
                raise InvalidRequest("capacity cannot be negative")
            values["capacity"] = capacity
        if disabled is not None:
            values["disabled"] = disabled

        def work(conn: Connection) -> None:
            row = conn.execute(select(agents).where(agents.c.id == agent_id)).mappings().first()
            if row is None:
                raise NotFound(f"no agent {agent_id}")
            now = utcnow()
            stays_admin = values.get("role", row["role"]) == "admin" and not values.get(
                "disabled", row["disabled"]
            )
            if row["role"] == "admin" and not stays_admin and not _other_enabled_admins(conn, agent_id):
                raise Conflict("this is the last enabled admin: make another admin first")
            if availability is not None and availability != row["availability"]:
                values.update(availability=availability, availability_at=now)
            if values.get("disabled") and not row["disabled"]:
                revoke_credentials(conn, agent_id, now)
            conn.execute(update(agents).where(agents.c.id == agent_id).values({**values, "updated_at": now}))

        try:
            write(self._writer, work)
        finally:
            self._on_change()
        return self._require(agent_id)

    def set_password(self, agent_id: str, password: str | None) -> AgentView:
        """Set (or, with ``None``, remove) the agent's password; ``InvalidRequest`` when it is
        shorter than 12 or longer than 1024 characters."""
        if password is not None:
            check_password_rules(password)
        hashed = hash_password(password) if password is not None else None

        def work(conn: Connection) -> None:
            statement = (
                update(agents)
                .where(agents.c.id == agent_id)
                .values(password_hash=hashed, updated_at=utcnow())
            )
            if conn.execute(statement).rowcount == 0:
                raise NotFound(f"no agent {agent_id}")

        try:
            write(self._writer, work)
        finally:
            self._on_change()
        return self._require(agent_id)
