"""The ingest flow's routing: rules evaluated on new inbound messages, assignment, inbox events.

Runs inside the flow's ``kb`` step right after a batch is written (``flows.kb_writer``), so a
conversation is routed once its knowledge-base document exists. Per batch, for the messages of
inbox conversations (channels ``RoutingSettings.is_listening`` does not name):

1. their authors are resolved to contacts (``CRMStore.upsert_from_messages``, idempotent by
   message id), for the routing rows, the events, sticky assignment and segment conditions: with
   routing on this is the only resolution of inbox messages (the flow's ``crm`` sink keeps to
   the listening channels), so no batch is resolved twice;
2. every enabled rule is evaluated (:func:`decide`) against the conversation's routing state and
   its newest new inbound message; a rule that fails at run time (its query no longer parses,
   it names a team or agent that is gone, its matcher raises) is skipped with a logged reason,
   and the conversation still lands. The rules, and the agents and teams they assign from
   (``crm.assign.Roster``), are read again once ``RoutingSettings.refresh_s`` has passed since
   the last reading, not for every batch: a change reaches a running flow within it, while
   loads, capacity and cursors are read in each batch's transaction;
3. ``CRMStore.routing.route_batch`` applies it all in one transaction under the routing lock:
   new conversations, reopening, actions, assignment or waiting, folded conversations released,
   and the events (``message.created``, ``conversation.*``);
4. the changed rows go back to the caller, which writes their triage into the knowledge-base
   documents (their searchable projection): the ``kb`` step routes after writing the messages
   and before saving the conversations' roll-ups, and saves both in one write
   (``kb.conversations.ConversationKeeper.apply``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from sqlalchemy import Connection, bindparam, select, union_all

from crm import CRMStore
from crm.assign import Roster, read_roster
from crm.events import NewEvent
from crm.rollups import chunks
from crm.routing import Arrival, Decision, RoutingState
from crm.rules import RuleView
from crm.schema import agents, identities, segment_members, teams
from hub.backoff import retry
from hub.models import Direction, Message
from hub.settings import RoutingSettings
from kb.analysis import effective_language, message_field_values
from kb.base import KnowledgeBase
from kb.matcher import AnalysedColumns, analyse_message, evaluate
from kb.monitor_match import message_keys, required_keys
from kb.query import Node, parse_query

__all__ = ["CompiledRule", "Router", "RuleSet", "compile_rules", "decide"]

log = logging.getLogger("parley.routing")

#: tries of each store call before a passing failure stops the flow
ATTEMPTS = 5


@dataclass(frozen=True)
class CompiledRule:
    """A rule ready to evaluate; ``problem`` says why it is skipped (it is, every time)."""

    rule: RuleView
    #: the parsed listening query (None: no query, or one that does not parse)
    query: Node | None
    problem: str | None = None
    #: the condition's field lists that are not empty: (field, the values wanted)
    fields: tuple[tuple[str, frozenset[str]], ...] = ()
    #: the query's required keys per analysis (language), filled on first use: a message
    #: holding none of them cannot match, and is not evaluated (``kb.monitor_match``)
    required: dict[str, frozenset[str] | None] = field(default_factory=dict, compare=False)

    def required_for(self, analysis: str) -> frozenset[str] | None:
        """The keys of which a message of ``analysis`` that matches the query holds one (None:
        no such set is known, or there is no query)."""
        if self.query is None:
            return None
        if analysis not in self.required:
            self.required[analysis] = required_keys(self.query, analysis)
        return self.required[analysis]

    def may_match(self, analysis: str, keys: set[str]) -> bool:
        """False when a message of ``analysis`` with ``keys`` cannot match the query."""
        wanted = self.required_for(analysis)
        return wanted is None or not wanted.isdisjoint(keys)


@dataclass
class _RuleIndex:
    """Rule positions by required key, for messages of one analysis (language)."""

    by_key: dict[str, list[int]] = field(default_factory=dict)
    #: rules evaluated on every message: no query, no key to index by, or skipped with a problem
    always: list[int] = field(default_factory=list)


class RuleSet(list[CompiledRule]):
    """Compiled rules in order, indexed by their queries' required keys (``kb.monitor_match``),
    one index per analysis built on its first message: :func:`decide` then looks only at the
    rules a message can match (a message holding none of a rule's keys cannot match its query),
    instead of checking every rule's conditions and prefilter in turn. Not to be changed once
    built (compile anew)."""

    def __init__(self, rules: Iterable[CompiledRule] = ()) -> None:
        super().__init__(rules)
        self._indexes: dict[str, _RuleIndex] = {}
        #: whether any rule has a query to index (else the index would keep every rule)
        self.indexed = any(r.query is not None and r.problem is None for r in self)

    def _index(self, analysis: str) -> _RuleIndex:
        index = self._indexes.get(analysis)
        if index is None:
            index = _RuleIndex()
            for position, compiled in enumerate(self):
                wanted = None if compiled.problem is not None else compiled.required_for(analysis)
                if wanted is None:
                    index.always.append(position)
                for key in wanted or ():
                    index.by_key.setdefault(key, []).append(position)
            # published whole: the workers of one process share the router
            self._indexes[analysis] = index
        return index

    def candidates(self, analysis: str, keys: Collection[str]) -> list[CompiledRule]:
        """The rules, in order, that a message of ``analysis`` holding ``keys`` may match:
        every other rule's query cannot."""
        index = self._index(analysis)
        found = set(index.always)
        by_key = index.by_key
        if len(keys) < len(by_key):
            for key in keys:
                if (positions := by_key.get(key)) is not None:
                    found.update(positions)
        else:
            for key, positions in by_key.items():
                if key in keys:
                    found.update(positions)
        return [self[position] for position in sorted(found)]


def compile_rules(rules: Iterable[RuleView], missing: Collection[str] = ()) -> RuleSet:
    """``rules`` (enabled, in order) compiled and indexed; ``missing`` are team and agent ids
    that no longer exist: a rule assigning to one is compiled with its problem."""
    compiled = []
    for rule in rules:
        problem: str | None = None
        query: Node | None = None
        try:
            query = parse_query(rule.condition.query)
        except Exception as exc:  # stored before a change of the language, or written by hand
            problem = f"its query does not parse: {exc}"
        gone = [
            target
            for spec in (rule.actions.assign.chain() if rule.actions.assign else [])
            for target in (spec.agent_id, spec.team_id)
            if target in missing
        ]
        if gone:
            problem = f"it assigns to {gone[0]}, which no longer exists"
        wanted = tuple(
            (name, frozenset(str(v) for v in values))
            for name in _FIELDS
            if (values := getattr(rule.condition, name))
        )
        compiled.append(CompiledRule(rule, query, problem, wanted))
    return RuleSet(compiled)


#: the condition's field lists, in the order they are checked (cheapest first)
_FIELDS = ("channels", "accounts", "priorities", "tags", "languages", "intents", "sentiments", "segments")


class _Facts:
    """One message and its conversation as rules read them, each part computed once, on use."""

    def __init__(self, state: RoutingState, message: Message, segments: Collection[str]) -> None:
        self.state, self.message, self.segments = state, message, segments
        self._values: dict[str, frozenset[str]] = {}
        self._analysed: AnalysedColumns | None = None
        self._fields: dict[str, list[str]] | None = None
        self._keys: set[str] | None = None

    def values(self, name: str) -> frozenset[str]:
        """The conversation's values of the condition field ``name`` (normalised)."""
        if name not in self._values:
            self._values[name] = frozenset(self._compute(name))
        return self._values[name]

    def _compute(self, name: str) -> Iterable[str]:
        state, enrichment = self.state, self.message.enrichment
        if name == "channels":
            return [state.channel.lower()]
        if name == "accounts":
            return [state.account]
        if name == "priorities":
            return [state.priority]
        if name == "tags":
            return [t.lower() for t in state.tags]
        if name == "languages":
            return [effective_language(self.message)]
        if name == "intents":
            return [enrichment.intent.lower()] if enrichment.intent else []
        if name == "sentiments":
            return [str(enrichment.sentiment_label)] if enrichment.sentiment_label else []
        return self.segments

    def keys(self) -> tuple[str, set[str]]:
        """The message's analysis and the keys it holds (``kb.monitor_match.message_keys``)."""
        if self._analysed is None or self._fields is None or self._keys is None:
            self._analysed = analyse_message(self.message)
            state = self.state  # kb.analysis.conversation_field_values, without building a document
            self._fields = {
                **message_field_values(self.message),
                "status": [state.status],
                "assignee": [state.assignee.lower()] if state.assignee else [],
                "tag": list(dict.fromkeys(t.lower() for t in state.tags if t)),
            }
            self._keys = message_keys(self._analysed, self._fields)
        return self._analysed.analysis, self._keys

    def query_matches(self, compiled: CompiledRule) -> bool:
        analysis, keys = self.keys()
        if not compiled.may_match(analysis, keys):
            return False
        assert self._analysed is not None and self._fields is not None
        return evaluate(compiled.query, self._analysed, self._fields)


def _matches(compiled: CompiledRule, facts: _Facts) -> bool:
    for name, wanted in compiled.fields:
        if wanted.isdisjoint(facts.values(name)):
            return False
    return compiled.query is None or facts.query_matches(compiled)


def decide(
    rules: Sequence[CompiledRule], state: RoutingState, message: Message, segments: Collection[str] = ()
) -> Decision:
    """What ``rules`` do to the conversation ``state`` that ``message`` (inbound) arrived in.

    Conditions see the conversation as it was before the rules ran. Every matching rule sets its
    queue and priority (a later one overrides) and adds its tags; the first matching rule with an
    assignment decides it; ``stop`` ends the list. A failing rule is logged and skipped."""
    queue: str | None = None
    priority: str | None = None
    tags: list[str] = []
    assign, assign_rule = None, None
    facts = _Facts(state, message, segments)
    candidates: Sequence[CompiledRule] = rules
    if isinstance(rules, RuleSet) and rules.indexed:
        # a message that cannot be analysed: every rule meets the failure in turn, and logs it
        with suppress(Exception):
            candidates = rules.candidates(*facts.keys())
    for compiled in candidates:
        rule = compiled.rule
        if compiled.problem is not None:
            log.warning(
                "routing rule %s (%r) skipped for %s: %s",
                rule.id,
                rule.name,
                state.conversation_id,
                compiled.problem,
            )
            continue
        try:
            if not _matches(compiled, facts):
                continue
        except Exception as exc:  # a rule must never stop the flow or lose the conversation
            log.warning(
                "routing rule %s (%r) skipped for %s: %s", rule.id, rule.name, state.conversation_id, exc
            )
            continue
        actions = rule.actions
        queue = actions.queue or queue
        priority = str(actions.priority) if actions.priority is not None else priority
        tags.extend(actions.tags)
        if assign is None and actions.assign is not None:
            assign, assign_rule = actions.assign, rule.id
        if rule.stop:
            break
    return Decision(queue, priority, tuple(dict.fromkeys(tags)), assign, assign_rule)


#: which of some team and agent ids exist (agents: enabled)
_FOUND_TARGETS = union_all(
    select(teams.c.id).where(teams.c.id.in_(bindparam("teams", expanding=True))),
    select(agents.c.id).where(
        agents.c.id.in_(bindparam("agents", expanding=True)), agents.c.disabled.is_(False)
    ),
)


def _targets(rules: Sequence[RuleView]) -> tuple[list[str], list[str]]:
    """The team ids and the agent ids ``rules`` assign to."""
    specs = [s for r in rules if r.actions.assign for s in r.actions.assign.chain()]
    return sorted({s.team_id for s in specs if s.team_id}), sorted({s.agent_id for s in specs if s.agent_id})


class Router:
    """Routes the inbox conversations of each batch the ``kb`` step wrote (see the module doc).

    Keeps the compiled rules (with their required-word prefilters, filled as messages come)
    until ``CRMStore.rules.version()`` moves or a team or agent they assign to goes, and the
    team set-up; asks whether either changed once ``RoutingSettings.refresh_s`` has passed."""

    def __init__(
        self,
        crm: CRMStore,
        kb: KnowledgeBase,
        settings: RoutingSettings | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._crm = crm
        self._clock = clock
        self._kb = kb
        self._settings = settings or RoutingSettings()
        self._version: object = None
        self._rules: list[RuleView] = []
        #: the team and agent ids the rules assign to
        self._targets: tuple[list[str], list[str]] = ([], [])
        self._missing: set[str] | None = None
        self._compiled: RuleSet = RuleSet()
        self._roster: Roster | None = None
        #: when the rules and the roster were last read (``clock``: ``time.monotonic``)
        self._read_at: float | None = None

    def _current(self) -> tuple[RuleSet, Roster]:
        """The rules and the team set-up, read again when ``refresh_s`` has passed."""
        now = self._clock()
        fresh = self._read_at is not None and now - self._read_at < self._settings.refresh_s
        if fresh and self._roster is not None:
            return self._compiled, self._roster
        with self._crm.engine.connect() as conn:
            version = self._crm.rules.version(conn)
            if version != self._version:
                self._rules = self._crm.rules.list_all(enabled_only=True)
                self._targets = _targets(self._rules)
                self._version, self._missing = version, None
            missing = self._missing_targets(conn, *self._targets)  # agents and teams change too
            roster = read_roster(conn)
        if missing != self._missing:
            self._compiled, self._missing = compile_rules(self._rules, missing), missing
        self._roster, self._read_at = roster, now
        return self._compiled, roster

    @staticmethod
    def _missing_targets(conn: Connection, team_ids: list[str], agent_ids: list[str]) -> set[str]:
        if not team_ids and not agent_ids:
            return set()
        found = set(conn.execute(_FOUND_TARGETS, {"teams": team_ids, "agents": agent_ids}).scalars())
        return (set(team_ids) | set(agent_ids)) - found

    def _documents_triage(self, inbox: Sequence[tuple[str, Message]]) -> dict[str, dict[str, Any]]:
        """The triage the documents of ``inbox``'s conversations show, for those that have any
        beyond the defaults (written before routing knew them: with routing on, a fold's triage
        is carried in the routing table, not from document to document)."""
        ids = sorted({cid for cid, _ in inbox})
        docs = retry("kb read", partial(self._kb.get_conversations, ids), attempts=ATTEMPTS)
        return {
            cid: {"assignee": d.assignee, "queue": d.queue, "priority": str(d.priority), "tags": list(d.tags)}
            for cid, d in docs.items()
            if d.assignee or d.queue or d.tags or d.priority != "normal"
        }

    def _contacts(self, inbox: Sequence[Message], resolve: Collection[str] | None) -> dict[str, str]:
        """Identity id -> contact id of the authors of ``inbox``'s inbound messages. The authors
        of the messages named in ``resolve`` (all when None) are resolved here, each message
        counted once by message id (the flow's ``crm`` sink leaves inbox messages to this step);
        the others' authors are looked up."""
        own = [m for m in inbox if m.author is not None and (resolve is None or m.id in resolve)]
        found: dict[str, str] = {}
        if own:
            found.update(
                retry("routing contacts", partial(self._crm.upsert_from_messages, own), attempts=ATTEMPTS)
            )
        rest = sorted(
            {m.author.id for m in inbox if m.author is not None and m.direction == Direction.IN} - set(found)
        )
        if rest:
            with self._crm.engine.connect() as conn:
                for part in chunks(rest):
                    query = select(identities.c.id, identities.c.contact_id).where(identities.c.id.in_(part))
                    found.update({row.id: row.contact_id for row in conn.execute(query)})
        return found

    def _segments(self, contact_ids: Collection[str]) -> dict[str, set[str]]:
        found: dict[str, set[str]] = {}
        if not contact_ids:
            return found
        query = select(segment_members.c.contact_id, segment_members.c.segment_id).where(
            segment_members.c.contact_id.in_(sorted(contact_ids))
        )
        with self._crm.engine.connect() as conn:
            for contact_id, segment_id in conn.execute(query):
                found.setdefault(contact_id, set()).add(segment_id)
        return found

    def route(
        self,
        messages: Sequence[Message],
        conversation_of: Mapping[str, str],
        created: Collection[str],
        folds: Mapping[str, str],
        resolve: Collection[str] | None = None,
    ) -> list[RoutingState]:
        """Route one written batch: ``messages`` as written, ``conversation_of`` their
        conversation ids -> the current ones (after folds), ``created`` the ids of messages new
        to the knowledge base, ``folds`` conversations folded away -> the one each joined,
        ``resolve`` the ids of the messages whose authors this step resolves (the flow batch's
        own; None: all of ``messages``).

        A conversation is routed when it gets a new inbound message, or when it has no routing
        row yet (a replay after a crash between the knowledge-base write and routing). Returns
        the rows changed, whose triage the caller writes into their knowledge-base documents."""
        inbox: list[tuple[str, Message]] = [
            (conversation_of.get(c, c), m)
            for m in messages
            if (c := m.conversation_id) and not self._settings.is_listening(m.channel)
        ]
        if not inbox and not folds:
            return []
        contacts = self._contacts([m for _, m in inbox], resolve)
        arrivals, newest = _arrivals(inbox, contacts, created, self._documents_triage(inbox))
        rules, roster = self._current() if newest else (RuleSet(), None)
        wanted = {a.contact_id for a in arrivals if a.contact_id}
        segments = self._segments(wanted) if any(r.rule.condition.segments for r in rules) else {}
        contact_of = {a.conversation_id: a.contact_id for a in arrivals}

        def decide_one(state: RoutingState) -> Decision:
            contact = contact_of.get(state.conversation_id)
            return decide(rules, state, newest[state.conversation_id], segments.get(contact or "", ()))

        events = [_message_event(cid, m, contacts) for cid, m in inbox if m.id in created]
        replayed: dict[str, list[NewEvent]] = {}
        for cid, m in inbox:
            if m.id not in created:
                replayed.setdefault(cid, []).append(_message_event(cid, m, contacts))
        changed: list[RoutingState] = retry(
            "routing",
            lambda: self._crm.routing.route_batch(
                arrivals, decide_one, messages=events, replayed=replayed, folds=folds, roster=roster
            ),
            attempts=ATTEMPTS,
        )
        return changed


def _arrivals(
    inbox: Sequence[tuple[str, Message]],
    contacts: Mapping[str, str],
    created: Collection[str],
    triage: Mapping[str, Mapping[str, Any]],
) -> tuple[list[Arrival], dict[str, Message]]:
    """One arrival per conversation of ``inbox``, and the newest inbound message of each."""
    by_conversation: dict[str, list[Message]] = {}
    for cid, message in inbox:
        by_conversation.setdefault(cid, []).append(message)
    arrivals, newest = [], {}
    for cid, group in sorted(by_conversation.items()):
        group.sort(key=lambda m: (m.created_at, m.id))
        first = group[0]
        inbound = [m for m in group if m.direction == Direction.IN]
        opener = inbound[0] if inbound else first
        if inbound:
            newest[cid] = inbound[-1]
        language = effective_language(opener)
        arrivals.append(
            Arrival(
                conversation_id=cid,
                channel=first.channel,
                account=first.account,
                contact_id=contacts.get(opener.author.id) if opener.author is not None else None,
                language=None if language == "und" else language,
                # the first inbound message opens it for first-response times (analytics, SLAs)
                message_id=opener.id,
                sent_at=opener.created_at,
                inbound=any(m.id in created for m in inbound),
                has_inbound=bool(inbound),
                triage=triage.get(cid),
            )
        )
    return arrivals, newest


def _message_event(conversation_id: str, message: Message, contacts: Mapping[str, str]) -> NewEvent:
    author = message.author.id if message.author is not None else None
    outbound = message.direction == Direction.OUT
    return NewEvent(
        type="message.created",
        conversation_id=conversation_id,
        contact_id=None if outbound or author is None else contacts.get(author),
        data={
            "message_id": message.id,
            "direction": "out" if outbound else "in",
            "channel": message.channel,
            "account": message.account,
            "sent_at": message.created_at.isoformat(),
            "sent_by": message.metadata.get("sent_by") if outbound else None,
        },
    )
