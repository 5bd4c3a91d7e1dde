"""Channels: one package per channel, each exporting one frozen ``Channel`` descriptor.

Files look alike across channels: ``parse.py`` (``PARSERS`` by envelope kind), ``source.py``
(``sources(settings)``: Bytewax sources whose resume state is the channel's cursor),
``importers.py`` (file formats), ``webhook.py`` where the platform pushes, ``replier.py``
(``replier_for(settings, account)``), ``settings.py`` (the channel's name and settings model).
``CHANNELS`` below is the one explicit list; nothing registers itself on import. Adding a
channel is adding one package and one entry below; ``flows/``, ``api/`` and the CLI reach
channels only through it.

Envelopes of kind ``parley.message`` (already normalised) are accepted for any channel name,
including channels with no package here (twitter, facebook, sms in the demo).

``parse_envelope`` holds every parser to the limits of ``channels.limits``: a JSON payload too
deep or too large is refused before its parser sees it, and a message that could not be stored
and read back (free-form ``metadata`` too deep or too large, a string no JSON writer accepts)
is refused after; both as ``MalformedPayload``, so the input becomes a dead letter.
"""

from __future__ import annotations

from typing import Any

from channels.base import Channel, Parser
from channels.email import EMAIL
from channels.feeds import FEEDS
from channels.limits import check_message, check_payload
from channels.normalised import NORMALISED_KIND, parse_normalised
from channels.normalised import author_id_before_parsing as normalised_author_id
from channels.twitter import TWITTER
from hub.errors import FatalError, MalformedPayload
from hub.models import Envelope, Message
from hub.settings import Settings

__all__ = ["CHANNELS", "author_id_before_parsing", "configure", "parse_envelope"]

#: channel name -> its descriptor
CHANNELS: dict[str, Channel[Any]] = {
    EMAIL.name: EMAIL,
    FEEDS.name: FEEDS,
    TWITTER.name: TWITTER,
}


def parse_envelope(envelope: Envelope) -> list[Message]:
    """Turn one envelope into messages with the parser its channel declares for its kind.

    Raises ``MalformedPayload`` (dead-letter it) or ``UnsupportedEvent`` (count and skip).
    Every message returned is within ``channels.limits`` and serialises as JSON.
    """
    if envelope.kind == NORMALISED_KIND:
        messages = parse_normalised(envelope)  # measures its payload more strictly itself
    else:
        parser = _parser_for(envelope)
        check_payload(envelope.payload)
        messages = parser(envelope)
    for message in messages:
        check_message(message)
    return messages


def author_id_before_parsing(envelope: Envelope) -> str | None:
    """The identity id of the author of the messages ``envelope`` parses into, where it can be
    read before parsing (``parley.message`` payloads; None for the other kinds, whose authors
    only their parsers find)."""
    return normalised_author_id(envelope) if envelope.kind == NORMALISED_KIND else None


def _parser_for(envelope: Envelope) -> Parser:
    channel = CHANNELS.get(envelope.channel)
    parser = channel.parsers.get(envelope.kind) if channel is not None else None
    if parser is None:
        known = (
            f"known kinds: {', '.join(sorted(channel.parsers))}"
            if channel is not None
            else f"known channels: {', '.join(sorted(CHANNELS))}"
        )
        raise MalformedPayload(
            f"no parser for channel {envelope.channel!r} kind {envelope.kind!r}; {known}; "
            f"or send kind {NORMALISED_KIND!r}"
        )
    return parser


def configure(settings: Settings) -> Settings:
    """``settings`` checked against every channel and completed with the channels' accounts.

    Entry points call it once on the root settings they read (calling it again changes
    nothing). Every channel's table is validated by its descriptor, and a table no channel
    owns is refused, so a misspelt setting stops the start with a message naming it (a
    ``FatalError``). Each table is replaced by its validated form (defaults filled in,
    secrets as ``SecretStr``). Each channel's own identities (a mailbox's address) are added to
    ``brand.identities``, the one definition the flow, the CRM and enrichment read.
    """
    unknown = sorted(set(settings.channels) - set(CHANNELS))
    if unknown:
        spelt = ", ".join(
            f"{name!r} (PARLEY_{name.upper()}__..., [{name}] in parley.toml)" for name in unknown
        )
        raise FatalError(f"settings for unknown channel(s) {spelt}; channels: {', '.join(CHANNELS)}")
    contributed: dict[str, list[str]] = {}
    for name, channel in CHANNELS.items():
        if name in settings.channels:
            settings = channel.with_settings(settings, channel.settings_of(settings))
        own = channel.own_identities(settings) if channel.own_identities is not None else []
        if own:
            contributed[name] = own
    return settings.with_identities(contributed)
