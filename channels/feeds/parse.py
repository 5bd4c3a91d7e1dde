"""Feed documents to messages: one message per entry, with ids, authors, dates and threads.

``PARSERS["feed"]`` reads an envelope whose payload is the feed document itself (``bytes`` as
read from a file, or ``str``) or a dict ``{"url", "content", "content_type", "listen_query"}``
as the poller emits it (plus ``"entry_ids"``: when present, only the entries with those native
ids become messages - the poller names the entries it has not emitted before).

feedparser does the reading (RSS 0.9x/1.0/2.0, Atom 0.3/1.0, RDF, CDF, any declared or
sniffed encoding; JSON Feed 1/1.1 through ``jsonfeed``); an ill-formed ("bozo") document
keeps the entries it could read and says what was wrong in ``metadata["feed_warning"]``. A
document with no entries that is ill-formed or not a feed at all (an HTML page) raises
``MalformedPayload`` with the reason. The payload's ``listen_query`` becomes every message's
typed ``listen_query`` (the parse step keeps only the messages that match it).
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from channels.base import Parser
from channels.feeds.document import FeedDocument, read_entries
from channels.feeds.settings import CHANNEL
from channels.feeds.text import html_to_text, looks_like_html
from channels.feeds.threading import EntryKeys, entry_keys, host_of
from hub.models import Envelope, Identity, Message

__all__ = ["CHANNEL", "FEED_KIND", "PARSERS", "feed_entry_ids", "parse_feed"]

#: the envelope kind of one feed document (the poller's dict payload, or a file's bytes)
FEED_KIND = "feed"


def feed_entry_ids(payload: Any) -> list[str]:
    """The native ids of the entries in a feed payload, in feed order (no text conversion).

    Raises ``MalformedPayload`` exactly when ``parse_feed`` would.
    """
    doc = FeedDocument.from_payload(payload)
    parsed, entries, _ = read_entries(doc)
    feed_host = _feed_host(doc, parsed.get("feed") or {})
    return [entry_keys(entry, feed_host=feed_host).native_id for entry in entries]


def _feed_host(doc: FeedDocument, feed: Mapping[str, Any]) -> str | None:
    feed_link = _str(feed.get("link"))
    return host_of(doc.url or _self_link(feed) or feed_link) or host_of(feed_link)


def parse_feed(envelope: Envelope) -> list[Message]:
    """One message per entry of the feed document in ``envelope``."""
    doc = FeedDocument.from_payload(envelope.payload)
    parsed, entries, problem = read_entries(doc)
    if not entries:
        return []
    feed: Mapping[str, Any] = parsed.get("feed") or {}
    feed_link = _str(feed.get("link"))
    feed_url = doc.url or _self_link(feed) or feed_link
    feed_host = _feed_host(doc, feed)
    base_metadata: dict[str, Any] = {
        "feed_title": _str(feed.get("title")),
        "feed_url": feed_url,
        "feed_version": parsed.get("version") or None,
    }
    if problem is not None:
        base_metadata["feed_warning"] = problem
    fallback_author = _author(feed, feed_host)
    messages = []
    for entry in entries:
        keys = entry_keys(entry, feed_host=feed_host)
        if doc.entry_ids is None or keys.native_id in doc.entry_ids:
            message = _message(envelope, entry, keys, (feed_host, feed_link), base_metadata, fallback_author)
            message.listen_query = doc.listen_query or None
            messages.append(message)
    return messages


def _message(
    envelope: Envelope,
    entry: Mapping[str, Any],
    keys: EntryKeys,
    feed: tuple[str | None, str | None],
    base_metadata: Mapping[str, Any],
    fallback_author: Identity | None,
) -> Message:
    feed_host, feed_link = feed
    link = _str(entry.get("link"))
    html = _content_html(entry)
    created_at, dated = _entry_date(entry, envelope.received_at)
    metadata = {k: v for k, v in base_metadata.items() if v is not None}
    metadata["site"] = host_of(link) or host_of(feed_link) or feed_host
    if keys.forum:
        metadata["forum"] = keys.forum
    if not dated:
        metadata["date_missing"] = True
    tags = [t["term"] for t in entry.get("tags") or () if isinstance(t, Mapping) and t.get("term")]
    if tags:
        metadata["tags"] = tags
    for key, name in (("comments", "comments_url"), ("wfw_commentrss", "comments_feed")):
        if _str(entry.get(key)):
            metadata[name] = _str(entry.get(key))
    subject = _title(entry)
    return Message(
        channel=CHANNEL,
        account=envelope.account,
        native_id=keys.native_id,
        author=_author(entry, feed_host) or fallback_author,
        subject=subject,
        # a headline-only item (news, link posts) is searched and enriched by its title
        text=(html_to_text(html) if html else "") or subject or "",
        html=html if html and looks_like_html(html) else None,
        created_at=created_at,
        thread_key=keys.thread_key,
        reply_to=keys.reply_to,
        url=link,
        raw_ref=envelope.raw_ref,
        metadata={k: v for k, v in metadata.items() if v is not None},
    )


def _str(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def _self_link(feed: Mapping[str, Any]) -> str | None:
    for link in feed.get("links") or ():
        if isinstance(link, Mapping) and link.get("rel") == "self":
            return _str(link.get("href"))
    return None


def _title(entry: Mapping[str, Any]) -> str | None:
    title = _str(entry.get("title"))
    detail = entry.get("title_detail") or {}
    if title and "html" in str(detail.get("type", "")):
        return html_to_text(title) or None
    return title


def _content_html(entry: Mapping[str, Any]) -> str | None:
    # full content beats the summary; among contents, HTML beats plain text
    contents = [c for c in entry.get("content") or () if isinstance(c, Mapping) and _str(c.get("value"))]
    contents.sort(key=lambda c: "html" not in str(c.get("type", "")))
    if contents:
        return str(contents[0]["value"]).strip()
    return _str(entry.get("summary"))


def _entry_date(entry: Mapping[str, Any], received_at: datetime) -> tuple[datetime, bool]:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        value = entry.get(key)
        if value:
            try:
                # feedparser's struct_time is already UTC
                return datetime.fromtimestamp(calendar.timegm(value), UTC), True
            except (OverflowError, ValueError, TypeError):
                continue
    return received_at, False


def _author(node: Mapping[str, Any], host: str | None) -> Identity | None:
    detail = node.get("author_detail") or {}
    name = _str(detail.get("name")) or _str(node.get("author"))
    email = _str(detail.get("email"))
    href = _str(detail.get("href"))
    if name and email is None and "@" in name and " " not in name and not name.startswith("@"):
        email, name = name, None
    handle = name.removeprefix("@").removeprefix("/u/") if name else None
    native_id = (
        href or (email.lower() if email else None) or (f"{host}:{handle}" if host and handle else handle)
    )
    if not native_id:
        return None
    return Identity(channel=CHANNEL, native_id=native_id, handle=handle, display_name=name, email=email)


PARSERS: dict[str, Parser] = {FEED_KIND: parse_feed}
