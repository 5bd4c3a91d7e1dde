"""The v1.1 shapes → hub messages: archived tweets and Account Activity webhook events.

Pure functions over decoded JSON (``parse`` decodes and dispatches by envelope kind).

* **A v1.1 status** (archives, old exports, ``tweet_create_events``): the full text
  (``extended_tweet.full_text``, else ``full_text``, else ``text``; HTML escapes decoded), the
  reply link ``in_reply_to_status_id_str`` as ``reply_to`` (v1.1 has no conversation id: the
  thread step follows reply links), the user as author, entities (``extended_tweet``'s when
  present) and media. A retweet (``retweeted_status``) is a share of the original: flag
  ``retweet``, ``metadata.retweeted_id``, the original's full text, no reply link. A quote
  (``quoted_status``) is a message of its own with ``metadata.quoted_id``. Accepted as one
  status, a list of them, an archive item ``{"tweet": status}`` or a search response
  ``{"statuses": [...]}``.
* **An Account Activity event** (``{"for_user_id", "<kind>_events": [...], "users"}``):
  ``tweet_create_events`` are statuses, ``direct_message_events`` of type ``message_create``
  are DMs (thread = the one-to-one ``dm_conversation_id`` v2 uses: the two user ids, smaller
  first), ``tweet_delete_events`` are deletion markers. Favorites, follows, blocks, mutes,
  typing indicators, read receipts and ``user_event`` revocations are not ingested
  (``UnsupportedEvent``). What ``for_user_id`` wrote is outbound.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from channels.twitter.fields import (
    DM_FLAG,
    DM_PREFIX,
    RETWEET_FLAG,
    as_dict,
    as_list,
    attachment,
    deletion,
    dm_thread_key,
    entity_metadata,
    from_millis,
    identity,
    language,
    numeric_id,
    one_to_one_conversation,
    snowflake_time,
    text_of,
    tweet_url,
)
from channels.twitter.settings import CHANNEL
from channels.twitter.v2 import Context
from hub.errors import MalformedPayload, UnsupportedEvent
from hub.models import Direction, Identity, Message

__all__ = ["AAA_EVENT_KEYS", "aaa_event", "statuses"]

_V1_TIME = "%a %b %d %H:%M:%S %z %Y"
_METRICS = {
    "retweet_count": "retweet_count",
    "reply_count": "reply_count",
    "favorite_count": "like_count",
    "quote_count": "quote_count",
}
#: Account Activity event arrays this channel turns into messages
INGESTED = ("tweet_create_events", "direct_message_events", "tweet_delete_events")
#: Account Activity events that are well-formed but not ingested
NOT_INGESTED = (
    "favorite_events",
    "follow_events",
    "unfollow_events",
    "block_events",
    "mute_events",
    "direct_message_indicate_typing_events",
    "direct_message_mark_read_events",
    "user_event",
    "tweet_unfavorite_events",
)
AAA_EVENT_KEYS = INGESTED + NOT_INGESTED


def _v1_time(value: Any, what: str) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.strptime(value, _V1_TIME)
    except (TypeError, ValueError):
        raise MalformedPayload(
            f"{what} {value!r} is not a v1.1 time (Wed Feb 05 08:39:31 +0000 2020)"
        ) from None


def _status_id(status: dict[str, Any]) -> str:
    return numeric_id(status.get("id_str") or status.get("id"), "status id")


def _full_text(status: dict[str, Any], what: str) -> str:
    extended = status.get("extended_tweet")
    if isinstance(extended, dict) and isinstance(extended.get("full_text"), str):
        return text_of(extended["full_text"], what)
    if isinstance(status.get("full_text"), str):
        return text_of(status["full_text"], what)
    return text_of(status.get("text"), what)


def _entities(status: dict[str, Any]) -> tuple[dict[str, Any], list[Any]]:
    """(entities, media) of a status, the extended tweet's when it has them."""
    extended = as_dict(status.get("extended_tweet"))
    entities = as_dict(extended.get("entities")) or as_dict(status.get("entities"))
    media = as_dict(extended.get("extended_entities")).get("media") or as_dict(
        status.get("extended_entities")
    ).get("media")
    return entities, as_list(media) or as_list(entities.get("media"))


def status_message(status: Any, context: Context) -> Message:
    """One v1.1 status as a message (see the module doc)."""
    if not isinstance(status, dict):
        raise MalformedPayload(f"a status is a JSON object, not {type(status).__name__}")
    native_id = _status_id(status)
    what = f"status {native_id}"
    user = status.get("user")
    author: Identity | None = identity(user, v1=True) if isinstance(user, dict) else None
    metadata: dict[str, Any] = {}
    flags: list[str] = []
    source = status
    reply_to = None
    original = status.get("retweeted_status")
    if isinstance(original, dict):
        flags.append(RETWEET_FLAG)
        metadata["retweeted_id"] = _status_id(original)
        source = original  # the original's full text, not "RT @x: ..." cut at 140
    else:
        raw_parent = status.get("in_reply_to_status_id_str") or status.get("in_reply_to_status_id")
        reply_to = numeric_id(raw_parent, "in_reply_to_status_id") if raw_parent else None
    text = _full_text(source, what)
    quoted = status.get("quoted_status_id_str") or as_dict(source.get("quoted_status")).get("id_str")
    if quoted:
        metadata["quoted_id"] = numeric_id(quoted, "quoted_status_id")
    entities, media = _entities(source)
    metadata.update(entity_metadata(entities))
    if status.get("in_reply_to_user_id_str"):
        metadata["in_reply_to_user_id"] = str(status["in_reply_to_user_id_str"])
    metrics = {name: status[key] for key, name in _METRICS.items() if isinstance(status.get(key), int)}
    if metrics:
        metadata["metrics"] = metrics
    place = as_dict(status.get("place"))
    if place.get("id") or place.get("full_name"):
        metadata["place"] = {k: place[k] for k in ("id", "full_name", "country_code") if place.get(k)}
    created = _v1_time(status.get("created_at"), f"{what} created_at") or from_millis(
        status.get("timestamp_ms"), f"{what} timestamp_ms"
    )
    author_id = author.native_id if author else None
    return Message(
        channel=CHANNEL,
        account=context.account,
        native_id=native_id,
        direction=Direction.OUT if author_id and author_id == context.for_user_id else Direction.IN,
        author=author,
        text=text,
        language=language(status.get("lang")),
        created_at=created or snowflake_time(native_id) or context.received_at,
        reply_to=reply_to,
        url=tweet_url(author.handle if author else None, native_id),
        attachments=[attachment(m) for m in media if isinstance(m, dict)],
        flags=flags,
        raw_ref=context.raw_ref,
        metadata=metadata,
    )


def _looks_like_status(item: Any) -> bool:
    return isinstance(item, dict) and any(k in item for k in ("text", "full_text", "extended_tweet"))


def statuses(document: Any, context: Context) -> list[Message]:
    """v1.1 statuses in any of the accepted wrappings (see the module doc)."""
    if isinstance(document, dict) and isinstance(document.get("tweet"), dict):
        document = document["tweet"]  # an item of an X archive's tweets.js
    elif isinstance(document, dict) and isinstance(document.get("statuses"), list):
        document = document["statuses"]  # a v1.1 search response
    items = document if isinstance(document, list) else [document]
    if not items:
        return []
    if not all(_looks_like_status(item) for item in items):
        if any(_looks_like_status(item) for item in items):
            raise MalformedPayload("a list of statuses holds items that are not statuses")
        first = items[0]
        if isinstance(first, dict):
            keys = ", ".join(sorted(first)[:6])
            raise UnsupportedEvent(f"a v1.1 object that is not a status (fields: {keys})")
        raise MalformedPayload(f"a v1.1 status is a JSON object, not {type(first).__name__}")
    return [status_message(item, context) for item in items]


def _dm_message(event: dict[str, Any], users: dict[str, Any], context: Context) -> Message:
    event_id = numeric_id(event.get("id"), "DM event id")
    create = as_dict(event.get("message_create"))
    sender = numeric_id(create.get("sender_id"), "DM sender_id")
    recipient = numeric_id(as_dict(create.get("target")).get("recipient_id"), "DM recipient_id")
    data = as_dict(create.get("message_data"))
    what = f"DM event {event_id}"

    def who(user_id: str) -> Identity:
        user = users.get(user_id)
        return (
            identity(user, v1=True)
            if isinstance(user, dict)
            else Identity(channel=CHANNEL, native_id=user_id)
        )

    conversation = one_to_one_conversation(sender, recipient)
    metadata: dict[str, Any] = {"dm_conversation_id": conversation}
    metadata.update(entity_metadata(data.get("entities")))
    media = as_dict(as_dict(data.get("attachment")).get("media"))
    return Message(
        channel=CHANNEL,
        account=context.account,
        native_id=f"{DM_PREFIX}{event_id}",
        direction=Direction.OUT if sender == context.for_user_id else Direction.IN,
        author=who(sender),
        recipients=[who(recipient)],
        text=text_of(data.get("text"), what),
        created_at=from_millis(event.get("created_timestamp"), f"{what} created_timestamp")
        or snowflake_time(event_id)
        or context.received_at,
        thread_key=dm_thread_key(conversation),
        attachments=[attachment(media)] if media else [],
        flags=[DM_FLAG],
        raw_ref=context.raw_ref,
        metadata=metadata,
    )


def _deleted(event: Any, context: Context) -> Message:
    status = as_dict(as_dict(event).get("status"))
    native_id = numeric_id(status.get("id_str") or status.get("id"), "deleted status id")
    user = status.get("user_id_str") or status.get("user_id")
    return deletion(
        native_id,
        account=context.account,
        at=from_millis(as_dict(event).get("timestamp_ms"), "tweet_delete_events timestamp_ms"),
        fallback_time=context.received_at,
        by_user=numeric_id(user, "deleted status user_id") if user is not None else None,
        for_user_id=context.for_user_id,
        raw_ref=context.raw_ref,
    )


def aaa_event(document: Any, context: Context) -> list[Message]:
    """An Account Activity webhook payload (one or more events; see the module doc)."""
    if not isinstance(document, dict):
        raise MalformedPayload(f"an Account Activity event is a JSON object, not {type(document).__name__}")
    present = [key for key in AAA_EVENT_KEYS if key in document]
    if not present:
        raise MalformedPayload(
            f"not an Account Activity event (keys: {', '.join(sorted(document)[:8]) or 'none'})"
        )
    ingested = [key for key in present if key in INGESTED]
    if not ingested:
        raise UnsupportedEvent(f"Account Activity {', '.join(present)} are not ingested")
    for_user = document.get("for_user_id")
    if for_user is not None:
        context = Context(
            context.account, context.received_at, context.raw_ref, numeric_id(for_user, "for_user_id")
        )
    messages: list[Message] = []
    for status in as_list(document.get("tweet_create_events")):
        messages.append(status_message(status, context))
    users = as_dict(document.get("users"))
    dms = [e for e in as_list(document.get("direct_message_events")) if isinstance(e, dict)]
    for event in dms:
        if event.get("type", "message_create") == "message_create":
            messages.append(_dm_message(event, users, context))
    for event in as_list(document.get("tweet_delete_events")):
        messages.append(_deleted(event, context))
    if not messages and dms:
        raise UnsupportedEvent("no message_create among the direct_message_events")
    return messages
