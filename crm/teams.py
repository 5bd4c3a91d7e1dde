"""Teams (queues of work): a unique name and a set of agents.

What the store promises: a team name is unique (``Conflict`` otherwise); membership is a set
(adding a member twice or removing a non-member changes nothing and says so); deleting a team
removes its memberships, never its agents; a team's ``member_ids`` are sorted. Routing reads
teams to spread a queue's conversations over their members.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Connection, Engine, delete, insert, select, update

from crm.engine import write
from crm.errors import Conflict, InvalidRequest, NotFound
from crm.schema import agents, team_members, teams
from hub.models import utcnow

__all__ = ["TeamStore", "TeamView"]


class TeamView(BaseModel):
    """One team and the ids of its members."""

    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    description: str | None
    member_ids: list[str]
    created_at: datetime
    updated_at: datetime


def _name(name: str) -> str:
    cleaned = name.strip()
    if not cleaned or len(cleaned) > 256:
        raise InvalidRequest("a team name is 1 to 256 characters")
    return cleaned


class TeamStore:
    """Creates, reads, renames and deletes teams, and changes their members."""

    def __init__(self, engine: Engine, writer: Engine) -> None:
        self._engine = engine
        self._writer = writer

    def create(
        self, name: str, *, description: str | None = None, member_ids: Sequence[str] = ()
    ) -> TeamView:
        """A new team; ``Conflict`` when the name is taken, ``NotFound`` for an unknown member."""
        now = utcnow()
        row: dict[str, Any] = {
            "id": f"team_{secrets.token_hex(8)}",
            "name": _name(name),
            "description": description,
            "created_at": now,
            "updated_at": now,
        }

        def work(conn: Connection) -> None:
            self._check_name_free(conn, row["name"], None)
            conn.execute(insert(teams).values(row))
            for agent_id in dict.fromkeys(member_ids):
                self._add(conn, row["id"], agent_id, now)

        write(self._writer, work)
        return self._require(row["id"])

    @staticmethod
    def _check_name_free(conn: Connection, name: str, team_id: str | None) -> None:
        query = select(teams.c.id).where(teams.c.name == name)
        if team_id is not None:
            query = query.where(teams.c.id != team_id)
        if conn.execute(query).first() is not None:
            raise Conflict(f"a team named {name!r} already exists")

    @staticmethod
    def _add(conn: Connection, team_id: str, agent_id: str, now: datetime) -> bool:
        if conn.execute(select(agents.c.id).where(agents.c.id == agent_id)).first() is None:
            raise NotFound(f"no agent {agent_id}")
        known = select(team_members.c.agent_id).where(
            team_members.c.team_id == team_id, team_members.c.agent_id == agent_id
        )
        if conn.execute(known).first() is not None:
            return False
        conn.execute(insert(team_members).values(team_id=team_id, agent_id=agent_id, added_at=now))
        return True

    def _views(self, conn: Connection, rows: Sequence[Any]) -> list[TeamView]:
        ids = [row["id"] for row in rows]
        members: dict[str, list[str]] = {team_id: [] for team_id in ids}
        if ids:
            query = (
                select(team_members.c.team_id, team_members.c.agent_id)
                .where(team_members.c.team_id.in_(ids))
                .order_by(team_members.c.agent_id)
            )
            for team_id, agent_id in conn.execute(query):
                members[team_id].append(agent_id)
        return [
            TeamView(
                id=row["id"],
                name=row["name"],
                description=row["description"],
                member_ids=members[row["id"]],
                created_at=row["created_at"],
                updated_at=row["updated_at"],
            )
            for row in rows
        ]

    def get(self, team_id: str) -> TeamView | None:
        with self._engine.connect() as conn:
            row = conn.execute(select(teams).where(teams.c.id == team_id)).mappings().first()
            return self._views(conn, [row])[0] if row is not None else None

    def by_name(self, name: str) -> TeamView | None:
        with self._engine.connect() as conn:
            row = conn.execute(select(teams).where(teams.c.name == name.strip())).mappings().first()
            return self._views(conn, [row])[0] if row is not None else None

    def _require(self, team_id: str) -> TeamView:
        found = self.get(team_id)
        if found is None:
            raise NotFound(f"no team {team_id}")
        return found

    def list_all(self) -> list[TeamView]:
        """Every team by name."""
        with self._engine.connect() as conn:
            rows = conn.execute(select(teams).order_by(teams.c.name)).mappings().all()
            return self._views(conn, rows)

    def of_agent(self, agent_id: str) -> list[TeamView]:
        """The teams ``agent_id`` is a member of, by name."""
        with self._engine.connect() as conn:
            query = (
                select(teams)
                .join(team_members, team_members.c.team_id == teams.c.id)
                .where(team_members.c.agent_id == agent_id)
                .order_by(teams.c.name)
            )
            return self._views(conn, conn.execute(query).mappings().all())

    def update(self, team_id: str, *, name: str | None = None, description: str | None = None) -> TeamView:
        """Rename a team or change its description; ``NotFound``, ``Conflict`` (name taken)."""
        values: dict[str, Any] = {"updated_at": utcnow()}
        if name is not None:
            values["name"] = _name(name)
        if description is not None:
            values["description"] = description or None

        def work(conn: Connection) -> None:
            if "name" in values:
                self._check_name_free(conn, values["name"], team_id)
            if conn.execute(update(teams).where(teams.c.id == team_id).values(values)).rowcount == 0:
                raise NotFound(f"no team {team_id}")

        write(self._writer, work)
        return self._require(team_id)

    def delete(self, team_id: str) -> None:
        """Delete a team and its memberships (its agents stay); ``NotFound``."""

        def work(conn: Connection) -> None:
            conn.execute(delete(team_members).where(team_members.c.team_id == team_id))
            if conn.execute(delete(teams).where(teams.c.id == team_id)).rowcount == 0:
                raise NotFound(f"no team {team_id}")

        write(self._writer, work)

    def add_member(self, team_id: str, agent_id: str) -> tuple[bool, TeamView]:
        """Add ``agent_id`` to the team: ``(added, team)``, ``added`` False when already a member."""

        def work(conn: Connection) -> bool:
            if conn.execute(select(teams.c.id).where(teams.c.id == team_id)).first() is None:
                raise NotFound(f"no team {team_id}")
            return self._add(conn, team_id, agent_id, utcnow())

        added = write(self._writer, work)
        return added, self._require(team_id)

    def remove_member(self, team_id: str, agent_id: str) -> tuple[bool, TeamView]:
        """Remove ``agent_id`` from the team: ``(removed, team)``; ``NotFound`` for the team."""

        def work(conn: Connection) -> bool:
            if conn.execute(select(teams.c.id).where(teams.c.id == team_id)).first() is None:
                raise NotFound(f"no team {team_id}")
            statement = delete(team_members).where(
                team_members.c.team_id == team_id, team_members.c.agent_id == agent_id
            )
            return bool(conn.execute(statement).rowcount)

        removed = write(self._writer, work)
        return removed, self._require(team_id)
