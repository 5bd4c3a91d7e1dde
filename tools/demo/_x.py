"""The demo's tweets as X API v2 responses, the shape ``channels.twitter`` parses.

Each tweet is one ``x.v2.tweet_page`` payload, as the channel's poller would have fetched it
with the fields and expansions it asks for (``channels/twitter/source.py``): ``data`` holds the
tweet (``conversation_id``, ``referenced_tweets``, ``in_reply_to_user_id``, ``entities`` with
their offsets, ``public_metrics``, ``lang``), ``includes.users`` its author and the author it
answers, ``includes.tweets`` the tweet it answers, and ``for_user_id`` the brand's account
(the channel's source adds it: what that user wrote is outbound). Text is escaped as X sends
it (``&amp; &lt; &gt;``); text over 280 characters is a long post (``note_tweet``, with the
cut ``text`` X sends beside it). Stdlib only, like the rest of the generator.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

__all__ = ["XUser", "XWriter"]

_MENTION = re.compile(r"(?<![\w@])@(\w{1,15})")
_HASHTAG = re.compile(r"(?<![\w#&])#(\w+)")
_CASHTAG = re.compile(r"(?<![\w$])\$([A-Za-z]{1,6})\b")
_URL = re.compile(r"https?://\S+")
#: X's limit on a tweet's text; longer posts come as ``note_tweet``
_TWEET_LIMIT = 280


@dataclass(frozen=True)
class XUser:
    """An X account of the demo's cast (v2 user object fields)."""

    id: str
    username: str
    name: str
    verified: bool = False
    followers: int = 0

    def as_v2(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "username": self.username,
            "verified": self.verified,
            "public_metrics": {
                "followers_count": self.followers,
                "following_count": 150 + self.followers % 400,
                "tweet_count": 300 + self.followers % 7000,
                "listed_count": self.followers // 500,
            },
        }


def _escaped(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _entities(text: str, ids_by_handle: dict[str, str]) -> dict[str, list[dict[str, Any]]]:
    """The v2 ``entities`` of ``text`` (offsets in code points of the unescaped text)."""
    entities: dict[str, list[dict[str, Any]]] = {}
    mentions = [
        {"start": m.start(), "end": m.end(), "username": m[1]}
        | ({"id": ids_by_handle[m[1].lower()]} if m[1].lower() in ids_by_handle else {})
        for m in _MENTION.finditer(text)
    ]
    hashtags = [{"start": m.start(), "end": m.end(), "tag": m[1]} for m in _HASHTAG.finditer(text)]
    cashtags = [{"start": m.start(), "end": m.end(), "tag": m[1]} for m in _CASHTAG.finditer(text)]
    urls = [
        {
            "start": m.start(),
            "end": m.end(),
            "url": m[0],
            "expanded_url": m[0],
            "display_url": m[0].split("//", 1)[1][:26],
        }
        for m in _URL.finditer(text)
    ]
    for name, found in (
        ("mentions", mentions),
        ("hashtags", hashtags),
        ("cashtags", cashtags),
        ("urls", urls),
    ):
        if found:
            entities[name] = found
    return entities


def _time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


@dataclass
class XWriter:
    """Builds the v2 pages of one demo run; remembers the tweets written, for ``includes``."""

    brand: XUser
    ids_by_handle: dict[str, str]
    tweets: dict[str, tuple[dict[str, Any], XUser]] = field(default_factory=dict)

    def page(
        self,
        *,
        tweet_id: str,
        author: XUser,
        text: str,
        created: datetime,
        conversation_id: str,
        parent_id: str | None,
        lang: str,
        metrics: dict[str, int],
        source: str,
    ) -> dict[str, Any]:
        """One tweet as the v2 page the poller would have read it in."""
        tweet: dict[str, Any] = {
            "id": tweet_id,
            "text": _escaped(text if len(text) <= _TWEET_LIMIT else text[: _TWEET_LIMIT - 1] + "…"),
            "author_id": author.id,
            "conversation_id": conversation_id,
            "created_at": _time(created),
            "lang": lang,
            "edit_history_tweet_ids": [tweet_id],
            "public_metrics": metrics,
            "source": source,
        }
        if len(text) > _TWEET_LIMIT:
            tweet["note_tweet"] = {"text": _escaped(text)}
        entities = _entities(text, self.ids_by_handle)
        if entities:
            tweet["entities"] = entities
        users = [author]
        referenced: list[dict[str, Any]] = []
        if parent_id is not None:
            parent, parent_author = self.tweets[parent_id]
            tweet["referenced_tweets"] = [{"type": "replied_to", "id": parent_id}]
            tweet["in_reply_to_user_id"] = parent_author.id
            referenced.append(parent)
            if parent_author.id != author.id:
                users.append(parent_author)
        self.tweets[tweet_id] = (tweet, author)
        includes: dict[str, Any] = {"users": [user.as_v2() for user in users]}
        if referenced:
            includes["tweets"] = referenced
        return {
            "data": [tweet],
            "includes": includes,
            "meta": {"result_count": 1, "newest_id": tweet_id, "oldest_id": tweet_id},
            "for_user_id": self.brand.id,
        }
