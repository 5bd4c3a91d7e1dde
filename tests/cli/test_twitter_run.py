"""`parley run` with a configured X account against the local X server: the flow process polls
mentions and DMs with the real ``tweepy.Client`` and they land as threaded conversations.

Configured as an operator would, through ``PARLEY_TWITTER__...`` variables; the test waits (a
bounded hang guard) until the knowledge base holds what the server served, then stops the run
with SIGTERM and reads the stores.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.models import Direction, message_id
from hub.settings import Settings
from kb import open_kb
from tests.channels.twitter.conftest import BRAND_ID, CREDENTIALS, T1, T2, T3, load
from tests.channels.twitter.xserver import Answer, XServer, running_x_server

STARTUP_GUARD_S = 180.0  # loading the flow (spaCy models) on two shared cores
DMS = ("dm:1800000000000000302", "dm:1800000000000000303")


@pytest.fixture
def x_server() -> Iterator[XServer]:
    with running_x_server() as server:
        yield server


def _ingested(settings: Settings, native_ids: list[str]) -> bool:
    if not (settings.data_dir / "kb.sqlite3").exists():
        return False
    try:
        kb = open_kb(settings)
    except Exception:  # the flow process is still creating the store
        return False
    try:
        return all(kb.get_message(message_id("twitter", n)) is not None for n in native_ids)
    finally:
        kb.close()


@pytest.mark.slow
def test_parley_run_threads_mentions_and_dms_from_x(tmp_path: Path, x_server: XServer) -> None:
    x_server.script("GET", f"/2/users/{BRAND_ID}/mentions", Answer(200, load("tweet_page__mentions")))
    x_server.script("GET", "/2/dm_events", Answer(200, load("dm_events__conversation")))
    data_dir = tmp_path / "data"
    env = {
        **os.environ,
        "PARLEY_DATA_DIR": str(data_dir),
        "PARLEY_DEMO": "false",
        "PARLEY_LOG_LEVEL": "ERROR",
        "PARLEY_TWITTER__ACCOUNTS": json.dumps(
            [{"name": "brand", "handle": "AcmeHelp", "user_id": BRAND_ID}]
        ),
        "PARLEY_TWITTER__API_BASE_URL": x_server.base_url,
        "PARLEY_TWITTER__POLL_INTERVAL_S": "2",
        **{f"PARLEY_TWITTER__{name.upper()}": value for name, value in CREDENTIALS.items()},
    }
    settings = Settings(data_dir=data_dir, demo=False)
    log = tmp_path / "run.log"
    with log.open("wb") as out:
        parley = subprocess.Popen(
            [sys.executable, "-m", "cli", "run", "--no-serve"], env=env, stdout=out, stderr=out
        )
    try:
        deadline = time.monotonic() + STARTUP_GUARD_S
        while not _ingested(settings, [T1, T2, T3, *DMS]):
            assert parley.poll() is None, log.read_text(errors="replace")[-3000:]
            assert time.monotonic() < deadline, log.read_text(errors="replace")[-3000:]
            time.sleep(0.5)
        polls = len(x_server.calls_to("GET", f"/2/users/{BRAND_ID}/mentions"))
    finally:
        parley.send_signal(signal.SIGTERM)
        try:
            parley.wait(timeout=30)
        except subprocess.TimeoutExpired:
            parley.kill()
            raise
    assert polls >= 1
    kb = open_kb(settings)
    try:
        mention = kb.get_message(message_id("twitter", T1))
        reply = kb.get_message(message_id("twitter", T2))
        assert mention is not None and reply is not None and mention.conversation_id
        assert reply.conversation_id == mention.conversation_id  # the reply threads under the mention
        members = sorted(m.native_id for m in kb.conversation_messages(mention.conversation_id))
        assert members == [T1, T2]
        first, ours = (kb.get_message(message_id("twitter", n)) for n in DMS)
        assert first is not None and ours is not None
        assert first.conversation_id == ours.conversation_id != mention.conversation_id
        assert ours.direction is Direction.OUT and first.direction is Direction.IN
    finally:
        kb.close()
