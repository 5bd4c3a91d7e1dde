"""Conversation threading: which conversation does a message belong to?

Conversation ids are derived from the thread root (``conversation_id_for(channel, account,
root native id)``), so most messages thread without any memory: a root message roots its own
conversation, a message with a channel-given ``thread_key`` joins that root. Memory is needed
for replies to replies (the parent's conversation) and for the subject fallback; it lives in a
``ThreadState`` per channel and account, kept in Bytewax snapshots and bounded in size. The
evidence is the message's typed thread hints (``reply_to``, ``references``, ``thread_key``,
``subject_key``); how long the subject fallback reaches is the channel's ``subject_window``
(``channels.base.ThreadingRules``), passed in by the thread step.
When the state does not know a parent (another run, state evicted) the thread step asks the
knowledge base through ``ParentLookup``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from hub.models import Message, conversation_id_for

__all__ = ["ParentLookup", "ThreadState", "assign_conversation"]

#: native id of a message on the same channel -> its conversation id, when known elsewhere
ParentLookup = Callable[[str], str | None]

#: flags of messages that must not open a conversation of their own: mail bounces and
#: auto-replies; shares (a retweet is counted in listening, it is not a customer writing);
#: deletion markers (a deleted message joins its stored conversation or none)
NON_OPENING_FLAGS = frozenset({"bounce", "auto_reply", "retweet", "deleted"})


@dataclass
class ThreadState:
    """What one channel+account's thread step remembers between messages (and restarts)."""

    capacity: int = 200_000
    links: OrderedDict[str, str] = field(default_factory=OrderedDict)
    #: (normalised subject, author id) -> (conversation id, last message time)
    subjects: OrderedDict[tuple[str, str], tuple[str, datetime]] = field(default_factory=OrderedDict)
    #: native id of a parent not seen yet -> the conversation its early replies were put in
    assumed_roots: OrderedDict[str, str] = field(default_factory=OrderedDict)
    #: conversation folded into another -> that other (read through ``resolve``)
    aliases: OrderedDict[str, str] = field(default_factory=OrderedDict)

    def resolve(self, conversation_id: str) -> str:
        """The conversation ``conversation_id`` was folded into, or itself."""
        seen: list[str] = []
        while conversation_id in self.aliases and len(seen) < 64:
            seen.append(conversation_id)
            conversation_id = self.aliases[conversation_id]
        for folded in seen[:-1]:  # path compression keeps later reads O(1)
            self.aliases[folded] = conversation_id
        return conversation_id

    def fold(self, source: str, into: str) -> None:
        """Every link to ``source`` now means ``into`` (O(1), however many links there are)."""
        source, into = self.resolve(source), self.resolve(into)
        if source != into:
            self.aliases[source] = into
            while len(self.aliases) > self.capacity // 10:
                self.aliases.popitem(last=False)

    def remember(self, native_id: str, conversation_id: str) -> None:
        self.links[native_id] = conversation_id
        self.links.move_to_end(native_id)
        while len(self.links) > self.capacity:
            self.links.popitem(last=False)

    def assume_root(self, native_id: str, conversation_id: str) -> None:
        self.assumed_roots.setdefault(native_id, conversation_id)
        while len(self.assumed_roots) > self.capacity // 10:
            self.assumed_roots.popitem(last=False)

    def remember_subject(self, key: tuple[str, str], conversation_id: str, at: datetime) -> None:
        self.subjects[key] = (conversation_id, at)
        self.subjects.move_to_end(key)
        while len(self.subjects) > self.capacity // 10:
            self.subjects.popitem(last=False)


def _known(state: ThreadState, lookup: ParentLookup | None, native_id: str | None) -> str | None:
    if not native_id:
        return None
    found = state.links.get(native_id)
    if found is not None:
        return state.resolve(found)
    if lookup is not None:
        found = lookup(native_id)
        if found is not None:
            state.remember(native_id, found)
    return found


def _by_subject(state: ThreadState, message: Message, window: timedelta) -> str | None:
    if not message.subject_key or message.author is None:
        return None
    hit = state.subjects.get((message.subject_key, message.author.id))
    if hit is None:
        return None
    conversation_id, at = hit
    return state.resolve(conversation_id) if abs(message.created_at - at) <= window else None


def assign_conversation(
    state: ThreadState,
    message: Message,
    *,
    lookup: ParentLookup | None = None,
    subject_window: timedelta | None = None,
) -> str | None:
    """The conversation id for ``message``, updating ``state``.

    Order of evidence: a message seen before keeps its conversation (replays are stable); the
    parent's known conversation; the known conversation of the channel-given thread root; the
    root derived from ``thread_key``; the parent assumed to be a root (out-of-order arrivals
    still meet their root); for messages with neither, the subject fallback (same
    ``subject_key`` and author inside ``subject_window``; ``None``, the default, turns it off);
    else the message roots a new conversation.
    Bounces and auto-replies join a known conversation or none (``None``): they never open one.
    When a parent arrives after replies that were put in a conversation rooted at it, the
    state's links move to the parent's conversation; the flow's knowledge-base step moves the
    stored documents (``kb.conversations``), which also covers replays after a crash.
    """
    channel, account = message.channel, message.account
    if message.native_id in state.links:
        return state.resolve(state.links[message.native_id])

    refs = message.references
    # Nearest known ancestor first: the parent, then References newest to oldest, then the root;
    # then ids earlier messages named but nobody has sent yet (ghost roots).
    named = list(dict.fromkeys(n for n in (message.reply_to, *reversed(refs), message.thread_key) if n))
    conversation_id = next((c for n in named if (c := _known(state, lookup, n))), None)
    if conversation_id is None:
        conversation_id = next(
            (state.resolve(state.assumed_roots[n]) for n in named if n in state.assumed_roots), None
        )
    if conversation_id is None and NON_OPENING_FLAGS.intersection(message.flags):
        return None
    if conversation_id is None and message.thread_key:
        conversation_id = conversation_id_for(channel, account, message.thread_key)
    if conversation_id is None and message.reply_to:
        conversation_id = conversation_id_for(channel, account, message.reply_to)
    if conversation_id is None and subject_window is not None:
        conversation_id = _by_subject(state, message, subject_window)
    if conversation_id is None:
        conversation_id = conversation_id_for(channel, account, message.native_id)

    # Every id this message names that earlier arrivals assumed to root another conversation
    # joins this one; ids not seen yet are assumed to root this one (they may arrive later).
    for name in dict.fromkeys([message.native_id, *named]):
        assumed = state.assumed_roots.pop(name, None)
        if assumed is not None:
            state.fold(assumed, conversation_id)
        if name != message.native_id and name not in state.links:
            state.assume_root(name, conversation_id)
    state.remember(message.native_id, conversation_id)
    if subject_window is not None and message.subject_key and message.author is not None:
        state.remember_subject((message.subject_key, message.author.id), conversation_id, message.created_at)
    return conversation_id
