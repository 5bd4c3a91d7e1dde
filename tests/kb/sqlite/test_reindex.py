"""``parley kb migrate --reindex``: a knowledge base of layout 4 rebuilt as layout 5 in place.

Layout 4 indexed every message with FTS5's English ``porter`` tokenizer; layout 5 indexes text
analysed in each message's language (``kb.languages``). A layout-4 file is made here the way
layout 4 was: the same tables with the old full-text tables and ``user_version`` 4.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from hub.errors import FatalError
from hub.models import Message
from kb.base import SearchRequest
from kb.sqlite import SQLiteKB
from kb.sqlite.reindex import reindex_sqlite_kb
from kb.sqlite.store import SCHEMA_VERSION
from tests.kb.docs import CONVERSATIONS, MESSAGES

FRENCH = Message(channel="sms", native_id="fr-battery", text="Ma batterie est morte", language="fr")

_LAYOUT_4_FTS = """
DROP TABLE message_fts;
DROP TABLE conversation_fts;
DROP TABLE analyses;
CREATE VIRTUAL TABLE message_fts USING fts5(
    text, subject, author, tokenize = 'porter unicode61 remove_diacritics 2', prefix = '2 3'
);
CREATE VIRTUAL TABLE conversation_fts USING fts5(subject, tokenize = 'porter unicode61 remove_diacritics 2');
INSERT INTO message_fts (rowid, text, subject, author)
    SELECT m.rowid, 'porter-indexed', '', '' FROM messages m;
PRAGMA user_version = 4;
"""


def _layout_4(path: Path, extra: int = 0) -> None:
    kb = SQLiteKB(path)
    kb.upsert_conversations(CONVERSATIONS)
    kb.upsert_messages([*MESSAGES, FRENCH])
    kb.upsert_messages(
        [Message(channel="sms", native_id=f"bulk-{i}", text=f"battery {i}") for i in range(extra)]
    )
    kb.close()
    with sqlite3.connect(path) as conn:
        conn.executescript(_LAYOUT_4_FTS)


def test_an_older_layout_is_refused_with_what_to_run(tmp_path: Path) -> None:
    _layout_4(tmp_path / "kb.sqlite3")
    with pytest.raises(FatalError, match="parley kb migrate --reindex"):
        SQLiteKB(tmp_path / "kb.sqlite3")


def test_reindex_rebuilds_every_document_in_the_current_layout(tmp_path: Path) -> None:
    path = tmp_path / "kb.sqlite3"
    _layout_4(path, extra=1200)
    seen: list[tuple[int, int]] = []
    outcome = reindex_sqlite_kb(path, on_progress=lambda done, total: seen.append((done, total)))
    assert outcome.from_layout == 4 and outcome.report.verified
    assert outcome.backup == tmp_path / "kb.sqlite3.layout4.bak" and outcome.backup.exists()
    assert seen[-1] == (len(MESSAGES) + 1 + 1200 + len(CONVERSATIONS),) * 2
    kb = SQLiteKB(path)
    try:
        assert kb.count_messages() == len(MESSAGES) + 1 + 1200
        assert kb.count_conversations() == len(CONVERSATIONS)
        assert kb.get_message(MESSAGES[0].id) == MESSAGES[0]  # the documents, exactly
        # the text is indexed per language now: English "battery" no longer finds the French message
        battery = kb.search_messages(SearchRequest(query="battery", total_limit=None))
        assert battery.total == 1200 and FRENCH.id not in {h.id for h in battery.hits}
        assert FRENCH.id in {
            h.id for h in kb.search_messages(SearchRequest(query="batter*", limit=5, sort="oldest")).hits
        }
    finally:
        kb.close()
    with pytest.raises(ValueError, match="already has layout"):
        reindex_sqlite_kb(path)


def test_the_command_rebuilds_and_says_what_it_kept(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    _layout_4(data / "kb.sqlite3")
    env = {"PARLEY_DATA_DIR": str(data), "PARLEY_DEMO": "false"}
    runner = CliRunner()
    result = runner.invoke(app, ["kb", "migrate", "--reindex"], env=env)
    assert result.exit_code == 0, result.output
    assert "rebuilt" in result.output and "layout4.bak" in result.output.replace("\n", "")
    with sqlite3.connect(data / "kb.sqlite3") as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    again = runner.invoke(app, ["kb", "migrate", "--reindex"], env=env)
    assert again.exit_code == 0 and "nothing to do" in again.output
    missing = runner.invoke(app, ["kb", "migrate"], env=env)
    assert missing.exit_code == 1 and "--reindex" in missing.output
