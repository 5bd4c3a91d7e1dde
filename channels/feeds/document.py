"""A feed payload (bytes, text or the poller's dict) read by feedparser, or why it is not a feed.

``FeedDocument`` normalises the three payload shapes; ``read_document`` runs feedparser (or
the JSON Feed reader) over the bytes without ever letting it fetch a URL or open a file;
``read_entries`` adds the verdict on documents without entries: a quiet feed is no entries,
an HTML page, an empty or unreadable document is ``MalformedPayload`` with the reason.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from typing import Any

from channels.feeds.jsonfeed import looks_like_json, read_json_feed
from hub.errors import MalformedPayload

__all__ = ["FeedDocument", "read_document", "read_entries"]

_FEED_ROOT = re.compile(rb"<(?:\w+:)?(?:rss|feed|rdf|channel)[\s>]")


class FeedDocument:
    """The parts of a ``feed`` envelope payload, whatever shape it came in."""

    __slots__ = ("content", "content_type", "entry_ids", "listen_query", "url")

    def __init__(
        self, content: bytes, url: str | None, content_type: str | None, listen_query: str | None
    ) -> None:
        self.content = content
        self.url = url
        self.content_type = content_type
        self.listen_query = listen_query
        self.entry_ids: frozenset[str] | None = None

    @classmethod
    def from_payload(cls, payload: Any) -> FeedDocument:
        if isinstance(payload, bytes | str):
            data, content_type = _as_bytes(payload, None)
            return cls(data, None, content_type, None)
        if not isinstance(payload, Mapping):
            raise MalformedPayload(
                f"feed payload must be the document or an object, got {type(payload).__name__}"
            )
        content = payload.get("content")
        if not isinstance(content, bytes | str):
            raise MalformedPayload("feed payload object needs 'content' (the feed document as text)")
        unknown = sorted(set(payload) - {"url", "content", "content_type", "listen_query", "entry_ids"})
        if unknown:
            raise MalformedPayload("unknown field(s) in feed payload: " + ", ".join(unknown))
        data, content_type = _as_bytes(content, _opt_str(payload, "content_type"))
        doc = cls(data, _opt_str(payload, "url"), content_type, _opt_str(payload, "listen_query"))
        ids = payload.get("entry_ids")
        if ids is not None:
            if not isinstance(ids, list | tuple) or not all(isinstance(i, str) for i in ids):
                raise MalformedPayload("feed payload field 'entry_ids' must be a list of strings")
            doc.entry_ids = frozenset(ids)
        return doc


def _opt_str(payload: Mapping[str, Any], key: str) -> str | None:
    value = payload.get(key)
    if value is None or isinstance(value, str):
        return value or None
    raise MalformedPayload(f"feed payload field {key!r} must be a string, got {type(value).__name__}")


def _as_bytes(content: bytes | str, content_type: str | None) -> tuple[bytes, str | None]:
    if isinstance(content, bytes):
        return content, content_type
    # Text already decoded: say so, or feedparser would trust the XML declaration's charset.
    media = (content_type or "application/xml").split(";")[0].strip()
    return content.encode("utf-8"), f"{media}; charset=utf-8"


def read_document(doc: FeedDocument) -> Mapping[str, Any]:
    """Run feedparser over the document's bytes (never letting it fetch or open anything).

    JSON Feed documents, which feedparser 6.0 does not read, go through ``jsonfeed``.
    """
    if looks_like_json(doc.content):
        return read_json_feed(doc.content)
    headers: dict[str, str] = {}
    if doc.content_type:
        headers["content-type"] = _xml_content_type(doc.content_type)
    if doc.url:
        headers["content-location"] = doc.url  # the base for relative links
        # without a type feedparser flags any headers as bozo; application/xml lets the
        # document's own declaration (or BOM) name the charset
        headers.setdefault("content-type", "application/xml")
    import feedparser  # on the first feed: most processes never read one

    try:
        # a stream, not bytes/str: feedparser would treat a short document as a file name or URL
        return feedparser.parse(io.BytesIO(doc.content), response_headers=headers or None)
    except Exception as exc:  # feedparser is meant not to raise; if it does, it is this input's fault
        raise MalformedPayload(f"feed could not be read: {type(exc).__name__}: {exc}") from exc


def _xml_content_type(content_type: str) -> str:
    # RFC 7303: text/* without a charset no longer means us-ascii; the XML declaration (or BOM)
    # decides. feedparser still follows RFC 3023 and flags every such UTF-8 feed as bozo.
    media, _, params = content_type.partition(";")
    if media.strip().lower().startswith("text/") and "charset" not in params.lower():
        return "application/xml"
    return content_type


def read_entries(doc: FeedDocument) -> tuple[Mapping[str, Any], list[dict[str, Any]], str | None]:
    """The parsed document, its entries as plain dicts, and the bozo problem if any."""
    parsed = read_document(doc)
    # plain dicts: FeedParserDict's key aliasing (updated -> published) warns and conflates dates
    entries = [dict(entry) for entry in parsed.get("entries") or []]
    problem = _problem(parsed)
    if not entries:
        _check_empty_document(doc, parsed, problem)
    return parsed, entries, problem


def _problem(parsed: Mapping[str, Any]) -> str | None:
    if not parsed.get("bozo"):
        return None
    exc = parsed.get("bozo_exception")
    return f"{type(exc).__name__}: {exc}" if exc is not None else "ill-formed feed"


def _check_empty_document(doc: FeedDocument, parsed: Mapping[str, Any], problem: str | None) -> None:
    # No entries is fine for a real feed (a quiet blog); anything else is a dead letter.
    head = doc.content[:4096].lstrip().lower()
    if not head:
        raise MalformedPayload("not a feed: the document is empty")
    if _looks_like_html_page(head, doc.content_type):
        raise MalformedPayload(
            "not a feed: the document is an HTML page" + (f" ({problem})" if problem else "")
        )
    feed = parsed.get("feed") or {}
    if problem is not None and not (parsed.get("version") and _encoding_only(parsed)):
        raise MalformedPayload(f"no feed entries could be read: {problem}")
    if not parsed.get("version") and not feed.get("title"):
        raise MalformedPayload("not a feed: no RSS, Atom or RDF root element")


def _encoding_only(parsed: Mapping[str, Any]) -> bool:
    # the document was read, only in another encoding than it declared: an empty feed, not junk
    import feedparser

    exc = parsed.get("bozo_exception")
    return isinstance(exc, feedparser.CharacterEncodingOverride | feedparser.NonXMLContentType)


def _looks_like_html_page(head: bytes, content_type: str | None) -> bool:
    head = head.replace(b"\x00", b"").removeprefix(b"\xef\xbb\xbf").lstrip()  # UTF-16/32, BOM
    if head.startswith((b"<!doctype html", b"<html", b"<head", b"<body")):
        return True
    # servers label real feeds text/html too: the type alone only counts without a feed root
    media = (content_type or "").split(";")[0].strip().lower()
    return media in ("text/html", "application/xhtml+xml") and not _FEED_ROOT.search(head)
