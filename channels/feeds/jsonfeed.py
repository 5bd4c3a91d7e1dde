"""JSON Feed (https://jsonfeed.org, versions 1 and 1.1), read into feedparser's shapes.

feedparser 6.0 reads only XML feeds; this maps a JSON Feed document onto the same dict
shape (``version``, ``bozo``, ``feed``, ``entries`` with ``id``/``link``/``content``/
``published_parsed``/``author_detail``/``tags``) so the rest of the parser treats both alike.
HTML content is sanitised with feedparser's own sanitiser, as it does for XML feeds.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from hub.errors import MalformedPayload

__all__ = ["looks_like_json", "read_json_feed"]

_BOMS = (b"\xef\xbb\xbf",)


def looks_like_json(content: bytes) -> bool:
    """Whether the document is JSON rather than XML (its first character is ``{``)."""
    head = content[:64]
    for bom in _BOMS:
        head = head.removeprefix(bom)
    return head.lstrip().startswith(b"{")


def read_json_feed(content: bytes) -> dict[str, Any]:
    """The JSON Feed ``content`` as feedparser would shape it; ``MalformedPayload`` otherwise."""
    try:
        document = json.loads(content.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedPayload(f"not a feed: invalid JSON ({exc})") from exc
    version = document.get("version") if isinstance(document, dict) else None
    if not isinstance(version, str) or "jsonfeed.org/version/" not in version:
        raise MalformedPayload("not a feed: a JSON document without a JSON Feed 'version'")
    items = document.get("items")
    if not isinstance(items, list):
        raise MalformedPayload("JSON Feed without an 'items' list")
    home = _str(document.get("home_page_url"))
    feed: dict[str, Any] = {"title": _str(document.get("title")), "link": home, "links": []}
    if _str(document.get("feed_url")):
        feed["links"].append({"rel": "self", "href": document["feed_url"]})
    author = _author(document)
    if author:
        feed["author_detail"] = author
    return {
        "version": "json1" if version.rstrip("/").endswith("/1") else "json11",
        "bozo": False,
        "feed": feed,
        "entries": [_entry(item) for item in items if isinstance(item, Mapping)],
    }


def _str(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def _author(node: Mapping[str, Any]) -> dict[str, str] | None:
    # 1.1 has "authors" (a list); 1.0 has "author"
    authors = node.get("authors")
    first = authors[0] if isinstance(authors, list) and authors else node.get("author")
    if not isinstance(first, Mapping):
        return None
    detail = {"name": _str(first.get("name")), "href": _str(first.get("url"))}
    return {k: v for k, v in detail.items() if v} or None


def _entry(item: Mapping[str, Any]) -> dict[str, Any]:
    # feedparser's date parser and sanitizer keep JSON entries equal to XML ones; imported on
    # the first feed, as ``document`` does
    from feedparser.datetimes import _parse_date
    from feedparser.sanitizer import _sanitize_html

    entry: dict[str, Any] = {}
    raw_id = item.get("id")
    if isinstance(raw_id, str | int) and str(raw_id).strip():
        entry["id"] = str(raw_id).strip()  # 1.0 feeds sometimes use numbers
    link = _str(item.get("url")) or _str(item.get("external_url"))
    if link:
        entry["link"] = link
    if _str(item.get("title")):
        entry["title"] = item["title"].strip()
    contents = []
    if _str(item.get("content_html")):
        contents.append(
            {"type": "text/html", "value": _sanitize_html(item["content_html"], "utf-8", "text/html")}
        )
    if _str(item.get("content_text")):
        contents.append({"type": "text/plain", "value": item["content_text"]})
    if contents:
        entry["content"] = contents
    if _str(item.get("summary")):
        entry["summary"] = item["summary"].strip()
    for source, target in (("date_published", "published_parsed"), ("date_modified", "updated_parsed")):
        parsed = _parse_date(item[source]) if _str(item.get(source)) else None
        if parsed:
            entry[target] = parsed
            entry[target.removesuffix("_parsed")] = item[source]
    author = _author(item)
    if author:
        entry["author_detail"] = author
    tags = item.get("tags")
    if isinstance(tags, list):
        entry["tags"] = [{"term": t} for t in tags if isinstance(t, str) and t.strip()]
    return entry
