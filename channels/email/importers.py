"""Mail files into ``rfc822`` envelopes: ``.eml`` files (one message each) and mbox files.

An ``.eml`` file is claimed by its suffix, or by starting with a mail header (``From:``,
``Received:``...); an mbox file by ``.mbox``, or by starting with an mbox ``From `` line. Each
message becomes an envelope of account ``import``; an mbox message that cannot be read
becomes a dead letter naming its position (``#<index>``), and the rest of the box still flows.

An mbox is split by ``channels.email.mbox`` (a ``From `` line separates only where a message
can start, and only when headers follow it) and judged message by message: a message holding
NUL bytes (binary data, not mail) or over the import's size cap is a dead letter, the others
still flow. Nothing in an mbox is dropped silently:

* an empty file is a dead letter (``empty mbox file``);
* text before the first ``From `` line is imported as a message when it starts with a mail
  header (a box whose first separator was lost, or one message saved as ``.mbox`` with no
  ``From `` line at all), and is otherwise a dead letter saying it is not a message.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

from channels.base import FileImporter, ImportFile, ImportItem, open_regular, whole_file_importer
from channels.email.mbox import Chunk, split_mbox
from channels.email.parse import RFC822
from channels.email.settings import CHANNEL

__all__ = ["EML_FILES", "IMPORTERS", "MBOX_FILES"]

_MAIL_HEADERS = (b"received:", b"from:", b"message-id:", b"return-path:", b"delivered-to:", b"subject:")
_MBOX_SEPARATOR = b"From "
_HEAD_BYTES = 4096  # what a dead letter keeps of a message it refuses


def looks_like_mail(head: bytes) -> bool:
    """The file starts with a header mail servers and clients write first."""
    return head.lstrip()[:512].lower().startswith(_MAIL_HEADERS)


def looks_like_mbox(head: bytes) -> bool:
    """The file starts with an mbox ``From `` separator line."""
    return head.startswith(_MBOX_SEPARATOR)


def _message_record(file: ImportFile, chunk: Chunk, where: str = "") -> ImportItem:
    """The envelope of one mbox message, or a dead letter saying why it cannot be one."""
    where = where or f"#{chunk.index}"
    what = "mbox text before the first 'From ' line" if chunk.preamble else f"mbox message {chunk.index}"
    if chunk.has_nul:
        return file.dead_letter(
            f"{what} holds NUL bytes: binary data, not mail", chunk.raw[:_HEAD_BYTES], where
        )
    if chunk.size > file.max_bytes:
        reason = f"{what} of {chunk.size} bytes is over the {file.max_bytes}-byte limit"
        return file.dead_letter(reason, chunk.raw[:_HEAD_BYTES], where)
    return file.envelope(CHANNEL, RFC822, chunk.raw, where)


def _preamble_record(file: ImportFile, chunk: Chunk, *, separated: bool) -> ImportItem | None:
    """Text before the first separator (``separated``: messages follow it): a message when it
    starts with a mail header, ``None`` when blank, else a dead letter saying what it is not."""
    if not chunk.raw.strip():
        return None
    where = "#preamble" if separated else "#0"
    if looks_like_mail(chunk.raw):
        return _message_record(file, chunk, where)
    reason = (
        "text before the first 'From ' line is not a mail message"
        if separated
        else "no mbox 'From ' separator line and no mail headers: not an mbox file"
    )
    return file.dead_letter(reason, chunk.raw[:_HEAD_BYTES], where)


def read_mbox(file: ImportFile) -> Iterator[ImportItem]:
    """Every message of the mbox ``file``, in order: an envelope each, or a dead letter saying
    why not (see the module)."""
    with file.open() as fh:
        # one byte past the cap tells an oversized message, which is refused, not kept
        chunks = split_mbox(fh, keep=file.max_bytes + 1)
        first = next(chunks, None)
        records: list[ImportItem | None] = []
        if first is not None and first.preamble:
            following = next(chunks, None)
            records.append(_preamble_record(file, first, separated=following is not None))
            first = following
        if first is not None:
            records.append(_message_record(file, first))
        emitted = False
        for record in itertools.chain(records, (_message_record(file, chunk) for chunk in chunks)):
            if record is not None:
                emitted = True
                yield record
    if not emitted:
        yield file.dead_letter("empty mbox file: no messages", b"")


def count_mbox(path: Path) -> int:
    """How many records the mbox at ``path`` gives (its messages; at least one)."""
    with open_regular(path) as fh:
        return max(
            1, sum(1 for chunk in split_mbox(fh, keep=_HEAD_BYTES) if not chunk.preamble or chunk.raw.strip())
        )


EML_FILES = whole_file_importer(
    "eml",
    channel=CHANNEL,
    kind=RFC822,
    what=".eml file",
    suffixes=frozenset({".eml"}),
    sniff=looks_like_mail,
)

MBOX_FILES = FileImporter(
    name="mbox",
    read=read_mbox,
    suffixes=frozenset({".mbox"}),
    sniff=looks_like_mbox,
    count=count_mbox,
    per_record=True,
)

IMPORTERS: tuple[FileImporter, ...] = (MBOX_FILES, EML_FILES)
