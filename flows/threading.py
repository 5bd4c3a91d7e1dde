"""The thread step: what each message says about its place in a thread (a ``ThreadLink``).

Which conversation a message belongs to is decided where every ingest process meets, the
relational store (``crm.threads``), in the flow's knowledge-base step, one transaction per
batch: so the answer never depends on which process saw which message first or on when a
snapshot was taken. This step only reads each message's typed thread hints (``thread_key``,
``references``, ``reply_to``, ``subject_key``; bounce flags) and keeps the one memory the
hints cannot carry: the email subject fallback, an earlier message by the same author with
the same normalised subject to the same account, in a ``ThreadState`` per shard of authors
(kept in Bytewax snapshots, bounded). That fallback names a message, never a conversation id, so the flow
state cannot contradict the store.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from crm.threads import ThreadLink
from hub.models import Message

__all__ = ["NON_OPENING_FLAGS", "ThreadState", "thread_link"]

#: flags of messages that must not open a conversation of their own: mail bounces and
#: auto-replies; shares (a retweet is counted in listening, it is not a customer writing);
#: deletion markers (a deleted message joins its stored conversation or none)
NON_OPENING_FLAGS = frozenset({"bounce", "auto_reply", "retweet", "deleted"})


@dataclass
class ThreadState:
    """What one author shard's thread step remembers between messages (and restarts)."""

    capacity: int = 200_000
    #: (account, normalised subject, author id) -> (native id of the latest message with it,
    #: its time); the author id names the channel
    subjects: OrderedDict[tuple[str, str, str], tuple[str, datetime]] = field(default_factory=OrderedDict)

    def __setstate__(self, saved: dict[str, Any]) -> None:
        # A snapshot from before threads were decided in the store also holds links and
        # aliases (dropped: the store knows better) and subjects that name conversations, not
        # messages (dropped: the fallback starts afresh rather than follow a wrong name). One
        # from when the step was keyed by channel+account keys subjects without the account
        # (dropped too: this shard may now hold several accounts' authors).
        self.capacity = int(saved.get("capacity", 200_000))
        subjects = OrderedDict() if "links" in saved else saved.get("subjects", OrderedDict())
        self.subjects = OrderedDict((k, v) for k, v in subjects.items() if len(k) == 3)

    def remember_subject(self, key: tuple[str, str, str], native_id: str, at: datetime) -> None:
        self.subjects[key] = (native_id, at)
        self.subjects.move_to_end(key)
        while len(self.subjects) > self.capacity // 10:
            self.subjects.popitem(last=False)


def _by_subject(state: ThreadState, message: Message, window: timedelta | None) -> str | None:
    if window is None or not message.subject_key or message.author is None:
        return None
    hit = state.subjects.get((message.account, message.subject_key, message.author.id))
    if hit is None:
        return None
    native_id, at = hit
    return native_id if abs(message.created_at - at) <= window else None


def thread_link(
    state: ThreadState, message: Message, *, subject_window: timedelta | None = None
) -> ThreadLink:
    """What ``message`` says about its thread, updating ``state``'s subject memory.

    The chain names the channel-given thread root first, then the references oldest to
    newest, then the replied-to id. A message that names nothing may continue the latest
    message with its normalised subject and author inside ``subject_window`` (None: no
    subject fallback). Bounces and auto-replies are marked as never opening a conversation.
    """
    chain = tuple(
        dict.fromkeys(
            name
            for name in (message.thread_key, *message.references, message.reply_to)
            if name and name != message.native_id
        )
    )
    follows = None if chain else _by_subject(state, message, subject_window)
    if subject_window is not None and message.subject_key and message.author is not None:
        state.remember_subject(
            (message.account, message.subject_key, message.author.id), message.native_id, message.created_at
        )
    return ThreadLink(
        channel=message.channel,
        account=message.account,
        native_id=message.native_id,
        chain=chain,
        opens=not NON_OPENING_FLAGS.intersection(message.flags),
        follows=follows,
    )
