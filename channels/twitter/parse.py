"""The Twitter/X channel's parsers by envelope kind: X payloads in, hub messages out (pure).

=====================  =========================================================  ============
kind                   payload                                                    parsed by
=====================  =========================================================  ============
``x.v2.tweet_page``    a v2 response with tweets: search, mentions, timelines,    ``v2``
                       lookups (``data`` + ``includes`` + ``errors`` + ``meta``)
``x.v2.stream_line``   one line of the filtered (or compliance) stream            ``v2``
``x.v2.dm_events``     a v2 DM events response                                    ``v2``
``x.aaa.event``        an Account Activity webhook event (``for_user_id`` + one   ``v1``
                       ``*_events`` array + ``users``)
``x.v1.tweet``         v1.1 status(es): archives and old exports                  ``v1``
=====================  =========================================================  ============

A payload is JSON as bytes or text, or already decoded. A v2 page may carry ``for_user_id``
(this channel's source adds it, as Account Activity payloads carry it): tweets and DMs by that
user are outbound. Unreadable payloads raise ``MalformedPayload`` (a dead letter with the
reason), well-formed events the hub does not ingest ``UnsupportedEvent``; a payload whose
shape breaks an assumption somewhere deeper is a ``MalformedPayload`` naming the error too,
never a crash. What each shape becomes is written in ``v2`` and ``v1``. A v2 page of the
shape X sends is decoded straight into typed structs and read by ``v2_structs`` instead, with
the same outcome.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Mapping
from typing import Any

from channels.base import Parser
from channels.twitter.fields import decode, numeric_id
from channels.twitter.v1 import aaa_event, statuses
from channels.twitter.v2 import Context, dm_events_page, stream_line, tweet_page
from channels.twitter.v2_structs import typed_tweet_page
from hub.errors import MalformedPayload, SkippableError, UnsupportedEvent
from hub.models import Envelope, Message

__all__ = [
    "AAA_EVENT_KIND",
    "DM_EVENTS_KIND",
    "PARSERS",
    "STREAM_LINE_KIND",
    "TWEET_PAGE_KIND",
    "V1_TWEET_KIND",
    "parse_aaa_event",
    "parse_dm_events",
    "parse_stream_line",
    "parse_tweet_page",
    "parse_tweet_page_values",
    "parse_v1_tweet",
]

TWEET_PAGE_KIND = "x.v2.tweet_page"
STREAM_LINE_KIND = "x.v2.stream_line"
DM_EVENTS_KIND = "x.v2.dm_events"
AAA_EVENT_KIND = "x.aaa.event"
V1_TWEET_KIND = "x.v1.tweet"

Shape = Callable[[Any, Context], list[Message]]


def _context(envelope: Envelope, document: Any) -> Context:
    for_user = document.get("for_user_id") if isinstance(document, dict) else None
    return Context(
        account=envelope.account,
        received_at=envelope.received_at,
        raw_ref=envelope.raw_ref,
        for_user_id=numeric_id(for_user, "for_user_id") if for_user is not None else None,
    )


def _parser(shape: Shape, what: str, *, keep_alive: bool = False) -> Parser:
    def parse(envelope: Envelope) -> list[Message]:
        payload = envelope.payload
        if keep_alive and isinstance(payload, bytes | str) and not payload.strip():
            raise UnsupportedEvent("a keep-alive (blank) stream line")
        try:
            document = decode(payload, what)
            return shape(document, _context(envelope, document))
        except SkippableError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as exc:
            # pydantic's ValidationError is a ValueError: a field of the wrong type ends here
            raise MalformedPayload(
                f"{what} does not read as X sends it ({type(exc).__name__}: {exc})"
            ) from exc

    parse.__name__ = parse.__qualname__ = f"parse_{what.replace(' ', '_')}"
    return parse


#: a v2 page decoded as JSON values and read by ``v2.tweet_page``: any payload, every refusal
parse_tweet_page_values = _parser(tweet_page, "v2 page")


def parse_tweet_page(envelope: Envelope) -> list[Message]:
    """A v2 page: decoded straight into typed structs when it has the shape X sends
    (``v2_structs``: no dicts to decode and check again), ``parse_tweet_page_values``
    otherwise; the same messages either way, and the same refusals.

    The cyclic garbage collector is paused while the page is parsed (and enabled again after,
    also when the page is refused; left alone when the caller had it disabled): a page of 100
    tweets makes some 2,000 containers (each message's lists and dicts, its ``Enrichment``,
    the decoded page's lists), and the collector, run every 700 new ones, walked them all
    before they were returned: 0.7-0.8 µs a tweet. Nothing a page makes refers back to itself,
    so pausing frees no cycle later; what the caller keeps is walked at its next collection as
    before (the decoded page's lists, dropped on return, never). The pause is process-wide:
    another thread's objects wait those ~1 ms for a collection too, and a thread disabling the
    collector inside that window finds it enabled after."""
    paused = gc.isenabled()
    if paused:
        gc.disable()
    try:
        messages = typed_tweet_page(envelope)
        return parse_tweet_page_values(envelope) if messages is None else messages
    finally:
        if paused:
            gc.enable()


parse_stream_line = _parser(stream_line, "stream line", keep_alive=True)
parse_dm_events = _parser(dm_events_page, "DM events page")
parse_aaa_event = _parser(aaa_event, "Account Activity event")
parse_v1_tweet = _parser(statuses, "v1.1 tweet")

PARSERS: Mapping[str, Parser] = {
    TWEET_PAGE_KIND: parse_tweet_page,
    STREAM_LINE_KIND: parse_stream_line,
    DM_EVENTS_KIND: parse_dm_events,
    AAA_EVENT_KIND: parse_aaa_event,
    V1_TWEET_KIND: parse_v1_tweet,
}
