"""The channel contract: what a channel package exports, and the small types it is made of.

A channel is a package ``channels/<name>/`` whose ``__init__`` exports one frozen
:class:`Channel` descriptor; ``channels.CHANNELS`` maps names to descriptors explicitly.
``flows/``, ``api/`` and the CLI reach a channel only through its descriptor:

* ``parsers`` turn envelopes of a kind into messages (pure; ``MalformedPayload`` dead-letters,
  ``UnsupportedEvent`` skips);
* ``sources(settings)`` gives the Bytewax sources polling its configured accounts;
* ``importers`` read files (by suffix, or by sniffing the first bytes) into envelopes;
* ``webhook`` verifies a platform's push request, answers its challenge, and turns the body
  into envelopes (or ``None`` when the channel only polls);
* ``replier(settings, account)`` sends replies for one account (or ``None``: read-only);
* ``threading`` says how messages of this channel thread beyond reply links.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from pydantic import BaseModel

from hub.errors import ParleyError
from hub.models import DeadLetter, Delivery, Envelope, Message, Reply

if TYPE_CHECKING:
    from bytewax.inputs import Source

    from hub.settings import Settings

__all__ = [
    "Channel",
    "FileImporter",
    "ImportItem",
    "NamedSource",
    "Parser",
    "Replier",
    "ThreadingRules",
    "Webhook",
    "WebhookRefused",
    "WebhookRequest",
    "WebhookResponse",
]

#: A pure function from one envelope to the messages in it. Raises
#: ``hub.errors.MalformedPayload`` for unreadable input, ``UnsupportedEvent`` for harmless
#: events the hub does not ingest.
Parser = Callable[[Envelope], list[Message]]

#: What file importers and sources emit: an envelope to parse, or input that could not be read.
ImportItem = Envelope | DeadLetter

#: (Bytewax step id, source) for the ingest flow.
NamedSource = tuple[str, "Source[Any]"]

S = TypeVar("S", bound=BaseModel)


class Replier(Protocol):
    """Sends replies through one channel account."""

    async def send(self, reply: Reply) -> Delivery:
        """Deliver ``reply``; retriable failures raise ``RetriableError``."""
        ...


@dataclass(frozen=True)
class FileImporter:
    """Reads one file format into envelopes (``parley ingest``, ``PARLEY_IMPORT_PATHS``).

    ``suffixes`` (lower-case, with the dot) claim a file by name; otherwise ``sniff`` is asked
    with the file's first bytes. ``read(path, arrival)`` yields the file's records in order
    (each a new envelope, or a dead letter for a record that cannot be read), with
    ``arrival`` as their ``received_at`` so a re-import gives the same documents.
    ``count(path)`` is a cheap estimate of the records, for progress bars.
    """

    name: str
    read: Callable[[Path, datetime], Iterator[ImportItem]]
    suffixes: frozenset[str] = frozenset()
    sniff: Callable[[bytes], bool] | None = None
    count: Callable[[Path], int] | None = None


@dataclass(frozen=True)
class WebhookRequest:
    """A platform's push request as the API received it (headers lower-cased)."""

    method: str
    account: str
    headers: Mapping[str, str]
    query: Mapping[str, str]
    body: bytes


@dataclass(frozen=True)
class WebhookResponse:
    """What to answer the platform directly (a challenge, or a plain acknowledgement)."""

    status: int = 200
    body: bytes | str | dict[str, Any] = b""
    media_type: str = "application/json"


class WebhookRefused(ParleyError):
    """The request is not the platform's (bad or missing signature): answered 401, never stored."""


class Webhook(Protocol):
    """A channel's push endpoint, served generically at ``/webhooks/{channel}/{account}``."""

    def challenge(self, request: WebhookRequest, settings: Settings) -> WebhookResponse | None:
        """The answer to a verification challenge (Twitter CRC, Facebook hub.challenge), or
        ``None`` when ``request`` is not one. Raises ``WebhookRefused`` for a forged one."""
        ...

    def verify(self, request: WebhookRequest, settings: Settings) -> None:
        """Raise ``WebhookRefused`` unless ``request`` carries the platform's valid signature
        (compared in constant time)."""
        ...

    def envelopes(self, request: WebhookRequest) -> list[Envelope]:
        """The envelopes in a verified request's body, unparsed (the flow parses them)."""
        ...


@dataclass(frozen=True)
class ThreadingRules:
    """How a channel's messages thread beyond ``reply_to`` / ``thread_key`` links.

    ``subject_window``: messages with the same normalised subject from the same author within
    this window join one conversation (email); ``None`` turns the subject fallback off.
    """

    subject_window: timedelta | None = None


@dataclass(frozen=True)
class Channel(Generic[S]):
    """Everything the hub knows about one channel; exported by ``channels/<name>/__init__``."""

    name: str
    settings_model: type[S]
    parsers: Mapping[str, Parser]
    sources: Callable[[Settings], list[NamedSource]] | None = None
    importers: tuple[FileImporter, ...] = ()
    webhook: Webhook | None = None
    replier: Callable[[Settings, str], Replier] | None = None
    threading: ThreadingRules = field(default_factory=ThreadingRules)

    def settings_of(self, settings: Settings) -> S:
        """This channel's settings out of the root settings' ``channels`` table, validated."""
        return settings.channel_settings(self.name, self.settings_model)
