"""Replaying a customer-support archive (v1.1 tweets with ``in_reply_to``) through the real
ingest flow gives exactly its reply trees, and the brand's tweets are outbound."""

from __future__ import annotations

import json
from pathlib import Path

from hub.models import Direction, message_id
from hub.settings import Settings
from kb import open_kb
from tests.channels.twitter.conftest import load, twitter_table, with_twitter
from tests.flows.conftest import ingest

#: the archive's reply trees, by the native ids of their tweets
TREES = [
    ["1800000000000001000"],  # the brand's own announcement
    [f"180000000000000100{n}" for n in range(1, 6)],  # Ann's lost order, with Bob joining in
    ["1800000000000001011", "1800000000000001012"],  # Carol's question, answered before it arrived
    ["1800000000000001021"],  # Erin's praise
]
BRAND_TWEETS = {"1800000000000001000", "1800000000000001002", "1800000000000001004", "1800000000000001012"}
RETWEET = "1800000000000001031"


def archive_file(tmp_path: Path) -> Path:
    """The archive as envelopes, one per tweet in archive order (JSONL, as ``parley ingest`` reads)."""
    path = tmp_path / "support_archive.jsonl"
    with path.open("w", encoding="utf-8") as out:
        for tweet in load("v1_archive__support_threads"):
            envelope = {"channel": "twitter", "kind": "x.v1.tweet", "account": "brand", "payload": tweet}
            out.write(json.dumps(envelope) + "\n")
    return path


def test_replaying_a_support_archive_gives_its_reply_trees(settings: Settings, tmp_path: Path) -> None:
    settings.ensure_data_dir()
    hub = with_twitter(settings, twitter_table())  # @AcmeHelp is the brand's own handle
    report = ingest(hub, [archive_file(tmp_path)])
    assert (report.parsed, report.dead_letters) == (10, 0)
    kb = open_kb(hub)
    try:
        trees = []
        for conversation in kb.iter_conversations():
            trees.append(sorted(m.native_id for m in kb.conversation_messages(conversation.id)))
        assert sorted(trees) == sorted(TREES)
        for tree in TREES:
            for native in tree:
                message = kb.get_message(message_id("twitter", native))
                assert message is not None
                expected = Direction.OUT if native in BRAND_TWEETS else Direction.IN
                assert message.direction is expected, native
        retweet = kb.get_message(message_id("twitter", RETWEET))
        assert retweet is not None and retweet.conversation_id is None  # counted, opens nothing
        assert retweet.metadata["retweeted_id"] == "1800000000000001000"
        first = kb.get_message(message_id("twitter", "1800000000000001001"))
        assert first is not None and first.conversation_id is not None
        ann = kb.get_conversation(first.conversation_id)
        assert ann is not None and (ann.message_count, ann.inbound_count) == (5, 3)
    finally:
        kb.close()

    again = ingest(hub, [archive_file(tmp_path)])  # a replay changes nothing
    assert again.dead_letters == 0
    kb = open_kb(hub)
    try:
        assert kb.count_conversations() == len(TREES) and kb.count_messages() == 10
    finally:
        kb.close()
