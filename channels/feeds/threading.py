"""Stable entry ids and thread roots for feed entries.

A feed entry's id is its guid/id, else its link, else a hash of what it shows. Forums get
canonical ids so the same post reached through two feeds (a Discourse forum's ``posts.rss``
and a topic's ``/t/x/<id>.rss``; Reddit's RSS and Atom) is one message:
``discourse:<host>/t/<topic>/<post_number>`` and ``reddit:t3_<post>`` / ``reddit:t1_<comment>``.

Replies name their thread root in ``thread_key`` (and ``reply_to``): the root's native id, so
a blog post and its comments feed, a Discourse topic and its replies, a Reddit post and its
comments form one conversation. Everything else is a conversation of one (no thread key).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

__all__ = ["EntryKeys", "entry_keys", "host_of"]

_REDDIT_LINK = re.compile(
    r"^https?://(?:[\w-]+\.)*reddit\.com/r/[^/]+/comments/(?P<post>[a-z0-9]+)"
    r"(?:/[^/?#]*(?:/(?P<comment>[a-z0-9]+))?)?/?(?:[?#].*)?$",
    re.IGNORECASE,
)
_REDDIT_THING = re.compile(r"^t(?P<kind>[13])_(?P<id>[a-z0-9]+)$", re.IGNORECASE)
_DISCOURSE_GUID = re.compile(r"^(?P<host>[\w.-]+)-(?P<what>post|topic)-(?P<a>\d+)(?:-(?P<b>\d+))?$")
_DISCOURSE_LINK = re.compile(
    r"/t/(?:[^/?#]+/)?(?P<topic>\d+)(?:/(?P<number>\d+))?(?:\?[^#]*)?(?:#post_(?P<anchor>\d+))?"
)
_COMMENT_FRAGMENT = re.compile(r"#(?:comment|c)-?\d+$|[?&]showComment=\d+.*$", re.IGNORECASE)


@dataclass(frozen=True)
class EntryKeys:
    """Where an entry sits: its native id and, for replies, the native id of its root."""

    native_id: str
    thread_key: str | None = None
    reply_to: str | None = None
    forum: str | None = None


def host_of(url: str | None) -> str | None:
    """The lower-cased host of ``url`` without ``www.``; ``None`` when there is none."""
    if not url:
        return None
    host = (urlsplit(url).hostname or "").lower()
    return host.removeprefix("www.") or None


def entry_keys(entry: Mapping[str, Any], *, feed_host: str | None) -> EntryKeys:
    """The ids of one feedparser entry; ``feed_host`` scopes guids that are not URIs."""
    link = _text(entry.get("link"))
    guid = _text(entry.get("id"))
    return _reddit(guid, link) or _discourse(guid, link) or _generic(entry, guid, link, feed_host)


def _text(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def _reddit(guid: str | None, link: str | None) -> EntryKeys | None:
    match = _REDDIT_LINK.match(link or "") or _REDDIT_LINK.match(guid or "")
    thing = _REDDIT_THING.match(guid or "")
    if match is None:
        return None
    post = f"reddit:t3_{match['post'].lower()}"
    comment = match["comment"] or (thing["id"] if thing and thing["kind"] == "1" else None)
    if comment is None:
        return EntryKeys(native_id=post, forum="reddit")
    return EntryKeys(native_id=f"reddit:t1_{comment.lower()}", thread_key=post, reply_to=post, forum="reddit")


def _discourse(guid: str | None, link: str | None) -> EntryKeys | None:
    by_guid = _DISCOURSE_GUID.match(guid or "")
    by_link = _DISCOURSE_LINK.search(urlsplit(link).path + _tail(link) if link else "")
    if by_guid is None or by_link is None:
        return None
    host = by_guid["host"].lower()
    topic = by_link["topic"]
    if by_guid["what"] == "topic":
        number = "1"
    else:
        # /t/slug/2144/31, /t/slug/2144?page=2#post_31, or guid host-post-2144-31
        number = by_link["number"] or by_link["anchor"] or by_guid["b"] or "1"
    root = f"discourse:{host}/t/{topic}/1"
    native_id = f"discourse:{host}/t/{topic}/{int(number)}"
    if native_id == root:
        return EntryKeys(native_id=root, forum="discourse")
    return EntryKeys(native_id=native_id, thread_key=root, reply_to=root, forum="discourse")


def _tail(link: str) -> str:
    parts = urlsplit(link)
    return (f"?{parts.query}" if parts.query else "") + (f"#{parts.fragment}" if parts.fragment else "")


def _generic(
    entry: Mapping[str, Any], guid: str | None, link: str | None, feed_host: str | None
) -> EntryKeys:
    native_id = _scoped(guid, feed_host) if guid else link or _content_hash(entry, feed_host)
    root = _comment_root(entry, guid, link, feed_host)
    if root is None or root == native_id:
        return EntryKeys(native_id=native_id)
    return EntryKeys(native_id=native_id, thread_key=root, reply_to=root)


def _comment_root(
    entry: Mapping[str, Any], guid: str | None, link: str | None, feed_host: str | None
) -> str | None:
    # Atom threading (RFC 4685): the parent's id, exactly as the parent feed states it
    in_reply_to = entry.get("thr_in-reply-to")
    if isinstance(in_reply_to, Mapping):
        ref = _text(in_reply_to.get("ref"))
        if ref:
            return _scoped(ref, feed_host)
    # WordPress comment feeds: guid "<post guid>#comment-45"; Blogger: "?showComment=..."
    for candidate in (guid, link):
        if candidate and _COMMENT_FRAGMENT.search(candidate):
            return _strip_comment(candidate)
    return None


def _strip_comment(url: str) -> str:
    stripped = _COMMENT_FRAGMENT.sub("", url)
    parts = urlsplit(stripped)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, parts.query, ""))


def _scoped(guid: str, feed_host: str | None) -> str:
    # Bare guids ("1234") are only unique within one feed; URIs and tags are global already.
    if ":" in guid or not feed_host:
        return guid
    return f"{feed_host}:{guid}"


def _content_hash(entry: Mapping[str, Any], feed_host: str | None) -> str:
    parts = [
        feed_host or "",
        _text(entry.get("title")) or "",
        _text(entry.get("author")) or "",
        _text(entry.get("published") or entry.get("updated")) or "",
        (_text(entry.get("summary")) or "")[:512],
    ]
    digest = hashlib.blake2b("\x1f".join(parts).encode("utf-8", "surrogatepass"), digest_size=12).hexdigest()
    return f"feedhash:{digest}"
