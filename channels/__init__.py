"""Channels: one package per channel, each laid out alike.

``channels/<name>/parse.py`` holds ``PARSERS``, a dict of pure parsers by envelope kind
(envelope -> list[Message]); ``source.py`` a Bytewax source whose resume state is the
channel's cursor; ``replier.py`` a ``send(reply) -> Delivery``; ``webhook.py`` where the channel
pushes. Channels are registered here, in one explicit dict; nothing registers itself on
import. Adding a channel is adding one package and one entry below.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping

from channels.base import Parser
from channels.normalised import NORMALISED_KIND, parse_normalised
from hub.errors import MalformedPayload
from hub.models import Envelope, Message

__all__ = ["CHANNELS", "parse_envelope", "parsers_for"]

#: channel name -> its package. Envelopes of kind ``parley.message`` are accepted for any
#: channel name (they are already normalised); every other kind needs a channel below.
CHANNELS: dict[str, str] = {
    "email": "channels.email",
    "feeds": "channels.feeds",
}


def parsers_for(channel: str) -> Mapping[str, Parser]:
    """The parsers of ``channel`` by envelope kind (imports the channel's ``parse`` module)."""
    package = CHANNELS.get(channel)
    if package is None:
        return {}
    module = importlib.import_module(f"{package}.parse")
    parsers: Mapping[str, Parser] = module.PARSERS
    return parsers


def parse_envelope(envelope: Envelope) -> list[Message]:
    """Turn one envelope into messages with the parser its channel registered for its kind.

    Raises ``MalformedPayload`` (dead-letter it) or ``UnsupportedEvent`` (count and skip).
    """
    if envelope.kind == NORMALISED_KIND:
        return parse_normalised(envelope)
    parser = parsers_for(envelope.channel).get(envelope.kind)
    if parser is None:
        known = sorted(parsers_for(envelope.channel))
        raise MalformedPayload(
            f"no parser for channel {envelope.channel!r} kind {envelope.kind!r}"
            + (
                f"; known kinds: {', '.join(known)}"
                if known
                else f"; known channels: {', '.join(sorted(CHANNELS))}"
            )
            + f"; or send kind {NORMALISED_KIND!r}"
        )
    return parser(envelope)
