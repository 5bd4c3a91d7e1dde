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
  ``check_reply(reply)`` says, purely, what about a draft breaks the channel's rules (length,
  mentions, recipients, messaging windows), so the API refuses it before it is queued;
  ``reply_kinds`` says whether the channel has public replies, private messages or both, and
  ``sent_is_delivered`` whether a platform's acceptance is publication (X) or only a hand-over
  (SMTP);
* ``threading(settings)`` says how messages of this channel thread beyond reply links;
* ``own_identities(settings)`` names the brand's identities its configured accounts use.

Every callable takes the root ``Settings``; the channel reads its own table with
``settings_of`` (``Settings.channel_settings``), so the root knows no channel's fields.
Messages carry the channel's thread hints as typed fields (``Message.references``,
``subject_key``, ``listen_query``), never as ``metadata`` keys another package reads.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Generic, Protocol, TypeVar

from pydantic import BaseModel

from hub.errors import ParleyError
from hub.models import DeadLetter, Delivery, Envelope, Message, Reply

if TYPE_CHECKING:
    from bytewax.inputs import Source

    from hub.settings import Settings

__all__ = [
    "Channel",
    "DeliveryInDoubt",
    "FileImporter",
    "HandOver",
    "ImportFile",
    "ImportItem",
    "NamedSource",
    "Parser",
    "Replier",
    "ReplyCheck",
    "ReplyProblem",
    "SettlingReplier",
    "ThreadingRules",
    "Webhook",
    "WebhookRefused",
    "WebhookRequest",
    "WebhookResponse",
    "file_kind",
    "no_subject_fallback",
    "open_regular",
    "whole_file_importer",
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


#: what a replier awaits at its point of no return: right before the step after which the
#: platform may have the reply (SMTP DATA). The outbox records it, so a sender that dies before
#: it is known never to have sent the reply. It may raise to stop the send.
HandOver = Callable[[], Awaitable[None]]


class Replier(Protocol):
    """Sends replies through one channel account.

    A replier whose ``send`` takes a keyword ``handing_over`` (a :data:`HandOver`) awaits it at
    its point of no return; for one that does not, the dispatcher counts the whole send as
    past that point.
    """

    async def send(self, reply: Reply) -> Delivery:
        """Deliver ``reply``; retriable failures raise ``RetriableError``."""
        ...


class SettlingReplier(Replier, Protocol):
    """A replier that can tell whether a reply in doubt (its sender died between sending and
    recording) reached the platform, by asking the platform (X: the account's timeline)."""

    def settle(self, reply: Reply) -> Delivery | None:
        """The delivery of ``reply`` if the platform has it, ``None`` if it never got there
        (it may be sent). ``RetriableError`` when the platform cannot be asked now."""
        ...


@dataclass(frozen=True)
class ReplyProblem:
    """What about a draft reply breaks a channel's rules: the ``field`` (``text``, ``to``,
    ``private``...) and a sentence saying what is wrong and how to fix it."""

    field: str
    message: str


#: a channel's pure check of a draft reply: the problems, [] when it may be queued
ReplyCheck = Callable[[Reply], list[ReplyProblem]]


_KINDS = (
    (stat.S_ISDIR, "folder"),
    (stat.S_ISFIFO, "FIFO (named pipe)"),
    (stat.S_ISSOCK, "socket"),
    (stat.S_ISCHR, "character device"),
    (stat.S_ISBLK, "block device"),
    (stat.S_ISLNK, "symbolic link"),
)


def file_kind(mode: int) -> str:
    """What a ``st_mode`` says a path is, in words: ``regular file``, ``FIFO (named pipe)``..."""
    if stat.S_ISREG(mode):
        return "regular file"
    return next((name for test, name in _KINDS if test(mode)), "special file")


def open_regular(path: Path) -> BinaryIO:
    """``path`` opened for binary reading, provided it is a regular file (symlinks followed).

    Callers check with ``stat`` before opening; this is the belt to those braces: opening a
    FIFO blocks until a writer comes (forever, in an import folder), so the file is opened with
    ``O_NONBLOCK`` (no effect on reading a regular file) and its descriptor checked with
    ``fstat``. Raises ``OSError`` when ``path`` is anything else, or cannot be opened.
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOCTTY", 0)
    fd = os.open(path, flags)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise OSError(errno.EINVAL, f"not a regular file but a {file_kind(mode)}", str(path))
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


@dataclass(frozen=True)
class ImportFile:
    """One file handed to an importer by the import source (``flows.imports``).

    ``arrival`` (the file's mtime) is the ``received_at`` of every record, so a re-import
    gives the same documents; ``max_bytes`` is the import source's cap on a file read whole.
    ``take()`` says whether the file's next record is this reader's: when several flow
    processes read one path, each keeps every n-th record. An importer marked
    ``FileImporter.striped`` asks it once per record, in order, before decoding the record,
    and passes over those it is not given; the import source filters the others' records.
    """

    path: Path
    arrival: datetime
    max_bytes: int
    take: Callable[[], bool] = field(default=lambda: True, compare=False)

    def ref(self, where: str = "") -> str:
        """The ``raw_ref`` of a record ``where`` in this file (``:<line>``, ``#<index>``)."""
        return f"file:{self.path}{where}"

    def dead_letter(self, reason: str, raw: bytes | str = b"", where: str = "") -> DeadLetter:
        """A record of this file that cannot be read (stage ``import``), with its raw bytes."""
        text = raw.decode("utf-8", "backslashreplace") if isinstance(raw, bytes) else raw
        return DeadLetter(stage="import", reason=reason, raw=text, raw_ref=self.ref(where))

    def envelope(self, channel: str, kind: str, payload: Any, where: str = "") -> Envelope:
        """An envelope of account ``import`` for a record ``where`` in this file."""
        return Envelope(
            channel=channel,
            kind=kind,
            account="import",
            payload=payload,
            raw_ref=self.ref(where),
            received_at=self.arrival,
        )

    def open(self) -> BinaryIO:
        """The file opened for binary reading; raises ``OSError`` unless it is a regular file
        (``open_regular``: a FIFO put in its place never blocks the import)."""
        return open_regular(self.path)

    def read_whole(self, what: str) -> bytes | DeadLetter:
        """The file's bytes, or a dead letter when it is over ``max_bytes`` or empty."""
        with self.open() as fh:
            size = os.fstat(fh.fileno()).st_size
            # one byte past the cap at most: the file may have grown since its size was read
            raw = fh.read(4096) if size > self.max_bytes else fh.read(self.max_bytes + 1)
            if size > self.max_bytes or len(raw) > self.max_bytes:
                size = max(size, len(raw))
                return self.dead_letter(
                    f"{what} of {size} bytes is over the {self.max_bytes}-byte limit", raw[:4096]
                )
        if not raw.strip():
            return self.dead_letter(f"empty {what}", raw)
        return raw


@dataclass(frozen=True)
class FileImporter:
    """Reads one file format into envelopes (``parley ingest``, ``PARLEY_IMPORT_PATHS``).

    ``suffixes`` (lower-case, with the dot) claim a file by name; otherwise ``sniff`` is asked
    with the file's first bytes (up to 8 KiB). ``read(file)`` yields the file's records in
    order (each a new envelope, or a dead letter for a record that cannot be read); it opens
    the file with ``file.open()`` (never blocks on a FIFO) and may raise ``OSError`` (the import
    source dead-letters the file). ``count(path)`` is a cheap estimate of the records, for
    progress bars (``None``: one record per file); it opens ``path`` with ``open_regular``.
    ``per_record``: ``read`` judges each record's content itself (a NUL byte refuses that
    record only), so a file ``sniff`` recognises is not refused whole for NUL bytes in its head.
    ``striped``: ``read`` asks ``file.take()`` before decoding each record (see ``ImportFile``),
    so a reader given every n-th record does not decode the others.
    """

    name: str
    read: Callable[[ImportFile], Iterator[ImportItem]]
    suffixes: frozenset[str] = frozenset()
    sniff: Callable[[bytes], bool] | None = None
    count: Callable[[Path], int] | None = None
    per_record: bool = False
    striped: bool = False


def whole_file_importer(
    name: str,
    *,
    channel: str,
    kind: str,
    what: str,
    suffixes: frozenset[str],
    sniff: Callable[[bytes], bool] | None = None,
) -> FileImporter:
    """An importer for files that are one record each (an ``.eml`` message, a feed document):
    the file's bytes become the payload of one ``channel``/``kind`` envelope."""

    def read(file: ImportFile) -> Iterator[ImportItem]:
        raw = file.read_whole(what)
        yield raw if isinstance(raw, DeadLetter) else file.envelope(channel, kind, raw)

    return FileImporter(name=name, read=read, suffixes=suffixes, sniff=sniff)


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


class DeliveryInDoubt(ParleyError):
    """The send failed past its point of no return (the connection dropped after the message
    went): the platform may or may not have the reply, so it must not simply be sent again."""


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
    """How a channel's messages thread beyond ``reply_to`` / ``thread_key`` / ``references``.

    ``subject_window``: messages with the same ``subject_key`` from the same author within
    this window join one conversation (email); ``None`` turns the subject fallback off.
    """

    subject_window: timedelta | None = None


def no_subject_fallback(settings: Settings) -> ThreadingRules:
    """The threading rules of a channel that threads by reply links only."""
    return ThreadingRules()


@dataclass(frozen=True)
class Channel(Generic[S]):
    """Everything the hub knows about one channel; exported by ``channels/<name>/__init__``.

    ``name`` is the ``Envelope.channel`` / ``Message.channel`` value and the key of the
    channel's settings table. Optional parts are ``None`` (no poller, no webhook, read-only,
    no accounts of the brand's own).
    """

    name: str
    settings_model: type[S]
    parsers: Mapping[str, Parser]
    sources: Callable[[Settings], list[NamedSource]] | None = None
    importers: tuple[FileImporter, ...] = ()
    webhook: Webhook | None = None
    replier: Callable[[Settings, str], Replier] | None = None
    check_reply: ReplyCheck | None = None
    reply_kinds: frozenset[str] = frozenset({"public"})
    sent_is_delivered: bool = False
    threading: Callable[[Settings], ThreadingRules] = no_subject_fallback
    own_identities: Callable[[Settings], list[str]] | None = None

    def settings_of(self, settings: Settings) -> S:
        """This channel's settings out of the root settings' ``channels`` table, validated.

        Raises ``FatalError`` naming the variable to fix when they do not validate.
        """
        return settings.channel_settings(self.name, self.settings_model)

    def with_settings(self, settings: Settings, channel_settings: S) -> Settings:
        """A copy of ``settings`` whose table for this channel is ``channel_settings``."""
        tables = {**settings.channels, self.name: channel_settings.model_dump()}
        return settings.model_copy(update={"channels": tables})
