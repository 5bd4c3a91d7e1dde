"""The story with the local X server standing in for X: mentions and DMs become threaded
conversations through the real ingest flow; the brand answers (the replier, as the outbox will
call it); the server receives the right ``in_reply_to_tweet_id``; the customer's answer threads
into the same conversation; a deleted tweet loses its text but not its place.

The reply goes through the replier directly and its outbound message is written to the KB as
the outbox writes it; the same story through ``POST /conversations/{id}/replies`` and the
dispatcher is ``tests/outbound/test_x_story.py``.
"""

from __future__ import annotations

import json
from typing import Any

from bytewax.testing import run_main

from channels.twitter.replier import replier_for
from channels.twitter.settings import twitter_settings
from channels.twitter.source import XSource
from flows.imports import FileImportSource
from flows.ingest import build_flow
from hub.models import Direction, Reply, message_id
from hub.settings import Settings
from kb import open_kb
from kb.base import KnowledgeBase, SearchRequest
from tests.channels.twitter.conftest import ANN_ID, BRAND_ID, T1, T2, T3, load
from tests.channels.twitter.xserver import Answer, Call, XServer, page

MENTIONS = f"/2/users/{BRAND_ID}/mentions"
ANSWER_ID = "1800000000000000601"


def poll(settings: Settings) -> None:
    run_main(build_flow(settings, [("twitter_in", XSource(twitter_settings(settings), once=True))]))


def thread_of(kb: KnowledgeBase, native_id: str) -> tuple[str, list[str]]:
    message = kb.get_message(message_id("twitter", native_id))
    assert message is not None and message.conversation_id, native_id
    return message.conversation_id, sorted(
        m.native_id for m in kb.conversation_messages(message.conversation_id)
    )


def test_mention_conversation_reply_answer(x_settings: Settings, x_server: XServer) -> None:
    mentions: dict[str, Any] = load("tweet_page__mentions")
    x_server.script("GET", MENTIONS, Answer(200, mentions))
    x_server.script("GET", "/2/dm_events", Answer(200, load("dm_events__conversation")))
    poll(x_settings)

    kb = open_kb(x_settings)
    try:
        conversation, members = thread_of(kb, T1)
        assert members == [T1, T2]  # the mention and the reply to it; not the quote, not the retweet
        assert thread_of(kb, T3)[1] == [T3]  # a quote is its own conversation
        retweet = kb.get_message(message_id("twitter", mentions["data"][1]["id"]))
        assert retweet is not None and retweet.flags == ["retweet"] and retweet.conversation_id is None
        dm_conversation, dms = thread_of(kb, "dm:1800000000000000302")
        assert dms == ["dm:1800000000000000302", "dm:1800000000000000303"]
        assert dm_conversation != conversation
        ours = kb.get_message(message_id("twitter", "dm:1800000000000000303"))
        assert ours is not None and ours.direction is Direction.OUT  # the brand's DM
        mention = kb.get_message(message_id("twitter", T1))
        assert mention is not None
    finally:
        kb.close()

    # the brand answers the mention (what the outbox's dispatcher will do)
    posted: list[Call] = []

    def create(call: Call) -> Answer:
        posted.append(call)
        return Answer(201, {"data": {"id": ANSWER_ID, "text": call.body["text"]}})

    x_server.handle("POST", "/2/tweets", create)
    reply = Reply(
        id="reply-1",
        conversation_id=conversation,
        channel="twitter",
        account="brand",
        in_reply_to=mention,
        text="So sorry Ann! Please DM us your order number and we'll sort it out today.",
    )
    delivery = replier_for(x_settings, "brand").send_now(reply)
    [request] = posted
    assert request.body["reply"] == {"in_reply_to_tweet_id": T1}
    assert request.body["text"].startswith("@ann_example So sorry Ann!")
    assert delivery.native_id == ANSWER_ID and delivery.message is not None
    kb = open_kb(x_settings)
    try:
        kb.upsert_messages([delivery.message])  # the outbox records the sent reply
    finally:
        kb.close()

    # Ann answers our reply; the next poll brings it in, into the same conversation
    answer = {
        "id": "1800000000000000701",
        "text": "@AcmeHelp done, sent you a DM &amp; thanks",
        "author_id": ANN_ID,
        "conversation_id": T1,
        "referenced_tweets": [{"type": "replied_to", "id": ANSWER_ID}],
        "created_at": "2026-11-20T10:30:00.000Z",
    }
    x_server.script("GET", MENTIONS, page([answer], includes={"users": mentions["includes"]["users"]}))
    poll(x_settings)
    kb = open_kb(x_settings)
    try:
        again, members = thread_of(kb, "1800000000000000701")
        assert again == conversation
        assert members == [T1, T2, ANSWER_ID, "1800000000000000701"]
        sent = kb.get_message(message_id("twitter", ANSWER_ID))
        assert sent is not None and sent.direction is Direction.OUT
    finally:
        kb.close()


def test_a_deleted_tweet_keeps_its_place_but_not_its_text(x_settings: Settings, x_server: XServer) -> None:
    x_server.script("GET", MENTIONS, Answer(200, load("tweet_page__mentions")))
    poll(x_settings)
    # a later run, with fresh thread state, learns that Bob deleted his reply (an Account
    # Activity event, read here from a file of envelopes: the same parser path)
    events = x_settings.data_dir / "events.jsonl"
    envelope = {
        "channel": "twitter",
        "kind": "x.aaa.event",
        "account": "brand",
        "payload": load("aaa_event__tweet_delete"),
    }
    events.write_text(json.dumps(envelope) + "\n")
    run_main(build_flow(x_settings, [("import", FileImportSource([events]))]))
    kb = open_kb(x_settings)
    try:
        marker = kb.get_message(message_id("twitter", T2))
        assert marker is not None and marker.text == "" and marker.flags == ["deleted"]
        assert marker.author is None and marker.metadata["deleted"] is True
        conversation, members = thread_of(kb, T1)
        assert marker.conversation_id == conversation and members == [T1, T2]  # the fact stays
        stored = kb.get_conversation(conversation)
        assert stored is not None and stored.message_count == 2 and "died" not in stored.snippet
        assert kb.search_messages(SearchRequest(query="died")).total == 0  # the text is gone
        assert kb.search_messages(SearchRequest(query="kettle")).total >= 1
        exported = [m for m in kb.iter_messages() if m.native_id == T2]
        assert [m.text for m in exported] == [""]
    finally:
        kb.close()
