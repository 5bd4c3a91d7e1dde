"""Routing rules: an ordered list of "when a conversation looks like this, do that".

What the store promises:

* rules are read in ``position`` order (ties by id); a new rule goes last unless given a
  position; positions need not be contiguous;
* a rule's condition and actions are validated on save: an assignment names an agent or team
  that exists, a mode gets what it needs (``agent`` an agent, ``round_robin`` and
  ``least_loaded`` a team), a fallback does not nest past :data:`MAX_FALLBACKS`. The condition's
  listening query is **not** parsed here (the relational store does not know the query
  language): the API and the CLI parse it with ``kb.query.parse_query`` before saving, so a bad
  query is refused with the query error shape;
* :meth:`RuleStore.version` changes whenever a rule is added, changed or deleted, so a reader
  may cache the list and re-read it only when the version moves.

How a rule is applied (``flows.routing``): every enabled rule whose condition matches applies
its queue and priority (a later match overrides) and adds its tags; the first matching rule
with an ``assign`` decides the assignment; a rule with ``stop`` ends the list.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from sqlalchemy import Connection, Engine, delete, func, insert, select, update

from crm.engine import write
from crm.errors import InvalidRequest, NotFound
from crm.schema import agents, routing_rules, teams
from hub.models import Priority, utcnow

__all__ = [
    "ASSIGN_MODES",
    "MAX_FALLBACKS",
    "AssignMode",
    "AssignSpec",
    "RuleActions",
    "RuleCondition",
    "RuleStore",
    "RuleView",
]

AssignMode = Literal["agent", "round_robin", "least_loaded", "sticky"]
ASSIGN_MODES: tuple[str, ...] = ("agent", "round_robin", "least_loaded", "sticky")
#: fallbacks chained behind one assignment (sticky -> round robin -> ...)
MAX_FALLBACKS = 3
#: values of one condition field, and of the tags a rule adds
MAX_VALUES = 50

_Value: Any = Field(default_factory=list, max_length=MAX_VALUES)


class RuleCondition(BaseModel):
    """What a conversation must look like: every given part must hold (an empty list: any).

    ``query`` is the listening query language, matched against the inbound message that
    triggered routing and its conversation (``status:``, ``tag:``...). The lists are
    conversation fields; values within one list are alternatives. ``segments`` are segment ids
    of the contact (their stored membership, as ``segment:`` in contact criteria)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    query: str = Field(default="", max_length=4096)
    channels: list[str] = _Value
    accounts: list[str] = _Value
    languages: list[str] = _Value
    intents: list[str] = _Value
    sentiments: list[str] = _Value
    priorities: list[Priority] = _Value
    tags: list[str] = _Value
    segments: list[str] = _Value

    @model_validator(mode="after")
    def _lowercase(self) -> RuleCondition:
        # the values are compared with normalised conversation fields (lower case)
        for name in ("channels", "languages", "intents", "sentiments", "tags"):
            object.__setattr__(self, name, [v.strip().lower() for v in getattr(self, name) if v.strip()])
        return self


class AssignSpec(BaseModel):
    """Whom to assign: ``agent`` (``agent_id``), ``round_robin`` or ``least_loaded`` over a
    team's members (``team_id``), or ``sticky``: the agent who last handled this contact, among
    ``team_id``'s members when one is given. ``fallback`` is tried when nobody fits."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: AssignMode
    agent_id: str | None = Field(default=None, max_length=64)
    team_id: str | None = Field(default=None, max_length=64)
    fallback: AssignSpec | None = None

    @model_validator(mode="after")
    def _complete(self) -> AssignSpec:
        if self.mode == "agent" and not self.agent_id:
            raise ValueError("assign mode 'agent' needs agent_id")
        if self.mode in ("round_robin", "least_loaded") and not self.team_id:
            raise ValueError(f"assign mode {self.mode!r} needs team_id")
        depth, spec = 0, self.fallback
        while spec is not None:
            depth += 1
            spec = spec.fallback
        if depth > MAX_FALLBACKS:
            raise ValueError(f"at most {MAX_FALLBACKS} fallbacks")
        return self

    def chain(self) -> list[AssignSpec]:
        """This spec and its fallbacks, in the order they are tried."""
        out: list[AssignSpec] = []
        spec: AssignSpec | None = self
        while spec is not None:
            out.append(spec)
            spec = spec.fallback
        return out


class RuleActions(BaseModel):
    """What a matching rule does: set the queue and priority, add tags, assign."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    queue: str | None = Field(default=None, min_length=1, max_length=256)
    priority: Priority | None = None
    tags: list[str] = _Value
    assign: AssignSpec | None = None

    @model_validator(mode="after")
    def _does_something(self) -> RuleActions:
        if self.queue is None and self.priority is None and not self.tags and self.assign is None:
            raise ValueError("a rule must set a queue or priority, add tags, or assign")
        return self


class RuleView(BaseModel):
    """One stored rule."""

    model_config = ConfigDict(frozen=True)

    id: str
    position: int
    name: str
    enabled: bool
    condition: RuleCondition
    actions: RuleActions
    stop: bool
    created_at: datetime
    updated_at: datetime


def _view(row: Any) -> RuleView:
    return RuleView(
        id=row["id"],
        position=row["position"],
        name=row["name"],
        enabled=bool(row["enabled"]),
        condition=RuleCondition.model_validate(row["condition"]),
        actions=RuleActions.model_validate(row["actions"]),
        stop=bool(row["stop"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _check_targets(conn: Connection, actions: RuleActions) -> None:
    """``InvalidRequest`` when an assignment names an agent or team that does not exist."""
    if actions.assign is None:
        return
    for spec in actions.assign.chain():
        if (
            spec.agent_id
            and conn.execute(select(agents.c.id).where(agents.c.id == spec.agent_id)).first() is None
        ):
            raise InvalidRequest(f"the rule assigns to agent {spec.agent_id}, which does not exist")
        if (
            spec.team_id
            and conn.execute(select(teams.c.id).where(teams.c.id == spec.team_id)).first() is None
        ):
            raise InvalidRequest(f"the rule assigns within team {spec.team_id}, which does not exist")


def _name(name: str) -> str:
    cleaned = name.strip()
    if not cleaned or len(cleaned) > 256:
        raise InvalidRequest("a rule name is 1 to 256 characters")
    return cleaned


def parse_parts(condition: Any, actions: Any) -> tuple[RuleCondition, RuleActions]:
    """``condition`` and ``actions`` as models (dicts are validated); ``InvalidRequest`` when not."""
    try:
        cond = condition if isinstance(condition, RuleCondition) else RuleCondition.model_validate(condition)
        acts = actions if isinstance(actions, RuleActions) else RuleActions.model_validate(actions)
    except ValidationError as exc:
        raise InvalidRequest(f"invalid rule: {exc.errors()[0]['msg']}") from exc
    return cond, acts


#: :meth:`RuleStore.version`'s query (built once: the flow asks it every batch)
_VERSION = select(func.count(), func.max(routing_rules.c.updated_at))


class RuleStore:
    """Creates, lists, changes and deletes routing rules (see the module doc)."""

    def __init__(self, engine: Engine, writer: Engine) -> None:
        self._engine = engine
        self._writer = writer

    def create(
        self,
        *,
        name: str,
        condition: RuleCondition | dict[str, Any],
        actions: RuleActions | dict[str, Any],
        position: int | None = None,
        enabled: bool = True,
        stop: bool = False,
    ) -> RuleView:
        """A new rule (last unless ``position`` is given); ``InvalidRequest`` for a bad rule."""
        cond, acts = parse_parts(condition, actions)
        now = utcnow()
        row: dict[str, Any] = {
            "id": f"rule_{secrets.token_hex(8)}",
            "name": _name(name),
            "enabled": enabled,
            "condition": cond.model_dump(mode="json"),
            "actions": acts.model_dump(mode="json", exclude_none=True),
            "stop": stop,
            "created_at": now,
            "updated_at": now,
        }

        def work(conn: Connection) -> None:
            _check_targets(conn, acts)
            last = conn.execute(select(func.max(routing_rules.c.position))).scalar_one_or_none()
            row["position"] = position if position is not None else (last or 0) + 10
            conn.execute(insert(routing_rules).values(row))

        write(self._writer, work)
        return self._require(row["id"])

    def get(self, rule_id: str) -> RuleView | None:
        with self._engine.connect() as conn:
            row = conn.execute(select(routing_rules).where(routing_rules.c.id == rule_id)).mappings().first()
        return _view(row) if row is not None else None

    def _require(self, rule_id: str) -> RuleView:
        found = self.get(rule_id)
        if found is None:
            raise NotFound(f"no rule {rule_id}")
        return found

    def list_all(self, *, enabled_only: bool = False) -> list[RuleView]:
        """Every rule in evaluation order (only the enabled ones, with ``enabled_only``)."""
        query = select(routing_rules).order_by(routing_rules.c.position, routing_rules.c.id)
        if enabled_only:
            query = query.where(routing_rules.c.enabled.is_(True))
        with self._engine.connect() as conn:
            return [_view(row) for row in conn.execute(query).mappings()]

    def version(self, conn: Connection | None = None) -> tuple[int, datetime | None]:
        """Changes whenever a rule is added, changed or deleted (count and latest change); read
        on ``conn`` when given (the flow asks once a batch, with other reads)."""
        if conn is None:
            with self._engine.connect() as own:
                return self.version(own)
        count, latest = conn.execute(_VERSION).one()
        return int(count), latest

    def update(
        self,
        rule_id: str,
        *,
        name: str | None = None,
        condition: RuleCondition | dict[str, Any] | None = None,
        actions: RuleActions | dict[str, Any] | None = None,
        position: int | None = None,
        enabled: bool | None = None,
        stop: bool | None = None,
    ) -> RuleView:
        """Change the parts given; ``NotFound``, ``InvalidRequest``."""
        values: dict[str, Any] = {"updated_at": utcnow()}
        acts: RuleActions | None = None
        if name is not None:
            values["name"] = _name(name)
        if condition is not None:
            values["condition"] = parse_parts(condition, {"queue": "x"})[0].model_dump(mode="json")
        if actions is not None:
            acts = parse_parts({}, actions)[1]
            values["actions"] = acts.model_dump(mode="json", exclude_none=True)
        for key, value in (("position", position), ("enabled", enabled), ("stop", stop)):
            if value is not None:
                values[key] = value

        def work(conn: Connection) -> None:
            if acts is not None:
                _check_targets(conn, acts)
            statement = update(routing_rules).where(routing_rules.c.id == rule_id).values(values)
            if conn.execute(statement).rowcount == 0:
                raise NotFound(f"no rule {rule_id}")

        write(self._writer, work)
        return self._require(rule_id)

    def delete(self, rule_id: str) -> None:
        """Delete a rule; ``NotFound``."""

        def work(conn: Connection) -> None:
            if conn.execute(delete(routing_rules).where(routing_rules.c.id == rule_id)).rowcount == 0:
                raise NotFound(f"no rule {rule_id}")

        write(self._writer, work)

    def reorder(self, rule_ids: Sequence[str]) -> list[RuleView]:
        """Put ``rule_ids`` first, in this order (the others keep their order after them)."""

        def work(conn: Connection) -> None:
            known = set(conn.execute(select(routing_rules.c.id)).scalars())
            missing = [rid for rid in rule_ids if rid not in known]
            if missing:
                raise NotFound(f"no rule {missing[0]}")
            rest = conn.execute(
                select(routing_rules.c.id).order_by(routing_rules.c.position, routing_rules.c.id)
            ).scalars()
            order = list(dict.fromkeys([*rule_ids, *rest]))
            now = utcnow()
            for index, rid in enumerate(order):
                conn.execute(
                    update(routing_rules)
                    .where(routing_rules.c.id == rid)
                    .values(position=(index + 1) * 10, updated_at=now)
                )

        write(self._writer, work)
        return self.list_all()
