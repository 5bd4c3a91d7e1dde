"""Each inbox conversation's routing state, changed atomically across processes, with its events.

The relational store owns a conversation's **triage state** (status, snooze, assignee, queue,
priority, tags) in ``conversation_routing``; the knowledge-base document is its searchable
projection, written by the caller after each change from :meth:`RoutingState.triage`.

Every change runs in one write transaction that first takes the **routing lock** (PostgreSQL:
the advisory lock :data:`ROUTING_LOCK`, in READ COMMITTED so that what the lock's previous
holder committed is read; SQLite: ``BEGIN IMMEDIATE`` serialises writers anyway). So loads read
while choosing an agent are exact: two processes never give one agent more than their capacity,
and a conversation is never assigned twice. The events describing a change
(``conversation.created``, ``.assigned``, ``.status_changed``, ``.reopened``, ``.updated``,
``message.created``; see docs/events.md) are appended in the same transaction.

A conversation that a rule wanted assigned but nobody fitted **waits**: its ``wait_spec`` is kept
and :meth:`RoutingStore.assign_waiting` (run when an agent frees up or comes online) assigns the
oldest waiting conversations first.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, select, text

from crm.assign import Roster, Subject
from crm.engine import MIGRATION_LOCK, write, write_engine
from crm.errors import InvalidRequest, NotFound
from crm.events import EventLog, NewEvent, record_events
from crm.routing_txn import HOLDING, RoutingTxn, holding
from crm.rules import AssignSpec
from crm.schema import conversation_aliases, conversation_routing
from hub.models import Conversation, utcnow

__all__ = [
    "ROUTING_LOCK",
    "STATUSES",
    "Arrival",
    "Decision",
    "RoutingState",
    "RoutingStore",
    "Seed",
]

#: the advisory lock key every PostgreSQL routing writer takes (events take MIGRATION_LOCK + 3)
ROUTING_LOCK = MIGRATION_LOCK + 4
STATUSES = ("open", "pending", "resolved", "snoozed")
#: waiting conversations looked at per call of assign_waiting
WAITING_BATCH = 500


@dataclass(frozen=True)
class RoutingState:
    """One conversation's routing row."""

    conversation_id: str
    channel: str
    account: str
    contact_id: str | None
    language: str | None
    status: str
    snoozed_until: datetime | None
    assignee: str | None
    queue: str | None
    priority: str
    tags: tuple[str, ...]
    waiting: bool
    last_assignee: str | None
    #: one more in every committed transaction that changed the row (0: not changed since 0013)
    version: int = 0

    def triage(self) -> dict[str, Any]:
        """The knowledge-base document's triage fields as this row has them, and the row's
        ``version`` as ``triage_version``: the knowledge base writes a projection only when it is
        not older than the one its document shows (``kb.conversations.apply_triage``), so
        projections that land out of commit order leave the newest one."""
        return {
            "status": self.status,
            "assignee": self.assignee,
            "queue": self.queue,
            "priority": self.priority,
            "tags": list(self.tags),
            "triage_version": self.version,
        }


def _state(row: Any) -> RoutingState:
    return RoutingState(
        conversation_id=row["conversation_id"],
        channel=row["channel"],
        account=row["account"],
        contact_id=row["contact_id"],
        language=row["language"],
        status=row["status"],
        snoozed_until=row["snoozed_until"],
        assignee=row["assignee"],
        queue=row["queue"],
        priority=row["priority"],
        tags=tuple(row["tags"] or ()),
        waiting=row["wait_spec"] is not None,
        last_assignee=row["last_assignee"],
        version=row["version"] or 0,
    )


@dataclass(frozen=True)
class Arrival:
    """An inbox conversation a flow batch wrote to: its facts and whether a customer wrote."""

    conversation_id: str
    channel: str
    account: str
    contact_id: str | None
    language: str | None
    #: the conversation's first message (for conversation.created)
    message_id: str
    sent_at: datetime
    #: a new inbound message arrived: reopen, evaluate the rules
    inbound: bool
    #: the batch holds inbound messages, new or replayed (a conversation without a routing row
    #: is routed on a replayed one: the crash came between the knowledge base and routing)
    has_inbound: bool = False
    #: triage the conversation's document already shows (written before routing knew it, or
    #: carried over by a fold the knowledge base made alone): a new row starts from it
    triage: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Decision:
    """What the rules decided for one conversation (``flows.routing`` evaluates them)."""

    queue: str | None = None
    priority: str | None = None
    tags: tuple[str, ...] = ()
    assign: AssignSpec | None = None
    #: the rule whose assignment this is
    assign_rule_id: str | None = None


@dataclass(frozen=True)
class Seed:
    """A conversation the routing table does not know yet, as its knowledge-base document has it
    (conversations stored before routing existed)."""

    conversation_id: str
    channel: str
    account: str
    language: str | None
    status: str
    assignee: str | None
    queue: str | None
    priority: str
    tags: tuple[str, ...]

    @classmethod
    def of(cls, conversation: Conversation) -> Seed:
        """The routing row a conversation document implies."""
        languages = [lang for lang in conversation.languages if lang != "und"]
        return cls(
            conversation_id=conversation.id,
            channel=conversation.channel,
            account=conversation.account,
            language=languages[0] if languages else None,
            status=str(conversation.status),
            assignee=conversation.assignee,
            queue=conversation.queue,
            priority=str(conversation.priority),
            tags=tuple(conversation.tags),
        )


def _seed_triage(triage: Mapping[str, Any] | None) -> dict[str, Any]:
    """The row values a document's triage gives a new row (status stays open: it just got news)."""
    if not triage:
        return {}
    values = {name: triage[name] for name in ("assignee", "queue", "priority") if triage.get(name)}
    if values.get("assignee"):
        values["last_assignee"] = values["assignee"]
    return {**values, "tags": list(triage.get("tags") or [])}


#: priorities, lowest first (a fold keeps the higher)
_PRIORITIES = ("low", "normal", "high", "urgent")


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


class RoutingStore:
    """Routing state, assignment and the conversation life cycle (see the module doc)."""

    def __init__(self, engine: Engine, events: EventLog) -> None:
        self._engine = engine
        self._events = events
        if engine.dialect.name == "postgresql":
            self._writer: Engine = engine.execution_options(
                isolation_level="READ COMMITTED", parley_write=True
            )
        else:
            self._writer = write_engine(engine)

    # --- the transaction -------------------------------------------------------------------

    def _run(
        self, work: Callable[[RoutingTxn], Any], roster: Roster | None = None
    ) -> tuple[Any, list[RoutingState]]:
        def unit(conn: Connection) -> tuple[Any, list[RoutingState]]:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ROUTING_LOCK})
            txn = RoutingTxn(conn, utcnow(), roster)
            result = work(txn)
            txn.flush()
            if txn._pool is not None:
                txn._pool.flush()
            record_events(conn, txn.events)  # last: the event lock is held to commit
            return result, [_state(row) for row in txn.rows_read() if row["conversation_id"] in txn.changed]

        outcome: tuple[Any, list[RoutingState]] = write(self._writer, unit)
        return outcome

    @staticmethod
    def _states(conn: Connection, ids: Sequence[str]) -> list[RoutingState]:
        if not ids:
            return []
        query = select(conversation_routing).where(conversation_routing.c.conversation_id.in_(ids))
        return [_state(row) for row in conn.execute(query).mappings()]

    # --- reading ---------------------------------------------------------------------------

    def get(self, conversation_id: str) -> RoutingState | None:
        with self._engine.connect() as conn:
            found = self._states(conn, [conversation_id])
        return found[0] if found else None

    def get_many(self, conversation_ids: Sequence[str]) -> dict[str, RoutingState]:
        with self._engine.connect() as conn:
            return {s.conversation_id: s for s in self._states(conn, sorted(set(conversation_ids)))}

    def waiting(self, limit: int = 100) -> list[RoutingState]:
        """Conversations waiting for an agent, oldest first."""
        query = (
            select(conversation_routing)
            .where(conversation_routing.c.wait_spec.is_not(None))
            .order_by(conversation_routing.c.waiting_since, conversation_routing.c.conversation_id)
            .limit(limit)
        )
        with self._engine.connect() as conn:
            return [_state(row) for row in conn.execute(query).mappings()]

    # --- the flow ---------------------------------------------------------------------------

    def unreleased_folds(self, *, limit: int = 500) -> dict[str, str]:
        """Conversations the thread store folded away whose routing rows are still live -> the
        conversation each joined. A flow batch releases the folds it knows of; one decided by
        another process after that batch resolved its conversations is left for whoever sees it
        (``flows.kb_writer.finish_ingest``)."""
        r, a = conversation_routing.c, conversation_aliases.c
        query = (
            select(r.conversation_id, a.into_id)
            .join(conversation_aliases, a.conversation_id == r.conversation_id)
            .where(r.folded_into.is_(None))
            .order_by(r.conversation_id)
            .limit(limit)
        )
        with self._engine.connect() as conn:
            return {cid: into for cid, into in conn.execute(query)}

    def release_folds(self, folds: Mapping[str, str]) -> list[RoutingState]:
        """Release ``folds`` (folded away -> joined) as a flow batch would, in one transaction."""
        return self.route_batch([], _no_decision, folds=folds)

    def route_batch(
        self,
        arrivals: Sequence[Arrival],
        decide: Callable[[RoutingState], Decision],
        *,
        messages: Sequence[NewEvent] = (),
        replayed: Mapping[str, Sequence[NewEvent]] | None = None,
        folds: Mapping[str, str] | None = None,
        roster: Roster | None = None,
    ) -> list[RoutingState]:
        """Apply one flow batch in one transaction: record ``messages`` (``message.created``
        events), create the rows of new conversations, release conversations that ``folds``
        folded away (their assignee carries over to the conversation they joined when it has
        none, a row created just before included), reopen those a customer wrote to again, and
        for each arrival with a new inbound message apply ``decide``'s actions and assign when
        unassigned. A conversation whose row is created here also gets the ``message.created``
        events of its ``replayed`` messages (a replay after a crash before its first routing)
        and is routed on them. ``roster``: the team set-up to
        assign from, read before (``crm.assign.Roster``; None: read in the transaction). Returns
        the rows changed."""

        def work(txn: RoutingTxn) -> None:
            txn.events.extend(messages)
            txn.prefetch([*(a.conversation_id for a in arrivals), *(folds or {}), *(folds or {}).values()])
            # new conversations first, so that a fold into one this batch opened (a late parent
            # became the root) carries the folded row's triage into it from the table
            created: set[str] = set()
            for arrival in arrivals:
                if txn.row(arrival.conversation_id) is None:
                    self._create(txn, arrival)
                    txn.events.extend((replayed or {}).get(arrival.conversation_id, ()))
                    created.add(arrival.conversation_id)
            # a fold frees a place only when its agent does not move over with it
            freed = [self._fold(txn, source, target) for source, target in sorted((folds or {}).items())]
            for arrival in arrivals:
                row = txn.existing(arrival.conversation_id)
                route = arrival.inbound
                if row["folded_into"] is not None:
                    continue
                if arrival.conversation_id in created:
                    route = arrival.has_inbound
                elif arrival.inbound and row["status"] != "open":
                    self._status(txn, row, "open", None, None, reopen_reason="inbound")
                if route:
                    self._decide(txn, arrival.conversation_id, decide)
            if any(freed):  # nothing else in a flow batch lowers a load
                self._assign_waiting(txn, WAITING_BATCH)

        return self._run(work, roster)[1]

    def _create(self, txn: RoutingTxn, arrival: Arrival) -> None:
        seeded = _seed_triage(arrival.triage)
        agent = txn.pool.agent(seeded["assignee"]) if seeded.get("assignee") else None
        if agent is not None and agent.load >= agent.capacity:
            # an agent carried in from the document takes it only with room (a free-text
            # assignee holds no capacity and is kept)
            seeded.pop("assignee", None)
            seeded.pop("last_assignee", None)
        txn.insert(
            {
                "conversation_id": arrival.conversation_id,
                "channel": arrival.channel,
                "account": arrival.account,
                "contact_id": arrival.contact_id,
                "language": arrival.language,
                "status": "open",
                "priority": "normal",
                "tags": [],
                **seeded,
            }
        )
        txn.load_change(seeded.get("assignee"), +1)
        txn.event(
            "conversation.created",
            arrival.conversation_id,
            {
                "channel": arrival.channel,
                "account": arrival.account,
                "message_id": arrival.message_id,
                "sent_at": _iso(arrival.sent_at),
                "language": arrival.language,
            },
            contact_id=arrival.contact_id,
        )

    def _decide(
        self, txn: RoutingTxn, conversation_id: str, decide: Callable[[RoutingState], Decision]
    ) -> None:
        row = txn.existing(conversation_id)
        decision = decide(_state(row))
        changes: dict[str, list[Any]] = {}
        values: dict[str, Any] = {}
        if decision.queue is not None and decision.queue != row["queue"]:
            changes["queue"] = [row["queue"], decision.queue]
            values["queue"] = decision.queue
        if decision.priority is not None and decision.priority != row["priority"]:
            changes["priority"] = [row["priority"], decision.priority]
            values["priority"] = decision.priority
        tags = list(dict.fromkeys([*(row["tags"] or []), *decision.tags]))
        if tags != list(row["tags"] or []):
            changes["tags"] = [list(row["tags"] or []), tags]
            values["tags"] = tags
        if values:
            txn.set(conversation_id, **values)
            txn.event("conversation.updated", conversation_id, {"changes": changes})
        if decision.assign is not None and row["assignee"] is None and row["status"] != "resolved":
            row = txn.existing(conversation_id)
            assigned = self._try_assign(txn, row, decision.assign, decision.assign_rule_id)
            if not assigned and row["wait_spec"] is None:
                txn.set(
                    conversation_id,
                    wait_spec=decision.assign.model_dump(mode="json", exclude_none=True),
                    wait_rule_id=decision.assign_rule_id,
                    waiting_since=txn.now,
                )

    def _try_assign(self, txn: RoutingTxn, row: Any, spec: AssignSpec, rule_id: str | None) -> bool:
        subject = Subject(row["conversation_id"], row["channel"], row["language"], row["contact_id"])
        chosen = txn.pool.choose(spec, subject)
        if chosen is None:
            return False
        self._assign(txn, row, chosen, rule_id=rule_id, actor_id=None, counted=True)
        return True

    def _assign(
        self,
        txn: RoutingTxn,
        row: Any,
        assignee: str | None,
        *,
        rule_id: str | None,
        actor_id: str | None,
        counted: bool = False,
    ) -> None:
        """Assign ``row`` to ``assignee`` (None: unassign) with its event; ``counted`` when the
        pool already counted the new load (it chose the agent)."""
        if holding(row):
            txn.load_change(row["assignee"], -1)
            if not counted:
                txn.load_change(assignee, +1)
        values: dict[str, Any] = {
            "assignee": assignee,
            "wait_spec": None,
            "wait_rule_id": None,
            "waiting_since": None,
        }
        if assignee is not None:
            values.update(last_assignee=assignee, assigned_at=txn.now)
        previous = row["assignee"]  # the row is changed in place below
        txn.set(row["conversation_id"], **values)
        txn.event(
            "conversation.assigned",
            row["conversation_id"],
            {"assignee": assignee, "previous": previous, "queue": row["queue"], "rule_id": rule_id},
            actor_id=actor_id,
        )

    def _fold(self, txn: RoutingTxn, source: str, target: str) -> bool:
        """Release ``source`` (folded into ``target``) and carry what people and rules decided
        over, as the knowledge base does (``kb.conversations.carried_triage``): an assignee or
        queue fills an empty one, tags are united, the higher priority wins. Returns whether an
        agent's load went down (``source`` held a place that did not move over to ``target``)."""
        folded = txn.row(source)
        if folded is None or folded["folded_into"] is not None:
            return False
        carried = False
        into = txn.row(target)
        if into is not None and into["folded_into"] is None:
            if into["assignee"] is None and folded["assignee"]:
                self._assign(txn, into, folded["assignee"], rule_id=None, actor_id=None)
                carried = holding(into)  # the place moved over: the agent's load is as it was
            changes: dict[str, list[Any]] = {}
            if folded["queue"] and not into["queue"]:
                changes["queue"] = [into["queue"], folded["queue"]]
            tags = list(dict.fromkeys([*(into["tags"] or []), *(folded["tags"] or [])]))
            if tags != list(into["tags"] or []):
                changes["tags"] = [list(into["tags"] or []), tags]
            rank = {p: n for n, p in enumerate(_PRIORITIES)}
            if rank.get(folded["priority"], 1) > rank.get(into["priority"], 1):
                changes["priority"] = [into["priority"], folded["priority"]]
            if changes:
                txn.set(target, **{name: after for name, (_, after) in changes.items()})
                txn.event("conversation.updated", target, {"changes": changes})
        released = holding(folded) and folded["assignee"] is not None
        if holding(folded):
            txn.load_change(folded["assignee"], -1)
        txn.set(source, folded_into=target, assignee=None, wait_spec=None, waiting_since=None)
        return released and not carried

    # --- waiting conversations ----------------------------------------------------------------

    def assign_waiting(self, limit: int = WAITING_BATCH) -> list[RoutingState]:
        """Assign waiting conversations (oldest first) to agents who fit now; the rows changed.

        Run when an agent comes online, gains capacity or joins a team, and (inside their own
        transactions) when a conversation is resolved, unassigned or folded away."""
        return self._run(lambda txn: self._assign_waiting(txn, limit))[1]

    def _assign_waiting(self, txn: RoutingTxn, limit: int) -> None:
        txn.flush()
        query = (
            select(conversation_routing.c.conversation_id)
            .where(conversation_routing.c.wait_spec.is_not(None))
            .order_by(conversation_routing.c.waiting_since, conversation_routing.c.conversation_id)
            .limit(limit)
        )
        ids = list(txn.conn.execute(query).scalars())
        txn.prefetch(ids)
        for cid in ids:
            row = txn.row(cid)
            assert row is not None
            try:
                spec = AssignSpec.model_validate(row["wait_spec"])
            except ValueError:  # a spec stored by another version: stop waiting on it
                txn.set(row["conversation_id"], wait_spec=None, wait_rule_id=None, waiting_since=None)
                continue
            self._try_assign(txn, row, spec, row["wait_rule_id"])

    # --- people: the life cycle and triage ---------------------------------------------------

    def seed(self, seeds: Sequence[Seed]) -> None:
        """Create rows for conversations stored before routing existed (no events: nothing
        happened to them now). Rows that exist are left as they are."""

        def work(txn: RoutingTxn) -> None:
            for seed in seeds:
                if txn.row(seed.conversation_id) is not None:
                    continue
                txn.insert(
                    {
                        "conversation_id": seed.conversation_id,
                        "channel": seed.channel,
                        "account": seed.account,
                        "language": seed.language,
                        "status": seed.status,
                        "assignee": seed.assignee,
                        "last_assignee": seed.assignee,
                        "queue": seed.queue,
                        "priority": seed.priority,
                        "tags": list(seed.tags),
                    }
                )

        self._run(work)

    def set_status(
        self,
        conversation_id: str,
        status: str,
        *,
        snoozed_until: datetime | None = None,
        actor_id: str | None = None,
    ) -> list[RoutingState]:
        """Move a conversation to ``status`` (``snoozed`` needs ``snoozed_until`` in the future).

        Resolving frees the assignee's capacity, so waiting conversations are assigned in the
        same transaction. ``NotFound``, ``InvalidRequest``. Returns the rows changed, this one
        first."""
        if status not in STATUSES:
            raise InvalidRequest(f"unknown status {status!r}; statuses: {', '.join(STATUSES)}")
        if (status == "snoozed") != (snoozed_until is not None):
            raise InvalidRequest("snoozed_until is given with status 'snoozed', and only then")

        def work(txn: RoutingTxn) -> None:
            if snoozed_until is not None and snoozed_until <= txn.now:
                raise InvalidRequest("snoozed_until must be in the future")
            row = self._require(txn, conversation_id)
            reason = "agent" if status == "open" else None
            self._status(txn, row, status, snoozed_until, actor_id, reopen_reason=reason)
            if status == "resolved" and row["assignee"] is not None:
                self._assign_waiting(txn, WAITING_BATCH)

        return self._first(conversation_id, self._run(work)[1])

    @staticmethod
    def _first(conversation_id: str, states: list[RoutingState]) -> list[RoutingState]:
        return sorted(states, key=lambda s: s.conversation_id != conversation_id)

    @staticmethod
    def _require(txn: RoutingTxn, conversation_id: str) -> Any:
        row = txn.row(conversation_id)
        if row is None:
            raise NotFound(f"no conversation {conversation_id} in the routing table")
        if row["folded_into"] is not None:
            raise NotFound(f"conversation {conversation_id} joined {row['folded_into']}")
        return row

    def _status(
        self,
        txn: RoutingTxn,
        row: Any,
        status: str,
        snoozed_until: datetime | None,
        actor_id: str | None,
        *,
        reopen_reason: str | None,
    ) -> None:
        if row["status"] == status and row["snoozed_until"] == snoozed_until:
            return
        before = row["status"]  # the row is changed in place below
        values: dict[str, Any] = {"status": status, "snoozed_until": snoozed_until}
        if row["folded_into"] is None and (before in HOLDING) != (status in HOLDING):
            txn.load_change(row["assignee"], +1 if status in HOLDING else -1)
        if status == "resolved":
            values.update(wait_spec=None, wait_rule_id=None, waiting_since=None)
        txn.set(row["conversation_id"], **values)
        txn.event(
            "conversation.status_changed",
            row["conversation_id"],
            {"from": before, "to": status, "snoozed_until": _iso(snoozed_until)},
            actor_id=actor_id,
        )
        if status == "open" and before != "open" and reopen_reason is not None:
            txn.event(
                "conversation.reopened", row["conversation_id"], {"reason": reopen_reason}, actor_id=actor_id
            )

    def update(
        self, conversation_id: str, changes: Mapping[str, Any], *, actor_id: str | None
    ) -> list[RoutingState]:
        """Apply a person's triage ``changes`` (status, assignee, queue, priority, tags) with
        their events; a manual assignment is not bound by capacity. Unassigning or resolving
        assigns waiting conversations. Returns the rows changed, this one first."""

        def work(txn: RoutingTxn) -> None:
            row = self._require(txn, conversation_id)
            if "status" in changes:
                status = str(changes["status"])
                if status not in STATUSES or status == "snoozed":
                    raise InvalidRequest("set a snooze with POST /conversations/{id}/status")
                self._status(txn, row, status, None, actor_id, reopen_reason="agent")
                row = txn.row(conversation_id)
            if "assignee" in changes and changes["assignee"] != row["assignee"]:
                self._assign(txn, row, changes["assignee"], rule_id=None, actor_id=actor_id)
                row = txn.row(conversation_id)
            updated: dict[str, list[Any]] = {}
            for name in ("queue", "priority", "tags"):
                if name in changes:
                    new = list(changes[name]) if name == "tags" else changes[name]
                    old = list(row[name] or []) if name == "tags" else row[name]
                    if new != old:
                        updated[name] = [old, new]
            if updated:
                txn.set(conversation_id, **{name: after for name, (_, after) in updated.items()})
                txn.event("conversation.updated", conversation_id, {"changes": updated}, actor_id=actor_id)
            frees = changes.get("status") == "resolved" or (
                "assignee" in changes and changes["assignee"] is None
            )
            if frees:
                self._assign_waiting(txn, WAITING_BATCH)

        return self._first(conversation_id, self._run(work)[1])

    def wake_snoozed(self, now: datetime | None = None) -> list[RoutingState]:
        """Reopen every snoozed conversation whose time has come; the rows changed."""

        def work(txn: RoutingTxn) -> None:
            moment = now or txn.now
            query = select(conversation_routing.c.conversation_id).where(
                conversation_routing.c.status == "snoozed", conversation_routing.c.snoozed_until <= moment
            )
            ids = list(txn.conn.execute(query).scalars())
            txn.prefetch(ids)
            for cid in ids:
                self._status(txn, txn.row(cid), "open", None, None, reopen_reason="snooze_ended")

        return self._run(work)[1]

    def release_agent(self, agent_id: str, *, actor_id: str | None) -> list[RoutingState]:
        """Unassign every conversation ``agent_id`` holds (open, pending or snoozed, not folded
        away), each with its ``conversation.assigned`` event (assignee null, the previous one
        named): a disabled agent's conversations go back to the unassigned inbox rather than
        wait on someone who will not answer. Returns the rows changed."""

        def work(txn: RoutingTxn) -> None:
            r = conversation_routing.c
            query = (
                select(r.conversation_id)
                .where(r.assignee == agent_id, r.status.in_(HOLDING), r.folded_into.is_(None))
                .order_by(r.conversation_id)
            )
            ids = list(txn.conn.execute(query).scalars())
            txn.prefetch(ids)
            for cid in ids:
                self._assign(txn, txn.existing(cid), None, rule_id=None, actor_id=actor_id)

        return self._run(work)[1]


def _no_decision(state: RoutingState) -> Decision:
    raise AssertionError(f"no arrival to decide on in a fold release ({state.conversation_id})")
