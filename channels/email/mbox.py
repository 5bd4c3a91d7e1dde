"""Split an mbox file into its messages, streaming, judging every ``From `` line.

mbox files come in flavours (mboxo, mboxrd, mboxcl) and broken: body lines starting with
``From `` left unquoted, NUL-filled blocks after a crash, a single message with no separator.
The stdlib ``mailbox.mbox`` starts a new message at every line starting with ``From ``, and
reads the whole file for its table of contents. This reader:

* takes a ``From `` line as a separator at the start of the file, or after a blank line, or in
  the full separator form (``From sender Mon Nov 23 10:00:00 2026``), and only when the next
  line is a header field (``Name: value``): a "message" without headers is a body line of the
  message it is in (``From my point of view...``), not a new mail. At the start of the file a
  ``From `` line always separates;
* drops the blank line before a separator and at the end of the file (the writer added it):
  a message's bytes are what follows its ``From `` line, up to there;
* reads lines at most ``_PIECE`` bytes at a time and keeps at most ``keep`` bytes of a message
  (its true size still counted), so any file costs bounded memory;
* reports text before the first separator as a ``Chunk`` with ``index`` -1 (``preamble``),
  so the caller decides about it: a lost separator, or a single message with none.

Content is not judged here beyond noting NUL bytes (``has_nul``); the importer decides.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

__all__ = ["Chunk", "split_mbox"]

_PIECE = 64 * 1024
_SEPARATOR = b"From "
_BLANK = (b"\n", b"\r\n")
#: a header field: printable ASCII but the colon, then a colon (obsolete syntax: spaces before it)
_HEADER = re.compile(rb"[!-9;-~]+[ \t]*:")
#: the full separator form: From <sender> <asctime date>
_DATED = re.compile(rb"From \S+ +[A-Z][a-z]{2} [A-Z][a-z]{2} +\d{1,2} \d{1,2}:\d{2}")


@dataclass
class Chunk:
    """One message of an mbox (``index`` from 0), or the text before the first separator
    (``index`` -1). ``raw`` is its bytes after the ``From `` line, cut at ``keep`` bytes;
    ``size`` the true size."""

    index: int
    raw: bytes = b""
    size: int = 0
    has_nul: bool = False
    _parts: list[bytes] = field(default_factory=list, repr=False)

    @property
    def preamble(self) -> bool:
        return self.index < 0

    def _add(self, piece: bytes, keep: int) -> None:
        if self.size < keep:
            self._parts.append(piece[: keep - self.size])
        self.size += len(piece)
        self.has_nul = self.has_nul or b"\x00" in piece

    def _done(self) -> Chunk:
        self.raw = b"".join(self._parts)
        self._parts = []
        return self


def _pieces(fh: BinaryIO) -> Iterator[tuple[bytes, bool]]:
    """(piece, starts a line) for every piece of ``fh``; a line is at most ``_PIECE`` bytes a piece."""
    starts = True
    while piece := fh.readline(_PIECE):
        yield piece, starts
        starts = piece.endswith(b"\n")


def _separates(line: bytes, after_blank: bool, next_piece: bytes | None) -> bool:
    if not line.startswith(_SEPARATOR) or next_piece is None:
        return False
    return (after_blank or _DATED.match(line) is not None) and _HEADER.match(next_piece) is not None


def split_mbox(fh: BinaryIO, keep: int) -> Iterator[Chunk]:
    """The messages of the mbox ``fh`` in order, each cut at ``keep`` bytes (see the module)."""
    pieces = _pieces(fh)
    current: Chunk | None = None
    held: bytes | None = None  # a blank line: dropped if a separator follows, else content
    after_blank = False
    in_separator = False  # the rest of an over-long From line is not message content
    nxt = next(pieces, None)
    first = True
    while nxt is not None:
        (piece, starts), nxt = nxt, next(pieces, None)
        upcoming = nxt[0] if nxt is not None and nxt[1] else None
        if starts and piece.startswith(_SEPARATOR) and (first or _separates(piece, after_blank, upcoming)):
            if current is not None:
                yield current._done()
            current, held, after_blank = Chunk(index=0 if current is None else current.index + 1), None, False
            first, in_separator = False, not piece.endswith(b"\n")
            continue
        first = False
        if in_separator:
            in_separator = not piece.endswith(b"\n")
            continue
        if current is None:
            current = Chunk(index=-1)
        if held is not None:
            current._add(held, keep)
            held = None
        if starts and piece in _BLANK:
            held, after_blank = piece, True
            continue
        after_blank = False if starts else after_blank
        current._add(piece, keep)
    if current is not None:  # a blank line held at the end is dropped too: the writer added it
        yield current._done()
