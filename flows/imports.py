"""The file import source: JSONL envelopes, .eml files and folders, mbox files, feed files.

Every path given becomes one partition; its resume state is the number of records already
emitted, so a restarted run with recovery continues where it stopped. Records become
``Envelope`` items for the same parsers live channels use; anything that cannot be read
becomes a ``DeadLetter`` item (stage ``import``) carrying the raw bytes and the reason.
"""

from __future__ import annotations

import json
import mailbox
import os
from collections.abc import Callable, Generator, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition
from pydantic import ValidationError

from hub.models import DeadLetter, Envelope

__all__ = ["FileImportSource", "ImportItem", "detect_format", "iter_records"]

ImportItem = Envelope | DeadLetter
FileFormat = Literal["jsonl", "eml", "mbox", "feed", "binary", "unknown"]

_FEED_SUFFIXES = {".xml", ".rss", ".atom", ".rdf", ".feed"}
_MAIL_HEADERS = (b"received:", b"from:", b"message-id:", b"return-path:", b"delivered-to:", b"subject:")
_SNIFF_BYTES = 8192
#: a JSONL line longer than this is refused rather than parsed into memory-hungry objects
MAX_LINE_BYTES = 5 * 1024 * 1024
#: an .eml or feed file larger than this is refused (they are read whole)
MAX_FILE_BYTES = 50 * 1024 * 1024


def detect_format(path: Path) -> FileFormat:
    """Decide how to read ``path`` from its name, falling back to its first bytes."""
    suffix = path.suffix.lower()
    try:
        with path.open("rb") as fh:
            head = fh.read(_SNIFF_BYTES)
    except OSError:
        return "unknown"
    if b"\x00" in head and not head.startswith((b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff")):
        return "binary"
    if suffix in {".jsonl", ".ndjson", ".json"}:
        return "jsonl"
    if suffix == ".eml":
        return "eml"
    if suffix == ".mbox":
        return "mbox"
    if suffix in _FEED_SUFFIXES:
        return "feed"
    stripped = head.lstrip()
    lowered = stripped[:512].lower()
    if stripped.startswith(b"{"):
        return "jsonl"
    if head.startswith(b"From "):
        return "mbox"
    if lowered.startswith(b"<?xml") or b"<rss" in lowered or b"<feed" in lowered or b"<rdf" in lowered:
        return "feed"
    if lowered.startswith(_MAIL_HEADERS):
        return "eml"
    return "unknown"


def _arrival(path: Path) -> datetime:
    """A stable arrival time for records of ``path`` (its mtime), so re-imports are identical."""
    try:
        return datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)
    except OSError:
        return datetime.now(UTC)


def _dead(path: Path, reason: str, raw: bytes | str, where: str = "") -> DeadLetter:
    text = raw.decode("utf-8", "backslashreplace") if isinstance(raw, bytes) else raw
    return DeadLetter(stage="import", reason=reason, raw=text, raw_ref=f"file:{path}{where}")


def _jsonl_records(path: Path) -> Iterator[ImportItem]:
    arrived = _arrival(path).isoformat()
    with path.open("rb") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            where = f":{lineno}"
            if len(line) > MAX_LINE_BYTES:
                yield _dead(path, f"line {lineno} is over {MAX_LINE_BYTES} bytes", line[:4096], where)
                continue
            try:
                data = json.loads(line)
            except (ValueError, RecursionError) as exc:  # JSONDecodeError, bad UTF-8, nesting bombs
                reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
                yield _dead(path, f"line {lineno} is not JSON: {reason}", line[:65536], where)
                continue
            if not isinstance(data, dict):
                yield _dead(path, f"line {lineno} is not a JSON object envelope", line, where)
                continue
            data.setdefault("raw_ref", f"file:{path}{where}")
            data.setdefault("received_at", arrived)
            try:
                yield Envelope.model_validate(data)
            except ValidationError as exc:
                problems = "; ".join(
                    f"{'.'.join(str(p) for p in e['loc']) or 'envelope'}: {e['msg']}" for e in exc.errors()
                )
                yield _dead(path, f"line {lineno} is not an envelope: {problems}", line, where)


def _read_whole(path: Path, what: str) -> bytes | DeadLetter:
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        with path.open("rb") as fh:
            head = fh.read(4096)
        return _dead(path, f"{what} of {size} bytes is over the {MAX_FILE_BYTES}-byte limit", head)
    raw = path.read_bytes()
    if not raw.strip():
        return _dead(path, f"empty {what}", raw)
    return raw


def _whole_file_record(channel: str, kind: str, what: str) -> Callable[[Path], Iterator[ImportItem]]:
    """A reader for files that are one record each (an .eml message, a feed document)."""

    def read(path: Path) -> Iterator[ImportItem]:
        raw = _read_whole(path, what)
        if isinstance(raw, DeadLetter):
            yield raw
            return
        yield Envelope(
            channel=channel,
            kind=kind,
            account="import",
            payload=raw,
            raw_ref=f"file:{path}",
            received_at=_arrival(path),
        )

    return read


def _mbox_records(path: Path) -> Iterator[ImportItem]:
    arrived = _arrival(path)
    box = mailbox.mbox(path, create=False)
    try:
        for index, key in enumerate(box.iterkeys()):
            where = f"#{index}"
            try:
                raw = box.get_bytes(key)
            except (OSError, KeyError, ValueError) as exc:
                yield _dead(path, f"mbox message {index} unreadable: {exc}", b"", where)
                continue
            yield Envelope(
                channel="email",
                kind="rfc822",
                account="import",
                payload=raw,
                raw_ref=f"file:{path}{where}",
                received_at=arrived,
            )
    finally:
        box.close()


_READERS: dict[FileFormat, Callable[[Path], Iterator[ImportItem]]] = {
    "jsonl": _jsonl_records,
    "eml": _whole_file_record("email", "rfc822", ".eml file"),
    "mbox": _mbox_records,
    "feed": _whole_file_record("feeds", "feed", "feed file"),
}


def _file_records(path: Path) -> Iterator[ImportItem]:
    fmt = detect_format(path)
    reader = _READERS.get(fmt)
    if reader is None:
        with path.open("rb") as fh:
            head = fh.read(4096)
        reason = (
            "binary content: not JSONL, mail or a feed"
            if fmt == "binary"
            else "unrecognised file type: expected .jsonl envelopes, .eml, .mbox or an RSS/Atom feed"
        )
        yield _dead(path, reason, head)
        return
    try:
        yield from reader(path)
    except OSError as exc:
        yield _dead(path, f"cannot read file: {exc}", b"")
    except Exception as exc:  # a reader bug must not stop the import of the other files
        yield _dead(path, f"cannot read file ({type(exc).__name__}): {exc}", b"")


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
        yield _dead(path, "no such file or folder", b"")


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
