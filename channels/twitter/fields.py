"""The pieces every X payload shape shares: ids, times, text, authors, entities, deletions.

Pure helpers for ``v2`` and ``v1`` (the parsers). Every reader takes what the payload gives
and refuses what it cannot trust with ``MalformedPayload`` naming the field: an id that is not
a number, a time that does not parse. Optional parts that are missing or of the wrong type are
left out (``as_dict``/``as_list``), never guessed.

Entities go to ``Message.metadata`` (the model has no field for a platform's own entities;
enrichment extracts them from the text again for search): ``hashtags``, ``mentions`` (screen
names), ``cashtags`` (without the signs) and ``urls`` (expanded, unwound when X unwound them),
each only when the payload has some.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import orjson

from channels.twitter.settings import CHANNEL
from hub.errors import MalformedPayload
from hub.models import Attachment, Direction, Identity, Message

__all__ = [
    "DELETED_FLAG",
    "DM_FLAG",
    "DM_PREFIX",
    "NOT_LANGUAGES",
    "RETWEET_FLAG",
    "as_dict",
    "as_list",
    "attachment",
    "decode",
    "deletion",
    "dm_thread_key",
    "entity_metadata",
    "from_millis",
    "identity",
    "language",
    "numeric_id",
    "one_to_one_conversation",
    "snowflake_time",
    "text_of",
    "tweet_url",
    "v2_time",
]

#: a share of another tweet: counted in listening, never opens an inbox conversation
RETWEET_FLAG = "retweet"
#: a direct message (the replier answers it with a DM, not a public reply)
DM_FLAG = "dm"
#: a tweet deleted on X: its text is gone, only the id and the fact of deletion are kept
DELETED_FLAG = "deleted"
#: DM event ids and conversation ids are prefixed so they never meet a tweet's in one channel
DM_PREFIX = "dm:"

#: X's snowflake ids carry their creation time: ms since this epoch, above bit 22
_SNOWFLAKE_EPOCH_MS = 1288834974657
#: ids below this predate snowflakes (2010) and carry no time
_FIRST_SNOWFLAKE = 2**32
#: X's ``lang`` values that are not languages (media only, hashtags only, no text, undetermined)
NOT_LANGUAGES = frozenset({"und", "zxx", "art", "qam", "qct", "qht", "qme", "qst", "qtm"})
_MEDIA_TYPES = {"photo": "image/*", "video": "video/*", "animated_gif": "image/gif"}


def decode(payload: Any, what: str) -> Any:
    """The payload as JSON values: bytes and text are decoded, anything else passes as is.

    What ``json.loads`` accepts is accepted and what it refuses is refused with its reason;
    orjson only makes the common case cheaper."""
    if isinstance(payload, bytes | bytearray | memoryview):
        payload = bytes(payload)
    if isinstance(payload, bytes | str):
        try:  # orjson first: X pages arrive by the thousand and it decodes them ~3x faster
            return orjson.loads(payload)
        except orjson.JSONDecodeError:
            pass  # json decides: it takes what orjson refuses (NaN, huge ints, lone surrogates)
        if not payload.strip():
            raise MalformedPayload(f"empty {what}")
        try:
            return json.loads(payload)
        except (ValueError, RecursionError) as exc:  # bad JSON, bad UTF-8, nesting bombs
            reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
            raise MalformedPayload(f"{what} is not JSON: {reason}") from None
    return payload


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def numeric_id(value: Any, what: str) -> str:
    """An X id (tweet, user, DM event) as its decimal string; ``MalformedPayload`` otherwise."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return str(value)
    if isinstance(value, str) and value.isdigit() and value.isascii() and len(value) <= 20:
        return value
    raise MalformedPayload(f"{what} {value!r} is not an X id (digits)")


def snowflake_time(native_id: str) -> datetime | None:
    """When the snowflake id ``native_id`` was made (ids from before 2010 carry no time)."""
    number = int(native_id) if native_id.isdigit() else 0
    if number < _FIRST_SNOWFLAKE:
        return None
    return datetime.fromtimestamp(((number >> 22) + _SNOWFLAKE_EPOCH_MS) / 1000, UTC)


def v2_time(value: Any, what: str) -> datetime | None:
    """An ISO 8601 time of the v2 API (``2022-10-26T17:24:21.000Z``), or ``None`` when absent."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise MalformedPayload(f"{what} {value!r} is not an ISO 8601 time") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def from_millis(value: Any, what: str) -> datetime | None:
    """A time in epoch milliseconds (``"1586214250037"``), or ``None`` when absent."""
    if value is None:
        return None
    try:
        return datetime.fromtimestamp(int(value) / 1000, UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        raise MalformedPayload(f"{what} {value!r} is not epoch milliseconds") from None


def text_of(value: Any, what: str) -> str:
    """Tweet or DM text with X's HTML escapes decoded.

    X escapes exactly ``&``, ``<`` and ``>`` (as ``&amp; &lt; &gt;``); those are undone, and
    ``&amp;`` last, so a person's literal ``&lt;`` (sent as ``&amp;lt;``) stays as they wrote it.
    Other ``&...;`` sequences are the person's own text, never decoded.
    """
    if type(value) is not str:
        raise MalformedPayload(f"{what} has no text")
    if "&" not in value:
        return value
    return value.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def language(value: Any) -> str | None:
    """X's ``lang`` when it names a language (not ``und``, media-only ``qme``...)."""
    if isinstance(value, str) and 2 <= len(value) <= 8 and value not in NOT_LANGUAGES:
        return value
    return None


def tweet_url(handle: str | None, native_id: str) -> str:
    if handle:
        return f"https://x.com/{handle}/status/{native_id}"
    return f"https://x.com/i/web/status/{native_id}"


def identity(user: dict[str, Any], *, v1: bool = False) -> Identity:
    """A user object of either API as an identity: handle, display name, verified, followers."""
    if v1:
        native = numeric_id(user.get("id_str") or user.get("id"), "user id")
        handle, followers = user.get("screen_name"), user.get("followers_count")
    else:
        given = user.get("id")  # numeric_id's common case inline: up to 100 users a page
        if type(given) is str and given.isdigit() and len(given) <= 20 and given.isascii():
            native = given
        else:
            native = numeric_id(given, "user id")
        handle, metrics = user.get("username"), user.get("public_metrics")
        followers = metrics.get("followers_count") if isinstance(metrics, dict) else None
    verified = user.get("verified")
    name = user.get("name")
    # every value is checked here: no second validation (pages carry up to 100 users)
    return Identity.prevalidated_from(
        {
            "channel": CHANNEL,
            "native_id": native,
            "handle": handle if type(handle) is str and handle else None,
            "display_name": name if type(name) is str and name else None,
            "verified": verified if type(verified) is bool else None,
            "followers": followers if type(followers) is int else None,
        }
    )


def _values(items: Any, *keys: str) -> list[str]:
    found: list[str] = []
    for item in as_list(items):
        if isinstance(item, dict):
            value = next((item[k] for k in keys if isinstance(item.get(k), str) and item[k]), None)
            if value is not None:
                found.append(value)
    return found


def _urls(items: Any) -> list[str]:
    found: list[str] = []
    for item in as_list(items):
        if not isinstance(item, dict):
            continue
        unwound = item.get("unwound_url") or as_dict(item.get("unwound")).get("url")
        url = unwound or item.get("expanded_url") or item.get("url")
        if isinstance(url, str) and url:
            found.append(url)
    return found


def entity_metadata(entities: Any) -> dict[str, list[str]]:
    """The payload's own entities of either API: ``hashtags``, ``mentions``, ``cashtags``,
    ``urls``, each only when present (v1.1 calls cashtags ``symbols``)."""
    if type(entities) is not dict or not entities:
        return {}
    # The shapes X sends, read directly (pages of 100 tweets arrive by the thousand); anything
    # off them (a missing key, a wrong type, an empty value, v1.1's "unwound") is read again
    # field by field by _checked_entities.
    found: dict[str, list[str]] = {}
    try:
        items = entities.get("hashtags")
        if items:
            found["hashtags"] = [h.get("tag") or h["text"] for h in items]
        items = entities.get("mentions") or entities.get("user_mentions")
        if items:
            found["mentions"] = [m.get("username") or m["screen_name"] for m in items]
        items = entities.get("cashtags") or entities.get("symbols")
        if items:
            found["cashtags"] = [c.get("tag") or c["text"] for c in items]
        items = entities.get("urls")
        if items:
            for u in items:
                if "unwound" in u:
                    raise KeyError("unwound")
            found["urls"] = [u.get("unwound_url") or u.get("expanded_url") or u["url"] for u in items]
        for values in found.values():
            "".join(values)  # a TypeError unless every value is a string
            if "" in values:
                raise ValueError("an empty entity")
        return found
    except (AttributeError, KeyError, TypeError, ValueError):
        return _checked_entities(entities)


def _checked_entities(entities: dict[str, Any]) -> dict[str, list[str]]:
    # anything off the usual shape (a missing key, a wrong type, v1.1's "unwound") lands here
    found = {
        "hashtags": _values(entities.get("hashtags"), "tag", "text"),
        "mentions": _values(
            entities.get("mentions") or entities.get("user_mentions"), "username", "screen_name"
        ),
        "cashtags": _values(entities.get("cashtags") or entities.get("symbols"), "tag", "text"),
        "urls": _urls(entities.get("urls")),
    }
    return {key: values for key, values in found.items() if values}


def attachment(media: dict[str, Any]) -> Attachment:
    """A media object of either API (metadata only; the content is never fetched)."""
    kind = media.get("type")
    url = media.get("url") or media.get("media_url_https") or media.get("preview_image_url")
    key = media.get("media_key") or media.get("id_str")
    # every value is checked here: no second validation
    return Attachment.prevalidated_from(
        {
            "name": key if isinstance(key, str) else None,
            "content_type": _MEDIA_TYPES.get(kind, "application/octet-stream")
            if isinstance(kind, str)
            else "image/*",
            "url": url if isinstance(url, str) else None,
        }
    )


def dm_thread_key(conversation: str) -> str:
    return f"{DM_PREFIX}{conversation}"


def one_to_one_conversation(first: str, second: str) -> str:
    """The v2 ``dm_conversation_id`` of the one-to-one DM between two users (smaller id first),
    for v1.1 DM events, which name only the sender and the recipient."""
    low, high = sorted((first, second), key=int)
    return f"{low}-{high}"


def deletion(
    native_id: str,
    *,
    account: str,
    at: datetime | None,
    fallback_time: datetime,
    by_user: str | None = None,
    for_user_id: str | None = None,
    raw_ref: str | None = None,
) -> Message:
    """The marker of a tweet deleted on X: the same native id, no text, flag ``deleted``.

    The knowledge base upserts it over the stored tweet, so the text leaves the KB and its
    exports and only the id and the fact of deletion remain (X's developer terms). It names the
    tweet itself in ``references`` so the thread step finds the stored tweet's conversation
    (through its knowledge-base lookup) and the conversation is rolled up again without the
    text; a tweet never stored joins no conversation (``deleted`` never opens one).
    """
    metadata: dict[str, Any] = {"deleted": True}
    if at is not None:
        metadata["deleted_at"] = at.isoformat()
    if by_user:
        metadata["user_id"] = by_user
    return Message(
        channel=CHANNEL,
        account=account,
        native_id=native_id,
        direction=Direction.OUT if by_user and by_user == for_user_id else Direction.IN,
        text="",
        created_at=snowflake_time(native_id) or at or fallback_time,
        references=[native_id],
        flags=[DELETED_FLAG],
        raw_ref=raw_ref,
        metadata=metadata,
    )
