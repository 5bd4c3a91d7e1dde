"""The file import source: JSONL envelopes, plus every file format a channel declares.

Every path given becomes one partition; its resume state is the number of records already
emitted, so a restarted run with recovery continues where it stopped. A file is read by the
importer that claims it (``importer_for``): by suffix first, then by sniffing its first bytes,
asking the generic JSONL-envelopes importer and then each channel's importers
(``channels.CHANNELS``: ``.eml``, mbox, feed files...). Records become ``Envelope`` items for
the same parsers live channels use; anything that cannot be read (binary content, a format no
importer claims, a record an importer refuses, a file over the size cap) becomes a
``DeadLetter`` item (stage ``import``) carrying the raw bytes and the reason.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Generator, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition
from pydantic import ValidationError

from channels import CHANNELS
from channels.base import FileImporter, ImportFile, ImportItem
from hub.models import Envelope

__all__ = [
    "JSONL_ENVELOPES",
    "FileImportSource",
    "ImportItem",
    "detect_format",
    "importer_for",
    "iter_records",
]

_SNIFF_BYTES = 8192
#: a JSONL line longer than this is refused rather than parsed into memory-hungry objects
MAX_LINE_BYTES = 5 * 1024 * 1024
#: a file read whole (an .eml message, a feed document) larger than this is refused
MAX_FILE_BYTES = 50 * 1024 * 1024


def _jsonl_records(file: ImportFile) -> Iterator[ImportItem]:
    arrived = file.arrival.isoformat()
    path = file.path
    with path.open("rb") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            where = f":{lineno}"
            if len(line) > MAX_LINE_BYTES:
                yield file.dead_letter(f"line {lineno} is over {MAX_LINE_BYTES} bytes", line[:4096], where)
                continue
            try:
                data = json.loads(line)
            except (ValueError, RecursionError) as exc:  # JSONDecodeError, bad UTF-8, nesting bombs
                reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
                yield file.dead_letter(f"line {lineno} is not JSON: {reason}", line[:65536], where)
                continue
            if not isinstance(data, dict):
                yield file.dead_letter(f"line {lineno} is not a JSON object envelope", line, where)
                continue
            data.setdefault("raw_ref", file.ref(where))
            data.setdefault("received_at", arrived)
            try:
                yield Envelope.model_validate(data)
            except ValidationError as exc:
                problems = "; ".join(
                    f"{'.'.join(str(p) for p in e['loc']) or 'envelope'}: {e['msg']}" for e in exc.errors()
                )
                yield file.dead_letter(f"line {lineno} is not an envelope: {problems}", line, where)


def _count_lines(path: Path) -> int:
    with path.open("rb") as fh:
        return sum(1 for line in fh if line.strip())


#: envelopes of any channel, one JSON object per line (what ``parley kb export`` and other
#: systems write); not a channel's format, so it lives here
JSONL_ENVELOPES = FileImporter(
    name="jsonl",
    read=_jsonl_records,
    suffixes=frozenset({".jsonl", ".ndjson", ".json"}),
    sniff=lambda head: head.lstrip().startswith(b"{"),
    count=_count_lines,
)


def _importers() -> tuple[FileImporter, ...]:
    return (JSONL_ENVELOPES, *(importer for channel in CHANNELS.values() for importer in channel.importers))


def _head(path: Path) -> bytes | None:
    try:
        with path.open("rb") as fh:
            return fh.read(_SNIFF_BYTES)
    except OSError:
        return None


def _is_binary(head: bytes) -> bool:
    # NUL bytes mean binary, except in UTF-16/32 text (which starts with its byte-order mark)
    return b"\x00" in head and not head.startswith((b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff"))


def _claim(path: Path, head: bytes) -> FileImporter | None:
    importers = _importers()
    suffix = path.suffix.lower()
    by_name = next((importer for importer in importers if suffix in importer.suffixes), None)
    if by_name is not None:
        return by_name
    return next((i for i in importers if i.sniff is not None and i.sniff(head)), None)


def importer_for(path: Path) -> FileImporter | None:
    """The importer that reads ``path`` (by suffix, then by content), or ``None`` when the file
    is unreadable, binary, or of a format no importer claims."""
    head = _head(path)
    if head is None or _is_binary(head):
        return None
    return _claim(path, head)


def detect_format(path: Path) -> str:
    """How ``path`` would be read: the claiming importer's name (``jsonl``, ``eml``, ``mbox``,
    ``feed``...), else ``binary`` or ``unknown``."""
    head = _head(path)
    if head is None:
        return "unknown"
    if _is_binary(head):
        return "binary"
    importer = _claim(path, head)
    return importer.name if importer is not None else "unknown"


def _arrival(path: Path) -> datetime:
    """A stable arrival time for records of ``path`` (its mtime), so re-imports are identical."""
    try:
        return datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)
    except OSError:
        return datetime.now(UTC)


def _file_records(path: Path) -> Iterator[ImportItem]:
    file = ImportFile(path=path, arrival=_arrival(path), max_bytes=MAX_FILE_BYTES)
    head = _head(path)
    if head is None:
        yield file.dead_letter("cannot read file")
        return
    importer = None if _is_binary(head) else _claim(path, head)
    if importer is None:
        formats = ", ".join(sorted({s for i in _importers() for s in i.suffixes}))
        reason = (
            "binary content: not JSONL envelopes or any channel's file format"
            if _is_binary(head)
            else f"unrecognised file type: expected JSONL envelopes or a channel's format ({formats})"
        )
        yield file.dead_letter(reason, head[:4096])
        return
    try:
        yield from importer.read(file)
    except OSError as exc:
        yield file.dead_letter(f"cannot read file: {exc}", b"")
    except Exception as exc:  # an importer bug must not stop the import of the other files
        yield file.dead_letter(f"cannot read file ({type(exc).__name__}): {exc}", b"")


def _files_under(root: Path) -> list[Path]:
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        found.extend(Path(dirpath) / name for name in sorted(filenames) if not name.startswith("."))
    return found


def iter_records(path: Path) -> Generator[ImportItem, None, None]:
    """Every record in ``path`` (a file or a folder, recursively, in name order)."""
    if path.is_dir():
        for file in _files_under(path):
            yield from _file_records(file)
    elif path.is_file():
        yield from _file_records(path)
    else:
        missing = ImportFile(path=path, arrival=datetime.now(UTC), max_bytes=MAX_FILE_BYTES)
        yield missing.dead_letter("no such file or folder")


class _ImportPartition(StatefulSourcePartition[ImportItem, int]):
    def __init__(self, path: Path, done: int, batch_size: int, on_emit: Callable[[int], None] | None) -> None:
        self._records: Generator[ImportItem, None, None] = iter_records(path)
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
    """One partition per path given; state is the count of records already emitted."""

    def __init__(
        self,
        paths: Sequence[Path],
        *,
        batch_size: int = 64,
        on_emit: Callable[[int], None] | None = None,
    ) -> None:
        self._paths = {str(Path(p).absolute()): Path(p).absolute() for p in paths}
        self._batch_size = batch_size
        self._on_emit = on_emit

    def list_parts(self) -> list[str]:
        return list(self._paths)

    def build_part(self, step_id: str, for_part: str, resume_state: int | None) -> _ImportPartition:
        return _ImportPartition(self._paths[for_part], resume_state or 0, self._batch_size, self._on_emit)
