"""The whole ingest flow over the feed poller: a blog post and its comments are one conversation."""

from __future__ import annotations

from bytewax.testing import run_main

from channels.feeds.settings import FeedConfig, FeedSettings
from channels.feeds.source import FeedSource
from flows.ingest import build_flow
from hub.models import message_id
from hub.settings import Settings
from kb import open_kb
from tests.channels.feeds.feedserver import FeedServer


def test_post_and_comments_land_in_one_conversation(fixture_server: FeedServer, settings: Settings) -> None:
    settings.ensure_data_dir()
    polite = FeedSettings(allow_private_addresses=True)  # the feed server listens on 127.0.0.1
    feeds = [
        FeedConfig(url=fixture_server.url("/fixtures/feed__wordpress_post.xml"), name="acme-blog"),
        FeedConfig(url=fixture_server.url("/fixtures/feed__wordpress_comments.xml"), name="acme-blog"),
        # a listening query: only the reddit items that mention syncing are kept
        FeedConfig(url=fixture_server.url("/fixtures/feed__reddit_comments_atom.xml"), query='"fix ships"'),
    ]
    source = FeedSource(feeds, polite, once=True)
    run_main(build_flow(settings, sources=[("feeds", source)]))

    kb = open_kb(settings)
    try:
        post = kb.get_message(message_id("feeds", "https://blog.acme.test/?p=123"))
        assert post is not None and post.conversation_id
        thread = kb.conversation_messages(post.conversation_id)
        assert sorted(m.native_id for m in thread) == [
            "https://blog.acme.test/?p=123",
            "https://blog.acme.test/?p=123#comment-45",
            "https://blog.acme.test/?p=123#comment-46",
        ]
        other = kb.get_message(message_id("feeds", "https://blog.acme.test/?p=120"))
        assert other is not None and other.conversation_id != post.conversation_id
        assert kb.get_message(message_id("feeds", "reddit:t1_kx9zz1")) is not None
        assert kb.get_message(message_id("feeds", "reddit:t3_1abcde")) is None  # did not match
        assert kb.count_messages() == 5
    finally:
        kb.close()


def test_discourse_topic_and_forum_feed_thread_together(feed_server: FeedServer, settings: Settings) -> None:
    settings.ensure_data_dir()
    polite = FeedSettings(allow_private_addresses=True)  # the feed server listens on 127.0.0.1
    feeds = [
        FeedConfig(url=feed_server.url("/forums/discourse_criticalfallibilism/t_2144.rss"), name="cf"),
        FeedConfig(url=feed_server.url("/forums/discourse_criticalfallibilism/posts.rss"), name="cf"),
    ]
    run_main(build_flow(settings, sources=[("feeds", FeedSource(feeds, polite, once=True))]))
    kb = open_kb(settings)
    try:
        root_id = message_id("feeds", "discourse:discuss.criticalfallibilism.com/t/2144/31")
        reply = kb.get_message(root_id)
        assert reply is not None and reply.conversation_id
        topic = kb.conversation_messages(reply.conversation_id)
        assert len(topic) >= 25
        assert {m.native_id.rsplit("/", 2)[1] for m in topic} == {"2144"}
        # the same posts came through both feeds: stored once
        assert kb.count_messages() == len({m.native_id for m in kb.iter_messages()})
        assert kb.count_messages() < 25 + 50
    finally:
        kb.close()
