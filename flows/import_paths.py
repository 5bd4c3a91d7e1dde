"""What an import path holds: the regular files to read, in name order, and why the rest is skipped.

An import folder may hold anything a file system can: FIFOs (opening one blocks until a writer
comes, so forever), sockets, devices, symbolic links that point nowhere or at themselves,
folders that cannot be listed. Every entry is judged by ``lstat``/``stat`` before anything opens
it: a regular file, directly or through a symbolic link, is imported; anything else is
``Skipped`` with the reason, which the import source turns into a dead letter naming the path.
Nothing is skipped silently but hidden entries (names starting with a dot: ``.git``,
``.DS_Store``), as before.

Folders are walked with an explicit stack, never by recursion, depth first in name order, a
folder's files before its subfolders (the order ``os.walk`` gives). A symbolic link to a folder
is not followed inside a folder (a link to an ancestor would walk forever): it is skipped with a
reason; a folder given as the import path itself may be a symbolic link.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from channels.base import file_kind

__all__ = ["Skipped", "import_entries", "refusal"]


@dataclass(frozen=True)
class Skipped:
    """An entry of an import path that is not read, and why."""

    path: Path
    reason: str


def _target(link: Path) -> str:
    try:
        return os.readlink(link)
    except OSError:
        return "?"


def _link_refusal(path: Path) -> str | None:
    """Why the symbolic link ``path`` cannot be imported, or ``None`` when it leads to a regular file."""
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return f"symbolic link loop ({path.name} -> {_target(path)}): skipped"
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return f"dangling symbolic link (to {_target(path)}, which does not exist): skipped"
        return f"symbolic link cannot be followed ({exc.strerror}): skipped"
    if stat.S_ISDIR(mode):
        return f"symbolic link to a folder ({_target(path)}), not followed: import that folder itself"
    if not stat.S_ISREG(mode):
        return f"symbolic link to a {file_kind(mode)}, not a regular file: never opened"
    return None


def refusal(path: Path) -> str | None:
    """Why ``path`` cannot be imported as a file, or ``None`` when it is a regular file (or a
    symbolic link to one). Never opens ``path``."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return "no such file or folder"
    except OSError as exc:
        return f"cannot read its file status: {exc.strerror}"
    if stat.S_ISLNK(mode):
        return _link_refusal(path)
    if stat.S_ISREG(mode):
        return None
    return f"not a regular file but a {file_kind(mode)}: never opened"


def _listing(folder: Path) -> list[os.DirEntry[str]] | str:
    """The visible entries of ``folder`` in name order, or why it cannot be listed."""
    try:
        with os.scandir(folder) as entries:
            return sorted((e for e in entries if not e.name.startswith(".")), key=lambda e: e.name)
    except OSError as exc:
        return f"cannot list folder: {exc.strerror or exc}"


def _is_folder(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir(follow_symlinks=False)
    except OSError:  # vanished since the listing: judged (and reported) as a file
        return False


def _walk(root: Path) -> Iterator[Path | Skipped]:
    stack = [root]
    while stack:
        folder = stack.pop()
        listing = _listing(folder)
        if isinstance(listing, str):
            yield Skipped(folder, listing)
            continue
        subfolders: list[Path] = []
        for entry in listing:
            path = Path(entry.path)
            if _is_folder(entry):
                subfolders.append(path)
                continue
            reason = refusal(path)
            yield path if reason is None else Skipped(path, reason)
        stack.extend(reversed(subfolders))


def import_entries(path: Path) -> Iterator[Path | Skipped]:
    """The regular files under ``path`` (a file, or a folder walked recursively) in name order,
    and a ``Skipped`` for every entry that is not one (and for ``path`` itself when it is
    missing or special)."""
    try:
        is_folder = stat.S_ISDIR(os.stat(path).st_mode)
    except OSError:
        is_folder = False
    if is_folder:
        yield from _walk(path)
        return
    reason = refusal(path)
    yield path if reason is None else Skipped(path, reason)
