"""Parsing feed documents (own fixtures): ids, threads, authors, dates, encodings, bad input."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from channels import parse_envelope
from channels.feeds.parse import PARSERS, parse_feed
from hub.errors import MalformedPayload
from hub.models import Envelope, Message

FIXTURES = Path(__file__).parent / "fixtures"
RECEIVED = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def envelope(payload: object, account: str = "acme") -> Envelope:
    return Envelope(channel="feeds", kind="feed", account=account, payload=payload, received_at=RECEIVED)


def parse_fixture(name: str, **payload: object) -> list[Message]:
    data = (FIXTURES / name).read_bytes()
    return parse_feed(envelope({"content": data, **payload} if payload else data))


def test_registry_points_at_parse_feed() -> None:
    assert {"feed": parse_feed} == PARSERS
    messages = parse_envelope(envelope((FIXTURES / "feed__wordpress_post.xml").read_bytes()))
    assert [m.subject for m in messages] == ["Why we moved to Parley", "Release notes 4.2"]


def test_rss_item_fields() -> None:
    post, notes = parse_fixture(
        "feed__wordpress_post.xml", url="https://blog.acme.test/feed/", listen_query="parley"
    )
    assert notes.text == "Faster search & fewer bugs."  # entities in HTML without tags
    assert post.channel == "feeds" and post.account == "acme"
    assert post.native_id == "https://blog.acme.test/?p=123"
    assert post.url == "https://blog.acme.test/2026/11/why-parley/"
    assert post.created_at == datetime(2026, 11, 20, 8, 30, tzinfo=UTC)  # +0100 normalised
    assert post.text == "Our support inbox outgrew spreadsheets.\n\nSo we tried Parley."
    assert post.html is not None and "<b>outgrew</b>" in post.html and "script" not in post.html
    assert post.author is not None and post.author.display_name == "Dana Smith"
    assert post.author.native_id == "blog.acme.test:Dana Smith"
    assert post.thread_key is None and post.reply_to is None
    assert post.metadata["site"] == "blog.acme.test"
    assert post.metadata["feed_title"] == "Acme Engineering Blog"
    assert post.metadata["feed_url"] == "https://blog.acme.test/feed/"
    assert post.listen_query == "parley" and "listen_query" not in post.metadata
    assert post.metadata["tags"] == ["Support"]
    assert post.metadata["comments_feed"] == "https://blog.acme.test/2026/11/why-parley/feed/"
    assert "feed_warning" not in post.metadata and "date_missing" not in post.metadata


def test_blog_comments_thread_onto_their_post() -> None:
    post, _ = parse_fixture("feed__wordpress_post.xml")
    comments = parse_fixture("feed__wordpress_comments.xml")
    assert len(comments) == 2
    for comment in comments:
        assert comment.thread_key == post.native_id
        assert comment.reply_to == post.native_id
    assert comments[0].text == "Does Parley handle Discourse too?"
    assert comments[1].author == post.author  # same person, same identity


def test_reddit_post_and_comments_share_a_root() -> None:
    (post,) = parse_fixture("feed__reddit_post_atom.xml")
    again, reply = parse_fixture("feed__reddit_comments_atom.xml")
    assert post.native_id == again.native_id == "reddit:t3_1abcde"
    assert post.thread_key is None
    assert reply.native_id == "reddit:t1_kx9zz1"
    assert reply.thread_key == reply.reply_to == "reddit:t3_1abcde"
    assert reply.author is not None and reply.author.handle == "acme_support"
    assert reply.author.native_id == "https://www.reddit.com/user/acme_support"
    assert post.metadata["forum"] == "reddit" and post.metadata["site"] == "reddit.com"


def test_entries_without_ids_or_dates_get_stable_ids() -> None:
    first = parse_fixture("feed__no_ids_no_dates.xml")
    second = parse_fixture("feed__no_ids_no_dates.xml")
    assert [m.native_id for m in first] == [m.native_id for m in second]
    assert len({m.native_id for m in first}) == 3
    assert first[1].native_id == "http://notices.example.test/lost-cat"
    assert first[0].native_id.startswith("feedhash:")
    assert all(m.created_at == RECEIVED and m.metadata["date_missing"] for m in first)
    assert first[2].subject is None and first[2].text == "Untitled notice about the Acme gizmo"
    assert first[1].subject == first[1].text == "Lost cat"  # no content: the title is the text


def test_atom03() -> None:
    (entry,) = parse_fixture("feed__atom03.xml")
    assert entry.native_id == "tag:old.example.test,2005:3"
    assert entry.created_at == datetime(2005, 7, 31, 12, 29, 29, tzinfo=UTC)
    assert entry.author is not None and entry.author.email == "mark@old.example.test"
    assert entry.text == "Still parsed."


def test_latin1_declared_encoding() -> None:
    (entry,) = parse_fixture("feed__latin1.xml")
    assert entry.subject == "Crème brûlée à Acme"
    assert entry.text == "Délicieux."


def test_text_payload_is_not_reinterpreted_by_its_declaration() -> None:
    # already-decoded text whose prolog still says ISO-8859-1 must not be decoded twice
    text = (FIXTURES / "feed__latin1.xml").read_bytes().decode("iso-8859-1")
    (from_str,) = parse_feed(envelope(text))
    (from_dict,) = parse_feed(envelope({"url": "http://cafe.example.test/rss", "content": text}))
    assert from_str.subject == from_dict.subject == "Crème brûlée à Acme"


def test_bozo_feed_keeps_readable_entries_and_says_why() -> None:
    messages = parse_fixture("feed__bozo_truncated.xml")
    assert [m.subject for m in messages][:2] == ["First item survives", "Second item survives"]
    assert all("feed_warning" in m.metadata for m in messages)
    assert "SAXParseException" in messages[0].metadata["feed_warning"]


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ((FIXTURES / "feed__html_page.html").read_bytes(), "HTML page"),
        ({"content": "<html><body><p>moved</body></html>", "content_type": "text/html"}, "HTML page"),
        (b"", "empty"),
        (b"<rss><channel><title>cut", "no feed entries could be read"),
        (b"just some words", "no feed entries could be read"),
        (42, "must be the document or an object"),
        (b"{not json", "invalid JSON"),
        (b'{"title": "x", "items": []}', "without a JSON Feed 'version'"),
        (b'{"version": "https://jsonfeed.org/version/1.1"}', "without an 'items' list"),
        ({"url": "http://x.test/"}, "needs 'content'"),
        ({"content": "<rss/>", "etag": "x"}, "unknown field(s) in feed payload: etag"),
        ({"content": "<rss/>", "url": 3}, "'url' must be a string"),
    ],
)
def test_unreadable_documents_raise_with_a_reason(payload: object, reason: str) -> None:
    with pytest.raises(MalformedPayload) as caught:
        parse_feed(envelope(payload))
    assert reason in str(caught.value)


def test_empty_but_valid_feed_is_no_messages() -> None:
    assert parse_feed(envelope(b'<rss version="2.0"><channel><title>Quiet</title></channel></rss>')) == []


def test_short_text_payload_is_never_opened_as_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "feed.xml").write_text(
        '<rss version="2.0"><channel><item><title>leak</title></item></channel></rss>'
    )
    monkeypatch.chdir(tmp_path)
    with pytest.raises(MalformedPayload):
        parse_feed(envelope("feed.xml"))


def test_json_feed_11_with_authors_and_dates() -> None:
    doc = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": "Acme status",
        "home_page_url": "https://status.acme.test/",
        "authors": [{"name": "Ops"}],
        "items": [
            {
                "id": "https://status.acme.test/i/7",
                "url": "https://status.acme.test/i/7",
                "title": "Sync delays",
                "content_text": "Gizmo sync is delayed.",
                "date_published": "2026-11-21T10:00:00+02:00",
            },
            {"id": 8, "summary": "Resolved", "date_modified": "2026-11-21T12:00:00Z"},
        ],
    }
    first, second = parse_feed(envelope(json.dumps(doc)))
    assert first.created_at == datetime(2026, 11, 21, 8, 0, tzinfo=UTC)
    assert first.text == "Gizmo sync is delayed." and first.html is None
    assert first.author is not None and first.author.display_name == "Ops"  # feed-level author
    assert first.metadata["feed_version"] == "json11" and first.metadata["site"] == "status.acme.test"
    assert second.native_id == "status.acme.test:8" and second.text == "Resolved"
    assert second.created_at == datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("content_type", ["text/xml", "text/html", "application/rss+xml", None])
def test_common_content_types_of_real_feeds_are_not_warnings(content_type: str | None) -> None:
    # RFC 7303: text/xml without a charset defers to the XML declaration (UTF-8 here)
    data = (FIXTURES / "feed__wordpress_post.xml").read_bytes().replace(b"Parley", "Parléy".encode())
    payload = {"url": "https://blog.acme.test/feed/", "content": data, "content_type": content_type}
    post, _ = parse_feed(envelope(payload))
    assert post.subject == "Why we moved to Parléy" and "feed_warning" not in post.metadata


def test_empty_feed_served_as_text_html_is_still_a_feed() -> None:
    doc = b'\xef\xbb\xbf<rss version="2.0"><channel><title>Quiet</title></channel></rss>'
    assert parse_feed(envelope({"content": doc, "content_type": "text/html"})) == []


@pytest.mark.parametrize(
    ("encoding", "declared", "title"),
    [
        ("big5", "big5", "中文測試 Acme"),
        ("euc-kr", "euc-kr", "한국어 시험 Acme"),
        ("shift_jis", "shift_jis", "日本語のテスト"),
        ("iso-8859-1", "iso-8859-1", "Crème brûlée"),
        ("utf-16", "utf-16", "Ünïcödé 16 ✓"),  # with BOM
        ("utf-16-be", "utf-16", "Ünïcödé 16 BE, no BOM"),
        ("utf-32", "utf-32", "Ünïcödé 32 ✓"),
    ],
)
def test_declared_encodings(encoding: str, declared: str, title: str) -> None:
    doc = (
        f'<?xml version="1.0" encoding="{declared}"?>\n<rss version="2.0"><channel><title>{title}</title>'
        f"<link>http://enc.test/</link><description>d</description>"
        f"<item><title>{title}</title><guid>http://enc.test/1</guid>"
        f"<description>&lt;p&gt;{title}&lt;/p&gt;</description></item></channel></rss>"
    ).encode(encoding)
    (message,) = parse_feed(envelope(doc))
    assert message.subject == title and message.text == title
    assert message.metadata["feed_title"] == title
