"""Choosing an agent for a conversation, inside the caller's routing transaction.

The caller (``crm.routing``) holds the routing lock, so the loads read here are the loads: no
other process assigns between the read and the write. An agent **fits** a conversation when

* they are enabled and ``online``;
* their load (conversations assigned to them and not resolved, :func:`loads`) is below their
  capacity;
* they speak its language (an agent who declared no languages takes any; a conversation whose
  language is unknown fits any agent);
* they handle its channel (an agent who declared no channels takes any).

Modes (``crm.rules.AssignSpec``): ``agent`` - the named agent if they fit; ``round_robin`` - the
next fitting member of the team after the one who got the team's last conversation
(``team_cursors``), members in id order; ``least_loaded`` - the fitting member with the lowest
load ÷ capacity (ties: lower load, then id); ``sticky`` - the agent most recently assigned a
conversation of the same contact, if they fit (and belong to ``team_id`` when one is given).
Each spec's ``fallback`` is tried in turn when its own mode finds nobody.

What a pool reads of the team set-up (the enabled agents and every team's members, a
:class:`Roster`) may be handed to it, read a moment earlier: the flow keeps one for
``routing.refresh_s`` between its batches. Loads and round-robin cursors are always read in the
transaction.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from functools import lru_cache

from sqlalchemy import Connection, Text, bindparam, cast, func, select

from crm.bulk import bulk_upsert
from crm.rules import AssignSpec
from crm.schema import agents, conversation_routing, team_cursors, team_members
from hub.models import utcnow

__all__ = ["Candidate", "Pool", "Roster", "Subject", "fits", "loads", "read_roster"]

#: statuses that hold an agent's capacity
_HOLDING = ("open", "pending", "snoozed")


@dataclass(frozen=True)
class Subject:
    """What assignment needs to know about one conversation."""

    conversation_id: str
    channel: str
    language: str | None
    contact_id: str | None


@dataclass(frozen=True)
class Candidate:
    """An agent as assignment sees them."""

    id: str
    capacity: int
    load: int
    languages: tuple[str, ...]
    channels: tuple[str, ...]
    online: bool

    def fits(self, subject: Subject) -> bool:
        return fits(self, subject)


def fits(agent: Candidate, subject: Subject) -> bool:
    """Whether ``agent`` may take ``subject`` now (see the module doc)."""
    return _fits(agent, agent.load, subject)


def _fits(agent: Candidate, load: int, subject: Subject) -> bool:
    """:func:`fits` with ``agent``'s load given apart (the pool keeps loads in a dict)."""
    if not agent.online or load >= agent.capacity:
        return False
    language = (subject.language or "").lower()
    if agent.languages and language and language != "und" and language not in agent.languages:
        return False
    return not agent.channels or subject.channel.lower() in agent.channels


def loads(conn: Connection, agent_ids: Iterable[str] | None = None) -> dict[str, int]:
    """Conversations assigned to each agent and not resolved (nor folded away); every agent
    holding any when ``agent_ids`` is None."""
    query = _LOADS
    ids = None if agent_ids is None else sorted(set(agent_ids))
    if ids is not None:
        query = query.where(conversation_routing.c.assignee.in_(ids))
    found = dict.fromkeys(ids or (), 0)
    for agent_id, count in conn.execute(query):
        found[agent_id] = int(count)
    return found


# Statements built once: a flow batch's routing transaction runs each of them, some once per
# conversation, and building a statement cost more than running it.
_LOADS = (
    select(conversation_routing.c.assignee, func.count())
    .where(
        conversation_routing.c.assignee.is_not(None),
        conversation_routing.c.status.in_(_HOLDING),
        conversation_routing.c.folded_into.is_(None),
    )
    .group_by(conversation_routing.c.assignee)
)
_AGENTS = select(
    agents.c.id,
    agents.c.capacity,
    cast(agents.c.languages, Text),
    cast(agents.c.channels, Text),
    agents.c.availability,
).where(agents.c.disabled.is_(False))
#: every team's members, and every team's round-robin cursor: read whole on first use in a
#: transaction, one query each (a flow batch assigns to several teams: a query per team cost more)
_MEMBERS = select(team_members.c.team_id, team_members.c.agent_id).order_by(
    team_members.c.team_id, team_members.c.agent_id
)
_CURSORS = select(team_cursors.c.team_id, team_cursors.c.last_agent_id)
_STICKY = (
    select(conversation_routing.c.last_assignee)
    .where(
        conversation_routing.c.contact_id == bindparam("contact_id"),
        conversation_routing.c.last_assignee.is_not(None),
        conversation_routing.c.conversation_id != bindparam("conversation_id"),
    )
    .order_by(conversation_routing.c.assigned_at.desc())
    .limit(1)
)


@lru_cache(maxsize=4096)
def _candidate(
    agent_id: str, capacity: int, languages: str | None, channels: str | None, availability: str
) -> Candidate:
    """An agent as stored (their lists as stored JSON text), load 0: built once per distinct
    row, since every routing transaction reads every agent and decoding them was most of that."""
    return Candidate(
        id=agent_id,
        capacity=int(capacity),
        load=0,
        languages=tuple(json.loads(languages) or ()) if languages else (),
        channels=tuple(json.loads(channels) or ()) if channels else (),
        online=availability == "online",
    )


@dataclass(frozen=True)
class Roster:
    """The team set-up a pool chooses from: the enabled agents as stored (load 0) and every
    team's members in id order. Read-only once built (pools share it)."""

    agents: Mapping[str, Candidate]
    members: Mapping[str, list[str]]


def read_roster(conn: Connection) -> Roster:
    """The enabled agents and every team's members, two queries on ``conn``."""
    agents = {row[0]: _candidate(*row) for row in conn.execute(_AGENTS)}
    members: dict[str, list[str]] = {}
    for team, agent_id in conn.execute(_MEMBERS):
        members.setdefault(team, []).append(agent_id)
    return Roster(agents, members)


class Pool:
    """The agents of one routing transaction: read once (agents, loads, teams, cursors) on
    first use, then kept current in memory as this transaction assigns, so choosing an agent
    costs no query but sticky's. Valid only inside the transaction that holds the routing lock;
    :meth:`flush` writes the round-robin cursors it moved."""

    def __init__(
        self,
        conn: Connection,
        before_read: Callable[[], None] = lambda: None,
        before_contact_read: Callable[[str, str], None] | None = None,
        roster: Roster | None = None,
    ) -> None:
        self._conn = conn
        #: the team set-up: read before the transaction, or here on first use
        self._roster = roster
        #: called before reading conversation rows, so this transaction's changes are written
        self._before_read = before_read
        #: called before sticky reads the rows of a contact but one conversation (the contact,
        #: the conversation): needs only this transaction's changes to those rows written
        self._before_contact_read = before_contact_read or (lambda _contact, _but: before_read())
        #: the roster's agents once their loads are read (every agent's current load, apart)
        self._agents: Mapping[str, Candidate] | None = None
        self._loads: dict[str, int] = {}
        #: team id -> the round-robin cursor (read on first use)
        self._cursors: dict[str, str | None] | None = None
        self._moved: set[str] = set()

    def _team_setup(self) -> Roster:
        if self._roster is None:
            self._roster = read_roster(self._conn)
        return self._roster

    def _read(self) -> Mapping[str, Candidate]:
        if self._agents is None:
            agents = self._team_setup().agents
            self._before_read()
            self._loads = loads(self._conn)
            self._agents = agents
        return self._agents

    def agent(self, agent_id: str) -> Candidate | None:
        """The enabled agent ``agent_id`` with their current load; None: no such agent."""
        found = self._read().get(agent_id)
        return None if found is None else replace(found, load=self._loads.get(agent_id, 0))

    def agents(self) -> dict[str, Candidate]:
        """Every enabled agent with their current load."""
        return {
            agent_id: replace(a, load=self._loads.get(agent_id, 0)) for agent_id, a in self._read().items()
        }

    def members(self, team_id: str) -> list[str]:
        """The team's members in id order ([] for a team with none, or none at all)."""
        return self._team_setup().members.get(team_id, [])

    def _cursor(self, team_id: str) -> str | None:
        if self._cursors is None:
            self._cursors = {team: last for team, last in self._conn.execute(_CURSORS)}
        return self._cursors.get(team_id)

    def fitting(self, agent_id: str, subject: Subject) -> bool:
        agent = self._read().get(agent_id)
        return agent is not None and _fits(agent, self._loads.get(agent_id, 0), subject)

    def took(self, agent_id: str | None, count: int = 1) -> None:
        """Record that ``agent_id`` gained (or, negative, lost) ``count`` conversations."""
        if agent_id and agent_id in self._read():
            self._loads[agent_id] = self._loads.get(agent_id, 0) + count

    def round_robin(self, team_id: str, subject: Subject) -> str | None:
        members = self.members(team_id)
        last = self._cursor(team_id)
        start = members.index(last) + 1 if last in members else 0
        pool, load = self._read(), self._loads
        for agent_id in members[start:] + members[:start]:
            agent = pool.get(agent_id)
            if agent is not None and _fits(agent, load.get(agent_id, 0), subject):
                assert self._cursors is not None  # read by _cursor above
                self._cursors[team_id] = agent_id
                self._moved.add(team_id)
                return agent_id
        return None

    def least_loaded(self, team_id: str, subject: Subject) -> str | None:
        pool, fitting = self._read(), []
        for agent_id in self.members(team_id):
            if self.fitting(agent_id, subject):  # capacity is above the load, so not 0
                load = self._loads.get(agent_id, 0)
                fitting.append((load / pool[agent_id].capacity, load, agent_id))
        return min(fitting)[2] if fitting else None

    def sticky(self, spec: AssignSpec, subject: Subject) -> str | None:
        if subject.contact_id is None:
            return None
        self._before_contact_read(subject.contact_id, subject.conversation_id)
        previous = self._conn.execute(
            _STICKY, {"contact_id": subject.contact_id, "conversation_id": subject.conversation_id}
        ).scalar()
        if previous is None or (spec.team_id is not None and previous not in self.members(spec.team_id)):
            return None
        return previous if self.fitting(previous, subject) else None

    def _one(self, spec: AssignSpec, subject: Subject) -> str | None:
        if spec.mode == "agent":
            assert spec.agent_id is not None  # AssignSpec checks it
            return spec.agent_id if self.fitting(spec.agent_id, subject) else None
        if spec.mode == "round_robin":
            assert spec.team_id is not None
            return self.round_robin(spec.team_id, subject)
        if spec.mode == "least_loaded":
            assert spec.team_id is not None
            return self.least_loaded(spec.team_id, subject)
        return self.sticky(spec, subject)

    def choose(self, spec: AssignSpec, subject: Subject) -> str | None:
        """The agent ``spec`` (or, failing it, its fallbacks) picks for ``subject``, counted in
        their load; ``None`` when nobody fits."""
        for step in spec.chain():
            chosen = self._one(step, subject)
            if chosen is not None:
                self.took(chosen)
                return chosen
        return None

    def flush(self) -> None:
        """Write the round-robin cursors this transaction moved, in one statement."""
        if not self._moved:
            return
        assert self._cursors is not None  # a cursor moves only once read
        rows = [{"team_id": team, "last_agent_id": self._cursors[team]} for team in sorted(self._moved)]
        bulk_upsert(self._conn, team_cursors, "team_id", rows, same={"updated_at": utcnow()})
        self._moved.clear()
