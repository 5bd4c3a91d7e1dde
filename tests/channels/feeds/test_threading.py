"""Entry ids and thread roots for blogs, Blogger, Discourse and Reddit links."""

from __future__ import annotations

from typing import Any

import pytest

from channels.feeds.text import html_to_text
from channels.feeds.threading import entry_keys, host_of


@pytest.mark.parametrize(
    ("entry", "native_id", "root"),
    [
        (
            {"id": "https://b.test/?p=9#comment-3", "link": "https://b.test/post/#comment-3"},
            None,
            "https://b.test/?p=9",
        ),
        (
            {"link": "https://b.test/post/#comment-3"},
            "https://b.test/post/#comment-3",
            "https://b.test/post/",
        ),
        (
            {
                "id": "tag:blogger.com,1999:blog-1.post-2",
                "link": "https://x.blogspot.com/p.html?showComment=12#c2",
            },
            "tag:blogger.com,1999:blog-1.post-2",
            "https://x.blogspot.com/p.html",
        ),
        (
            {"id": "c9", "thr_in-reply-to": {"ref": "tag:b.test,2026:post-1"}},
            "feed.test:c9",
            "tag:b.test,2026:post-1",
        ),
        (
            {"id": "forum.test-post-77", "link": "https://forum.test/t/some-topic/12/4"},
            "discourse:forum.test/t/12/4",
            "discourse:forum.test/t/12/1",
        ),
        (
            {"id": "forum.test-post-12-1", "link": "https://forum.test/t/some-topic/12/1"},
            "discourse:forum.test/t/12/1",
            None,
        ),
        (
            {"id": "forum.test-topic-12", "link": "https://forum.test/t/some-topic/12"},
            "discourse:forum.test/t/12/1",
            None,
        ),
        (
            {"id": "forum.test-post-80", "link": "https://forum.test/t/some-topic/12?page=2#post_31"},
            "discourse:forum.test/t/12/31",
            "discourse:forum.test/t/12/1",
        ),
        (
            {"id": "https://old.reddit.com/r/a/comments/abc12/title/def34/", "link": ""},
            "reddit:t1_def34",
            "reddit:t3_abc12",
        ),
        (
            {"id": "t3_abc12", "link": "https://www.reddit.com/r/a/comments/abc12/title/"},
            "reddit:t3_abc12",
            None,
        ),
        ({"id": "plain-guid"}, "feed.test:plain-guid", None),
        ({"id": "urn:uuid:1"}, "urn:uuid:1", None),
    ],
)
def test_entry_keys(entry: dict[str, Any], native_id: str | None, root: str | None) -> None:
    keys = entry_keys(entry, feed_host="feed.test")
    assert keys.native_id == (native_id or entry["id"])
    assert keys.thread_key == root and keys.reply_to == root


def test_hash_ids_are_stable_and_distinct() -> None:
    a = entry_keys({"title": "A", "summary": "x"}, feed_host="h")
    assert a == entry_keys({"title": "A", "summary": "x"}, feed_host="h")
    assert a.native_id != entry_keys({"title": "A", "summary": "y"}, feed_host="h").native_id
    assert a.native_id != entry_keys({"title": "A", "summary": "x"}, feed_host="other").native_id


def test_host_of() -> None:
    assert host_of("https://WWW.Example.com:8080/a") == "example.com"
    assert host_of("not a url") is None and host_of(None) is None


def test_html_to_text() -> None:
    html = "<div><p>One&nbsp;<b>bold</b></p><p>Two</p><script>x()</script><ul><li>a</li><li>b</li></ul></div>"
    assert html_to_text(html) == "One bold\n\nTwo\n\na\n\nb"
    assert html_to_text("plain   text\n\n\n\nnext") == "plain text\n\nnext"
    assert html_to_text("AT&T &amp; Acme &lt;3") == "AT&T & Acme <3"
    assert html_to_text("a<br/>b<hr>c<style>p{}</style>") == "a\nb\nc"
