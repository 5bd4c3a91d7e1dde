"""Mail files into ``rfc822`` envelopes: ``.eml`` files (one message each) and mbox files.

An ``.eml`` file is claimed by its suffix, or by starting with a mail header (``From:``,
``Received:``...); an mbox file by ``.mbox``, or by starting with an mbox ``From `` line. Each
message becomes an envelope of account ``import``; an mbox message that cannot be read
becomes a dead letter naming its position (``#<index>``), and the rest of the box still flows.
"""

from __future__ import annotations

import mailbox
from collections.abc import Iterator
from pathlib import Path

from channels.base import FileImporter, ImportFile, ImportItem, whole_file_importer
from channels.email.parse import RFC822
from channels.email.settings import CHANNEL

__all__ = ["EML_FILES", "IMPORTERS", "MBOX_FILES"]

_MAIL_HEADERS = (b"received:", b"from:", b"message-id:", b"return-path:", b"delivered-to:", b"subject:")
_MBOX_SEPARATOR = b"From "


def looks_like_mail(head: bytes) -> bool:
    """The file starts with a header mail servers and clients write first."""
    return head.lstrip()[:512].lower().startswith(_MAIL_HEADERS)


def looks_like_mbox(head: bytes) -> bool:
    """The file starts with an mbox ``From `` separator line."""
    return head.startswith(_MBOX_SEPARATOR)


def read_mbox(file: ImportFile) -> Iterator[ImportItem]:
    """Every message of the mbox ``file``, in order."""
    box = mailbox.mbox(file.path, create=False)
    try:
        for index, key in enumerate(box.iterkeys()):
            where = f"#{index}"
            try:
                raw = box.get_bytes(key)
            except (OSError, KeyError, ValueError) as exc:
                yield file.dead_letter(f"mbox message {index} unreadable: {exc}", b"", where)
                continue
            yield file.envelope(CHANNEL, RFC822, raw, where)
    finally:
        box.close()


def count_mbox(path: Path) -> int:
    """How many messages the mbox at ``path`` holds (its ``From `` separator lines)."""
    with path.open("rb") as fh:
        return sum(1 for line in fh if line.startswith(_MBOX_SEPARATOR))


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
)

IMPORTERS: tuple[FileImporter, ...] = (MBOX_FILES, EML_FILES)
