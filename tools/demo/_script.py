"""The little language the demo scripts are written in: people, turns and threads.

A :class:`Thread` is a conversation on one channel written as a list of :class:`Turn`; each
turn names its speaker (a key of :data:`tools.demo._cast.PEOPLE`, or :data:`BRAND`) and the
turn it answers. The generator turns scripts into envelopes; scripts hold no ids or times.
Stdlib only: the generator must run on a bare interpreter.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["BRAND", "PREV", "Person", "Thread", "Turn", "t"]

#: The speaker key of the brand's own accounts (its replies are ``direction: out``).
BRAND = "brand"
#: ``Turn.parent`` default: the turn answers the turn just before it.
PREV = -1


@dataclass(frozen=True)
class Person:
    """A fictional customer; a person with fields on two channels is one CRM contact."""

    key: str
    name: str
    email: str | None = None
    phone: str | None = None
    twitter: str | None = None
    #: UTC offset in hours of the person's mail client (Date headers carry it).
    tz: int = 0


@dataclass(frozen=True)
class Turn:
    """One message of a thread: who says what, answering which earlier turn.

    ``parent`` is an index into the thread's turns, :data:`PREV` (the turn before) or None
    (a new root: a post, a first mail). ``opts`` carries channel specifics (``html``,
    ``attachment``, ``auto_reply`` for mail; ``title`` for feeds).
    """

    who: str
    text: str
    parent: int | None = PREV
    lang: str | None = None
    opts: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Thread:
    """A conversation script on one channel; ``lang`` is the default of its turns."""

    channel: str
    turns: tuple[Turn, ...]
    lang: str = "en"
    subject: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)


def t(who: str, text: str, parent: int | None = PREV, lang: str | None = None, **opts: Any) -> Turn:
    """Shorthand for :class:`Turn` so the scripts read like a screenplay."""
    return Turn(who=who, text=text, parent=parent, lang=lang, opts=dict(opts))
