"""Import folders hold more than files: special entries are skipped with a dead letter naming the
path and the reason, never opened, and the files around them are still read."""

from __future__ import annotations

import json
import os
import socket
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from channels.base import open_regular
from flows.import_paths import Skipped, import_entries
from flows.imports import count_records, detect_format, importer_for, iter_records
from hub.models import DeadLetter, Envelope

#: generous for a few files on a slow shared machine; a hang on a FIFO never ends
DEADLINE_S = 60.0


def envelope_line(native_id: str) -> str:
    payload = {"native_id": native_id, "text": f"message {native_id}"}
    return json.dumps({"channel": "twitter", "kind": "parley.message", "payload": payload}) + "\n"


def finishes(work: Callable[[], Any], unblock: Path | None = None) -> Any:
    """``work()``'s result, run in a thread that must finish within ``DEADLINE_S``; if it does
    not, ``unblock`` (a FIFO) is opened for writing to release a reader stuck on it."""
    result: list[Any] = []
    worker = threading.Thread(target=lambda: result.append(work()), daemon=True)
    worker.start()
    worker.join(DEADLINE_S)
    if worker.is_alive():
        if unblock is not None:  # a writer releases a reader blocked in open(); then fail
            os.close(os.open(unblock, os.O_WRONLY | os.O_NONBLOCK))
        pytest.fail(f"did not finish within {DEADLINE_S} s (blocked on a special file?)")
    assert result, "the worker raised: see the captured thread exception"
    return result[0]


def reasons_by_name(records: list[Any]) -> dict[str, str]:
    return {
        Path(r.raw_ref.removeprefix("file:")).name: r.reason for r in records if isinstance(r, DeadLetter)
    }


def test_a_fifo_is_skipped_with_a_dead_letter_and_the_files_around_it_are_read(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_text(envelope_line("1"))
    fifo = tmp_path / "b.jsonl"
    os.mkfifo(fifo)
    (tmp_path / "c.jsonl").write_text(envelope_line("2"))

    records = finishes(lambda: list(iter_records(tmp_path)), unblock=fifo)

    assert [type(r) for r in records] == [Envelope, DeadLetter, Envelope]
    assert reasons_by_name(records) == {"b.jsonl": "not a regular file but a FIFO (named pipe): never opened"}
    assert records[1].raw_ref == f"file:{fifo}" and records[1].stage == "import"
    assert finishes(lambda: count_records(tmp_path), unblock=fifo) == 3
    # given directly, and asked about, it is never opened either
    (direct,) = finishes(lambda: list(iter_records(fifo)), unblock=fifo)
    assert isinstance(direct, DeadLetter) and "FIFO" in direct.reason
    assert finishes(lambda: (importer_for(fifo), detect_format(fifo)), unblock=fifo) == (None, "unknown")


def test_opening_a_fifo_never_blocks(tmp_path: Path) -> None:
    # the belt to the stat check's braces: a FIFO swapped in after the check
    fifo = tmp_path / "swapped.jsonl"
    os.mkfifo(fifo)

    def open_it() -> str:
        with pytest.raises(OSError, match="not a regular file but a FIFO") as refused:
            open_regular(fifo)
        return str(refused.value)

    assert "FIFO" in finishes(open_it, unblock=fifo)


def test_dangling_looping_and_folder_links_are_skipped_with_their_reason(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_text(envelope_line("1"))
    os.symlink(tmp_path / "gone.jsonl", tmp_path / "b_dangling.jsonl")
    os.symlink("c_loop", tmp_path / "c_loop")
    os.symlink("d_pong", tmp_path / "d_ping")
    os.symlink("d_ping", tmp_path / "d_pong")
    os.symlink(".", tmp_path / "e_self")
    os.symlink("a.jsonl", tmp_path / "f_link.jsonl")  # a link to a regular file is read
    (tmp_path / "z.jsonl").write_text(envelope_line("2"))

    records = list(iter_records(tmp_path))

    envelopes = [r for r in records if isinstance(r, Envelope)]
    assert [e.raw_ref for e in envelopes] == [
        f"file:{tmp_path / name}:1" for name in ("a.jsonl", "f_link.jsonl", "z.jsonl")
    ]
    reasons = reasons_by_name(records)
    assert (
        reasons["b_dangling.jsonl"]
        == f"dangling symbolic link (to {tmp_path / 'gone.jsonl'}, which does not exist): skipped"
    )
    assert reasons["c_loop"] == "symbolic link loop (c_loop -> c_loop): skipped"
    assert reasons["d_ping"].startswith("symbolic link loop") and reasons["d_pong"].startswith(
        "symbolic link loop"
    )
    assert reasons["e_self"] == "symbolic link to a folder (.), not followed: import that folder itself"
    assert len(records) == 8 and count_records(tmp_path) == 8
    (direct,) = iter_records(tmp_path / "c_loop")
    assert isinstance(direct, DeadLetter) and "loop" in direct.reason


def test_a_socket_is_skipped(tmp_path: Path) -> None:
    # AF_UNIX paths are short (108 bytes): bind in a short temporary folder
    with tempfile.TemporaryDirectory(prefix="pl") as short:
        path = Path(short) / "s.jsonl"
        server = socket.socket(socket.AF_UNIX)
        try:
            server.bind(str(path))
            (only,) = finishes(lambda: list(iter_records(Path(short))))
        finally:
            server.close()
    assert isinstance(only, DeadLetter) and only.reason == "not a regular file but a socket: never opened"


def test_a_character_device_given_as_a_path_is_never_read() -> None:
    (zero,) = finishes(lambda: list(iter_records(Path("/dev/zero"))))  # endless if read
    assert (
        isinstance(zero, DeadLetter)
        and zero.reason == "not a regular file but a character device: never opened"
    )


@pytest.mark.skipif(os.geteuid() == 0, reason="root lists any folder")
def test_a_folder_that_cannot_be_listed_is_a_dead_letter(tmp_path: Path) -> None:
    closed = tmp_path / "closed"
    closed.mkdir()
    (tmp_path / "z.jsonl").write_text(envelope_line("2"))
    closed.chmod(0)
    try:
        records = list(iter_records(tmp_path))
    finally:
        closed.chmod(0o755)
    assert [type(r) for r in records] == [Envelope, DeadLetter]
    assert records[1].reason.startswith("cannot list folder")


def test_folders_are_walked_in_name_order_files_first_hidden_entries_left_out(tmp_path: Path) -> None:
    for rel in ("b/2.jsonl", "b/a/1.jsonl", "a/x.jsonl", "top.jsonl", ".hidden/h.jsonl", "b/.h.jsonl"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(envelope_line(rel))
    entries = list(import_entries(tmp_path))
    assert [str(e.relative_to(tmp_path)) for e in entries if isinstance(e, Path)] == [
        "top.jsonl",
        "a/x.jsonl",
        "b/2.jsonl",
        "b/a/1.jsonl",
    ]
    assert list(import_entries(tmp_path / "missing")) == [
        Skipped(tmp_path / "missing", "no such file or folder")
    ]


def test_a_deep_folder_tree_is_walked_without_recursion(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 1,200 levels: past Python's recursion limit, which a recursive walk (os.walk in 3.11) hits
    monkeypatch.chdir(tmp_path)
    for _ in range(1200):  # relative steps: each call's path stays short
        os.mkdir("d")
        os.chdir("d")
    Path("deep.jsonl").write_text(envelope_line("deep"))
    try:
        records = list(iter_records(tmp_path))
        assert len(records) == 1 and isinstance(records[0], Envelope)
    finally:
        # shutil.rmtree recurses too: pytest could not clean this tree up in later runs
        os.remove("deep.jsonl")
        for _ in range(1200):
            os.chdir("..")
            os.rmdir("d")
