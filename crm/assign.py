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
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from crm.rules import AssignSpec
from crm.schema import agents, conversation_routing, team_cursors, team_members
from hub.models import utcnow

__all__ = ["Candidate", "Subject", "choose", "fits", "loads"]

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
    if not agent.online or agent.load >= agent.capacity:
        return False
    language = (subject.language or "").lower()
    if agent.languages and language and language != "und" and language not in agent.languages:
        return False
    return not agent.channels or subject.channel.lower() in agent.channels


def loads(conn: Connection, agent_ids: Iterable[str]) -> dict[str, int]:
    """Conversations assigned to each agent and not resolved (nor folded away)."""
    ids = sorted(set(agent_ids))
    found = dict.fromkeys(ids, 0)
    if not ids:
        return found
    query = (
        select(conversation_routing.c.assignee, func.count())
        .where(
            conversation_routing.c.assignee.in_(ids),
            conversation_routing.c.status.in_(_HOLDING),
            conversation_routing.c.folded_into.is_(None),
        )
        .group_by(conversation_routing.c.assignee)
    )
    for agent_id, count in conn.execute(query):
        found[agent_id] = int(count)
    return found


def candidates(conn: Connection, agent_ids: Sequence[str]) -> dict[str, Candidate]:
    """The enabled agents among ``agent_ids`` with their current loads, by id."""
    if not agent_ids:
        return {}
    rows = conn.execute(
        select(
            agents.c.id, agents.c.capacity, agents.c.languages, agents.c.channels, agents.c.availability
        ).where(agents.c.id.in_(sorted(set(agent_ids))), agents.c.disabled.is_(False))
    ).all()
    current = loads(conn, [row.id for row in rows])
    return {
        row.id: Candidate(
            id=row.id,
            capacity=int(row.capacity),
            load=current[row.id],
            languages=tuple(row.languages or ()),
            channels=tuple(row.channels or ()),
            online=row.availability == "online",
        )
        for row in rows
    }


def _members(conn: Connection, team_id: str) -> list[str]:
    query = select(team_members.c.agent_id).where(team_members.c.team_id == team_id).order_by(team_members.c.agent_id)
    return list(conn.execute(query).scalars())


def _round_robin(conn: Connection, team_id: str, subject: Subject) -> str | None:
    members = _members(conn, team_id)
    pool = candidates(conn, members)
    last = conn.execute(select(team_cursors.c.last_agent_id).where(team_cursors.c.team_id == team_id)).scalar()
    start = members.index(last) + 1 if last in members else 0
    for agent_id in members[start:] + members[:start]:
        agent = pool.get(agent_id)
        if agent is not None and agent.fits(subject):
            values: dict[str, Any] = {"last_agent_id": agent_id, "updated_at": utcnow()}
            if last is None:
                conn.execute(insert(team_cursors).values(team_id=team_id, **values))
            else:
                conn.execute(update(team_cursors).where(team_cursors.c.team_id == team_id).values(values))
            return agent_id
    return None


def _least_loaded(conn: Connection, team_id: str, subject: Subject) -> str | None:
    fitting = [a for a in candidates(conn, _members(conn, team_id)).values() if a.fits(subject)]
    if not fitting:
        return None
    return min(fitting, key=lambda a: (a.load / a.capacity, a.load, a.id)).id


def _sticky(conn: Connection, spec: AssignSpec, subject: Subject) -> str | None:
    if subject.contact_id is None:
        return None
    query = (
        select(conversation_routing.c.last_assignee)
        .where(
            conversation_routing.c.contact_id == subject.contact_id,
            conversation_routing.c.last_assignee.is_not(None),
            conversation_routing.c.conversation_id != subject.conversation_id,
        )
        .order_by(conversation_routing.c.assigned_at.desc())
        .limit(1)
    )
    previous = conn.execute(query).scalar()
    if previous is None:
        return None
    if spec.team_id is not None and previous not in _members(conn, spec.team_id):
        return None
    agent = candidates(conn, [previous]).get(previous)
    return previous if agent is not None and agent.fits(subject) else None


def _one(conn: Connection, spec: AssignSpec, subject: Subject) -> str | None:
    if spec.mode == "agent":
        assert spec.agent_id is not None  # AssignSpec checks it
        agent = candidates(conn, [spec.agent_id]).get(spec.agent_id)
        return spec.agent_id if agent is not None and agent.fits(subject) else None
    if spec.mode == "round_robin":
        assert spec.team_id is not None
        return _round_robin(conn, spec.team_id, subject)
    if spec.mode == "least_loaded":
        assert spec.team_id is not None
        return _least_loaded(conn, spec.team_id, subject)
    return _sticky(conn, spec, subject)


def choose(conn: Connection, spec: AssignSpec, subject: Subject) -> str | None:
    """The agent ``spec`` (or, failing it, its fallbacks) picks for ``subject``; ``None`` when
    nobody fits. Round robin advances its team's cursor when it picks someone."""
    for step in spec.chain():
        chosen = _one(conn, step, subject)
        if chosen is not None:
            return chosen
    return None
