"""Opening a fresh SQLite file that another process is writing waits instead of failing."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from crm import open_crm
from hub.settings import Settings
from hub.sqlite_wal import enable_wal
from kb.sqlite import SQLiteKB


class _Holder:
    """Another writer: holds the write lock of a fresh file (still in rollback mode) until
    ``release`` is set, then commits from its own thread."""

    def __init__(self, path: Path) -> None:
        self.release = threading.Event()
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._conn.execute("BEGIN IMMEDIATE")
        self._conn.execute("CREATE TABLE IF NOT EXISTS first_writer (x)")
        self._thread = threading.Thread(target=self._commit_when_released, daemon=True)
        self._thread.start()

    def _commit_when_released(self) -> None:
        self.release.wait(timeout=30)
        self._conn.execute("COMMIT")

    def close(self) -> None:
        self.release.set()
        self._thread.join()
        self._conn.close()


def test_switching_a_locked_fresh_file_to_wal_waits_for_the_lock(tmp_path: Path) -> None:
    path = tmp_path / "fresh.sqlite3"
    holder = _Holder(path)
    opener = sqlite3.connect(path, isolation_level=None, timeout=0.01)
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        opener.execute("PRAGMA journal_mode=WAL")  # what SQLite does on its own: fail at once
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        holder.release.set()  # the other writer commits while this one backs off

    enable_wal(opener, timeout_s=30, sleep=sleep)
    assert opener.execute("PRAGMA journal_mode").fetchone() == ("wal",) and waits
    opener.close()
    holder.close()


def test_a_file_locked_past_the_budget_raises(tmp_path: Path) -> None:
    path = tmp_path / "fresh.sqlite3"
    holder = _Holder(path)
    opener = sqlite3.connect(path, isolation_level=None, timeout=0.01)
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        enable_wal(opener, timeout_s=0.0, sleep=lambda _: None)
    opener.close()
    holder.close()


@pytest.mark.parametrize("store", ["crm", "kb"])
def test_both_stores_open_a_fresh_file_another_process_is_creating(settings: Settings, store: str) -> None:
    data = settings.ensure_data_dir()
    path = data / "crm.sqlite3" if store == "crm" else settings.kb_path
    holder = _Holder(path)
    threading.Timer(0.2, holder.release.set).start()
    opened = open_crm(settings) if store == "crm" else SQLiteKB(path)
    opened.close()
    holder.close()
