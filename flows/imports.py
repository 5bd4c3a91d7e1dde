"""The file import source: JSONL envelopes, plus every file format a channel declares.

Every path given becomes one partition, or, read by several flow processes (``readers``), one
partition per process, each keeping every n-th record of the path (a ``Stripe``: records
counted over the path's files in order; the JSONL importer passes over the others' lines
without decoding them), so every process reads, decodes and parses its own share. A
partition's resume state is the number of records it has emitted, so a restarted run with
recovery continues where it stopped (with a different number of processes the partitions
differ and the path is read again from its start: the flow's dedupe step drops the replays).

A folder is walked by ``flows.import_paths``: regular files in name order; FIFOs, sockets,
devices, dangling or looping symbolic links are never opened and each becomes a dead letter
naming it. A file is read by the importer that claims it (``importer_for``): by suffix first,
then by sniffing its first bytes, asking the generic JSONL-envelopes importer and then each
channel's importers (``channels.CHANNELS``: ``.eml``, mbox, feed files...). Records become
``Envelope`` items for the same parsers live channels use; anything that cannot be read
(binary content, a format no importer claims, a record an importer refuses, a file over the
size cap) becomes a ``DeadLetter`` item (stage ``import``) carrying the raw bytes and the
reason.

NUL bytes in the first 8 KiB make a file binary and refuse it whole, unless its importer
judges each record itself (``FileImporter.per_record``: JSONL, mbox) and recognises the
content: then only the records holding them are refused.

A JSONL line is read at most ``MAX_LINE_BYTES`` at a time (a longer line is skipped unread
and dead-lettered with its first 4 KiB), and its payload is held to ``channels.limits``
(nesting, size) before it becomes an envelope, so a nesting bomb is a dead letter for its line.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition
from pydantic import ValidationError

from channels import CHANNELS
from channels.base import FileImporter, ImportFile, ImportItem, open_regular
from channels.limits import check_payload
from flows.import_paths import Skipped, import_entries
from hub.errors import MalformedPayload
from hub.models import Envelope

__all__ = [
    "JSONL_ENVELOPES",
    "MAX_FILE_BYTES",
    "MAX_LINE_BYTES",
    "FileImportSource",
    "ImportItem",
    "Stripe",
    "count_records",
    "detect_format",
    "importer_for",
    "iter_records",
]

_SNIFF_BYTES = 8192
#: a JSONL line longer than this is refused rather than parsed into memory-hungry objects
MAX_LINE_BYTES = 5 * 1024 * 1024
#: a file read whole (an .eml message, a feed document) or one mbox message larger than this
#: is refused
MAX_FILE_BYTES = 50 * 1024 * 1024
_SKIP_CHUNK = 1024 * 1024  # the rest of an over-long line is skipped this much at a time
_HEAD_BYTES = 4096  # what a dead letter keeps of an over-long line


@dataclass(frozen=True)
class _Line:
    number: int
    data: bytes  # the whole line, or its first _HEAD_BYTES when it is over the limit
    length: int
    too_long: bool


def _lines(fh: BinaryIO, limit: int) -> Iterator[_Line]:
    """The lines of ``fh``; a line of more than ``limit`` bytes (newline excluded) is never held
    whole: only its head is kept, the rest is read past in bounded pieces."""
    number = 0
    while line := fh.readline(limit + 1):
        number += 1
        if len(line) <= limit or line.endswith(b"\n"):
            yield _Line(number, line, len(line), too_long=False)
            continue
        length = len(line)
        while rest := fh.readline(_SKIP_CHUNK):
            length += len(rest)
            if rest.endswith(b"\n"):
                break
        yield _Line(number, line[:_HEAD_BYTES], length, too_long=True)


def _jsonl_record(file: ImportFile, line: _Line) -> ImportItem:
    """One non-blank line of a JSONL file: its envelope, or a dead letter saying why not."""
    number, where = line.number, f":{line.number}"
    if line.too_long:
        reason = f"line {number} of {line.length} bytes is over the {MAX_LINE_BYTES}-byte limit"
        return file.dead_letter(reason, line.data, where)
    try:
        data = json.loads(line.data)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, bad UTF-8, nesting bombs
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        return file.dead_letter(f"line {number} is not JSON: {reason}", line.data[:65536], where)
    if not isinstance(data, dict):
        return file.dead_letter(f"line {number} is not a JSON object envelope", line.data, where)
    try:  # json.loads reads up to ~1,000 levels; nothing past the limits goes further
        check_payload(data.get("payload"))
    except MalformedPayload as exc:
        return file.dead_letter(f"line {number}: {exc}", line.data, where)
    data.setdefault("raw_ref", file.ref(where))
    data.setdefault("received_at", file.arrival.isoformat())
    try:
        return Envelope.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'envelope'}: {e['msg']}" for e in exc.errors()
        )
        return file.dead_letter(f"line {number} is not an envelope: {problems}", line.data, where)


def _jsonl_records(file: ImportFile) -> Iterator[ImportItem]:
    with file.open() as fh:
        for line in _lines(fh, MAX_LINE_BYTES):
            if (line.too_long or line.data.strip()) and file.take():
                yield _jsonl_record(file, line)


def _count_lines(path: Path) -> int:
    with open_regular(path) as fh:
        return sum(1 for line in _lines(fh, MAX_LINE_BYTES) if line.too_long or line.data.strip())


#: envelopes of any channel, one JSON object per line (what ``parley kb export`` and other
#: systems write); not a channel's format, so it lives here
JSONL_ENVELOPES = FileImporter(
    name="jsonl",
    read=_jsonl_records,
    suffixes=frozenset({".jsonl", ".ndjson", ".json"}),
    sniff=lambda head: head.lstrip().startswith(b"{"),
    count=_count_lines,
    per_record=True,
    striped=True,
)


def _importers() -> tuple[FileImporter, ...]:
    return (JSONL_ENVELOPES, *(importer for channel in CHANNELS.values() for importer in channel.importers))


def _head(path: Path) -> bytes | OSError:
    try:
        with open_regular(path) as fh:
            return fh.read(_SNIFF_BYTES)
    except OSError as exc:
        return exc


def _has_nul(head: bytes) -> bool:
    # NUL bytes mean binary, except in UTF-16/32 text (which starts with its byte-order mark)
    return b"\x00" in head and not head.startswith((b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff"))


_BINARY = "binary content: not JSONL envelopes or any channel's file format"


def _judge(path: Path, head: bytes) -> FileImporter | str:
    """The importer that reads ``path`` (by suffix, then by content), or why none does."""
    importers = _importers()
    suffix = path.suffix.lower()
    importer = next((i for i in importers if suffix in i.suffixes), None)
    if importer is None:
        importer = next((i for i in importers if i.sniff is not None and i.sniff(head)), None)
    if _has_nul(head):
        # an importer that judges each record may take a file it recognises: one message
        # with a NUL byte must not cost the whole mbox
        recognised = importer is not None and importer.sniff is not None and importer.sniff(head)
        if not (recognised and importer is not None and importer.per_record):
            return _BINARY
    if importer is None:
        formats = ", ".join(sorted({s for i in importers for s in i.suffixes}))
        return f"unrecognised file type: expected JSONL envelopes or a channel's format ({formats})"
    return importer


def importer_for(path: Path) -> FileImporter | None:
    """The importer that reads ``path`` (by suffix, then by content), or ``None`` when the file
    is unreadable (or not a regular file), binary, or of a format no importer claims."""
    head = _head(path)
    if isinstance(head, OSError):
        return None
    judged = _judge(path, head)
    return judged if isinstance(judged, FileImporter) else None


def detect_format(path: Path) -> str:
    """How ``path`` would be read: the claiming importer's name (``jsonl``, ``eml``, ``mbox``,
    ``feed``...), else ``binary`` or ``unknown``."""
    head = _head(path)
    if isinstance(head, OSError):
        return "unknown"
    judged = _judge(path, head)
    if isinstance(judged, FileImporter):
        return judged.name
    return "binary" if judged == _BINARY else "unknown"


def _arrival(path: Path) -> datetime:
    """A stable arrival time for records of ``path`` (its mtime), so re-imports are identical."""
    try:
        return datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)
    except OSError:
        return datetime.now(UTC)


def _file_records(path: Path, take: Callable[[], bool]) -> Iterator[ImportItem]:
    """The records of one file that ``take`` gives this reader (see ``ImportFile.take``)."""
    file = ImportFile(path=path, arrival=_arrival(path), max_bytes=MAX_FILE_BYTES)
    head = _head(path)
    if isinstance(head, OSError):
        if take():
            yield file.dead_letter(f"cannot read file: {head.strerror or head}")
        return
    judged = _judge(path, head)
    if isinstance(judged, str):
        if take():
            yield file.dead_letter(judged, head[:4096])
        return
    try:
        if judged.striped:
            yield from judged.read(replace(file, take=take))
        else:
            yield from (record for record in judged.read(file) if take())
    except OSError as exc:
        if take():
            yield file.dead_letter(f"cannot read file: {exc}", b"")
    except Exception as exc:  # an importer bug must not stop the import of the other files
        if take():
            yield file.dead_letter(f"cannot read file ({type(exc).__name__}): {exc}", b"")


def _skipped(entry: Skipped) -> ImportItem:
    return ImportFile(path=entry.path, arrival=datetime.now(UTC), max_bytes=MAX_FILE_BYTES).dead_letter(
        entry.reason
    )


@dataclass(frozen=True)
class Stripe:
    """The share of a path's records one of ``count`` readers keeps: the ``index``-th of every
    ``count`` records, counted from 0 over the path's files in order (dead letters included)."""

    index: int = 0
    count: int = 1

    def taker(self) -> Callable[[], bool]:
        """A fresh count: called once per record in order, says whether the record is kept."""
        if self.count == 1:
            return _every
        seen = itertools.count()
        return lambda: next(seen) % self.count == self.index


def _every() -> bool:
    return True


def iter_records(path: Path, stripe: Stripe = Stripe()) -> Generator[ImportItem, None, None]:
    """Every record in ``path`` (a file or a folder, recursively, in name order), or the
    ``stripe`` of them; a dead letter for every entry that is not a regular file
    (``flows.import_paths``)."""
    take = stripe.taker()
    for entry in import_entries(path):
        if isinstance(entry, Skipped):
            if take():
                yield _skipped(entry)
        else:
            yield from _file_records(entry, take)


def count_records(path: Path) -> int:
    """A cheap estimate of how many records ``path`` holds, for progress bars: each importer's
    count (one for formats of one record per file), one per skipped entry."""
    return sum(_count_file(entry) if isinstance(entry, Path) else 1 for entry in import_entries(path))


def _count_file(path: Path) -> int:
    importer = importer_for(path)
    if importer is None or importer.count is None:
        return 1
    try:
        return importer.count(path) or 1
    except OSError:  # the import itself dead-letters an unreadable file; the bar just guesses
        return 1


class _ImportPartition(StatefulSourcePartition[ImportItem, int]):
    def __init__(
        self,
        path: Path,
        stripe: Stripe,
        done: int,
        batch_size: int,
        on_emit: Callable[[int], None] | None,
    ) -> None:
        self._records: Generator[ImportItem, None, None] = iter_records(path, stripe)
        self._done = done
        self._batch_size = batch_size
        self._on_emit = on_emit
        # Skip what an earlier run already emitted (resume after a restart).
        for _ in range(done):
            if next(self._records, None) is None:
                break

    def next_batch(self) -> list[ImportItem]:
        batch: list[ImportItem] = []
        for record in self._records:
            batch.append(record)
            if len(batch) >= self._batch_size:
                break
        if not batch:
            raise StopIteration
        self._done += len(batch)
        if self._on_emit is not None:
            self._on_emit(len(batch))
        return batch

    def snapshot(self) -> int:
        return self._done

    def close(self) -> None:
        # an aborted run must not leak the open file or mailbox the generator holds
        self._records.close()


class FileImportSource(FixedPartitionedSource[ImportItem, int]):
    """One partition per path given, or with ``readers`` > 1 (the flow's processes) one per
    path and reader, each a ``Stripe`` of the path's records; a partition's state is the
    count of records it has emitted.

    Bytewax deals the partitions out to its workers in the order of their names, in turn, so
    the ``readers`` stripes of a path (named ``<path>#<k>of<readers>``, ``k`` zero-padded)
    land one on each process."""

    def __init__(
        self,
        paths: Sequence[Path],
        *,
        batch_size: int = 64,
        on_emit: Callable[[int], None] | None = None,
        readers: int = 1,
    ) -> None:
        width = len(str(readers - 1))
        self._parts: dict[str, tuple[Path, Stripe]] = {}
        for given in paths:
            path = Path(given).absolute()
            if readers <= 1:
                self._parts[str(path)] = (path, Stripe())
                continue
            for k in range(readers):
                self._parts[f"{path}#{k:0{width}d}of{readers}"] = (path, Stripe(k, readers))
        self._batch_size = batch_size
        self._on_emit = on_emit

    def list_parts(self) -> list[str]:
        return list(self._parts)

    def build_part(self, step_id: str, for_part: str, resume_state: int | None) -> _ImportPartition:
        path, stripe = self._parts[for_part]
        return _ImportPartition(path, stripe, resume_state or 0, self._batch_size, self._on_emit)
