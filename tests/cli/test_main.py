"""The `parley` commands, run the way a user runs them."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app

FIXTURES = Path(__file__).parents[1] / "flows" / "fixtures"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"PARLEY_DATA_DIR": str(tmp_path / "data"), "PARLEY_DEMO": "false", "PARLEY_LOG_LEVEL": "ERROR"}


def _summary(output: str) -> dict[str, str]:
    """The rows of the summary table: name -> value."""
    cells = [row.split("│") for row in output.splitlines() if row.count("│") == 3]
    return {c[1].strip(): c[2].strip() for c in cells}


def test_ingest_prints_a_summary_and_replays_as_duplicates(env: dict[str, str]) -> None:
    runner = CliRunner()
    first = runner.invoke(app, ["ingest", str(FIXTURES / "envelopes__threads.jsonl")], env=env)
    assert first.exit_code == 0, first.output
    assert "ingest summary" in first.output
    lines = _summary(first.output)
    assert lines["read"] == "15" and lines["ingested"] == "9" and lines["dead letters"] == "5"

    second = runner.invoke(app, ["ingest", str(FIXTURES / "envelopes__threads.jsonl")], env=env)
    assert second.exit_code == 0, second.output
    lines = _summary(second.output)
    assert lines["ingested"] == "0" and lines["duplicates"] == "10"


def test_ingest_summary_counts_the_conversations_of_the_run(env: dict[str, str]) -> None:
    # Counted from the relational store's thread membership, not from a search engine's count
    # (Elasticsearch once printed 0, 111, 94, 0 for the same file: unrefreshed writes), and not
    # as a difference of totals (a concurrent run once made it -2290).
    runner = CliRunner()
    first = runner.invoke(app, ["ingest", str(FIXTURES / "envelopes__threads.jsonl")], env=env)
    assert first.exit_code == 0, first.output
    assert _summary(first.output)["conversations"] == "4"
    again = runner.invoke(app, ["ingest", str(FIXTURES / "envelopes__threads.jsonl")], env=env)
    assert again.exit_code == 0, again.output
    # the conversations the run's messages are in: a replay touches the same four
    assert _summary(again.output)["conversations"] == "4"


def test_kb_export_writes_every_message_as_jsonl(env: dict[str, str]) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["ingest", str(FIXTURES / "envelopes__threads.jsonl")], env=env).exit_code == 0
    result = subprocess.run(
        [sys.executable, "-m", "cli", "kb", "export"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(rows) == 9
    assert all(row["enrichment"]["done"] and row["conversation_id"] for row in rows)


def test_kb_export_skips_a_message_that_no_longer_validates(env: dict[str, str], tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["ingest", str(FIXTURES / "envelopes__threads.jsonl")], env=env).exit_code == 0
    with closing(sqlite3.connect(tmp_path / "data" / "kb.sqlite3")) as db, db:
        (bad_id,) = db.execute("SELECT id FROM messages ORDER BY rowid LIMIT 1").fetchone()
        db.execute(
            "UPDATE message_docs SET doc = '{\"id\": 1}' WHERE rowid = (SELECT min(rowid) FROM messages)"
        )
    result = subprocess.run(
        [sys.executable, "-m", "cli", "kb", "export"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1  # incomplete, and says so
    assert len(result.stdout.splitlines()) == 8  # every other message is exported
    assert bad_id in result.stderr and "1 stored messages no longer validate" in result.stderr


def test_dead_letters_command_lists_reasons(env: dict[str, str]) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["ingest", str(FIXTURES / "envelopes__threads.jsonl")], env=env).exit_code == 0
    result = runner.invoke(app, ["dead-letters", "--json"], env=env)
    assert result.exit_code == 0, result.output
    letters = [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]
    assert len(letters) == 5
    assert any("favourite_colour" in letter["reason"] for letter in letters)


def test_kb_migrate_explains_what_to_fix(env: dict[str, str]) -> None:
    runner = CliRunner()
    unknown = runner.invoke(app, ["kb", "migrate", "--to", "solr"], env=env)
    assert unknown.exit_code == 1 and "use elasticsearch or sqlite" in unknown.output
    same = runner.invoke(app, ["kb", "migrate", "--to", "sqlite"], env=env)
    assert same.exit_code == 1 and "already uses sqlite" in same.output
    no_server = runner.invoke(
        app, ["kb", "migrate", "--to", "elasticsearch"], env={**env, "PARLEY_ES_URL": ""}
    )
    assert no_server.exit_code == 1 and "error" in no_server.output


def test_serve_refuses_a_busy_port_with_advice(env: dict[str, str]) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = CliRunner().invoke(app, ["serve", "--port", str(port)], env=env)
    assert result.exit_code == 1
    assert "--port" in result.output


def test_invalid_configuration_names_the_variable(env: dict[str, str]) -> None:
    bad = {**env, "PARLEY_FLOW__BATCH_SIZE": "lots"}
    result = CliRunner().invoke(app, ["ingest", str(FIXTURES / "envelopes__threads.jsonl")], env=bad)
    assert result.exit_code == 2
    assert "PARLEY_FLOW__BATCH_SIZE" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        ("PARLEY_EMAIL__ACCOUNTS", '[{"name": "support", "imap_prot": 993}]', "PARLEY_EMAIL__ACCOUNTS"),
        ("PARLEY_EMAIL__SUBJECT_WINDOW_DAYS", "fortnight", "PARLEY_EMAIL__SUBJECT_WINDOW_DAYS"),
        ("PARLEY_EMIAL__ACCOUNTS", "[]", "PARLEY_EMIAL__"),
    ],
)
def test_invalid_channel_settings_name_the_variable(
    env: dict[str, str], variable: str, value: str, named: str
) -> None:
    result = CliRunner().invoke(app, ["dead-letters"], env={**env, variable: value})
    assert result.exit_code == 2, result.output
    assert named in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("processes", ["1", "2"])
def test_a_damaged_store_is_an_error_with_advice_not_a_traceback(
    env: dict[str, str], tmp_path: Path, processes: str
) -> None:
    data = Path(env["PARLEY_DATA_DIR"])
    data.mkdir(parents=True)
    (data / "kb.sqlite3").write_bytes(b"this is not a database" * 100)
    fixture = str(FIXTURES / "envelopes__threads.jsonl")
    result = CliRunner().invoke(app, ["ingest", "--processes", processes, fixture], env=env)
    assert result.exit_code == 1
    # said before any flow starts (a failing flow step would end in a panic inside Bytewax)
    said = " ".join(result.output.split())
    assert "kb.sqlite3 is unreadable" in said and "point PARLEY_DATA_DIR elsewhere" in said
    assert "Traceback" not in result.output


def _chain_file(path: Path, chains: int, positions: tuple[int, ...]) -> Path:
    """Tweets ``positions`` of ``chains`` reply chains (tweet n answers n-1), as envelopes."""
    with path.open("w") as fh:
        for t in range(chains):
            for n in positions:
                payload = {
                    "native_id": f"{t}-{n}",
                    "text": f"tweet {n} of {t}",
                    "created_at": "2026-11-20T10:00:00Z",
                }
                if n:
                    payload["in_reply_to"] = f"{t}-{n - 1}"
                fh.write(
                    json.dumps({"channel": "twitter", "kind": "parley.message", "payload": payload}) + "\n"
                )
    return path


def test_the_summary_counts_the_conversations_the_run_touched(env: dict[str, str], tmp_path: Path) -> None:
    runner = CliRunner()
    ends = _chain_file(tmp_path / "ends.jsonl", 5, (0, 2))  # 2's parent unseen: ten conversations
    first = runner.invoke(app, ["ingest", str(ends)], env=env)
    assert first.exit_code == 0, first.output
    assert _summary(first.output)["conversations"] == "10"
    # the middles join every pair: five conversations fewer than before, five touched
    middles = _chain_file(tmp_path / "middles.jsonl", 5, (1,))
    second = runner.invoke(app, ["ingest", str(middles)], env=env)
    assert second.exit_code == 0, second.output
    assert _summary(second.output)["conversations"] == "5"
