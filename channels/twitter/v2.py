"""X API v2 payloads → hub messages: tweet pages, filtered-stream lines, DM event pages.

Pure functions over decoded JSON (``parse`` decodes and dispatches by envelope kind).

* **A tweet** (``data`` item) becomes one message: its full text (``note_tweet.text`` for long
  posts, never the truncated ``text``; HTML escapes decoded), ``conversation_id`` as
  ``thread_key``, the ``replied_to`` reference as ``reply_to``, the author from
  ``includes.users`` (handle, name, verified, followers; the bare ``author_id`` otherwise),
  media from ``includes.media``, the place from ``includes.places``, entities and public
  metrics in ``metadata``. A retweet is a share: flag ``retweet``, ``metadata.retweeted_id``,
  the original's full text when ``includes.tweets`` has it, and no thread hints (it never
  opens a conversation). A quote is a message of its own with ``metadata.quoted_id``.
* **A page** (search, mentions, timelines, lookups): one message per tweet in ``data``; an
  empty page is no message. ``errors`` saying a looked-up tweet is not found (a re-fetch of a
  deleted tweet) become deletion markers (``fields.deletion``). A page of other objects
  (users, lists, spaces) is an ``UnsupportedEvent``; an error document a ``MalformedPayload``.
* **A stream line**: ``{"data": tweet, "includes", "matching_rules"}`` is one message (the
  rules' tags in ``metadata.matching_rules``); a blank keep-alive line or a stream notice
  (``{"error": ...}``) is an ``UnsupportedEvent``; a compliance ``delete`` a deletion marker.
* **A DM events page**: one message per ``MessageCreate`` event (``dm:<event id>``, thread
  ``dm:<dm_conversation_id>``, flag ``dm``, the sender from ``includes.users``); joins and
  leaves are skipped.

``for_user_id`` (added by this channel's source, as Account Activity payloads carry it) is the
account the page was fetched for: what that user wrote is outbound.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from channels.twitter.fields import (
    DM_FLAG,
    DM_PREFIX,
    NOT_LANGUAGES,
    RETWEET_FLAG,
    as_dict,
    as_list,
    attachment,
    deletion,
    dm_thread_key,
    entity_metadata,
    identity,
    numeric_id,
    snowflake_time,
    text_of,
    v2_time,
)
from channels.twitter.settings import CHANNEL
from hub.errors import MalformedPayload, UnsupportedEvent
from hub.models import Attachment, Direction, Identity, Message

__all__ = ["Context", "Includes", "dm_events_page", "stream_line", "tweet_page"]

_NOT_FOUND = "resource-not-found"


@dataclass(frozen=True)
class Context:
    """Where a payload came from: the envelope's account, raw_ref and arrival time, and the
    account's user id when the payload says whom it was fetched for."""

    account: str
    received_at: datetime
    raw_ref: str | None = None
    for_user_id: str | None = None


@dataclass
class Includes:
    """A response's ``includes`` indexed by id; identities are built once per user."""

    raw: dict[str, Any]
    _users: dict[str, dict[str, Any]] | None = None
    _tweets: dict[str, dict[str, Any]] | None = None
    _media: dict[str, dict[str, Any]] | None = None
    _places: dict[str, dict[str, Any]] | None = None
    #: the identities built so far, by user id
    identities: dict[str, Identity] = field(default_factory=dict)

    def _index(self, name: str, key: str) -> dict[str, Any]:
        return {
            item[key]: item
            for item in as_list(self.raw.get(name))
            if isinstance(item, dict) and isinstance(item.get(key), str)
        }

    def user(self, user_id: str | None) -> Identity | None:
        if user_id is None:
            return None
        found = self.identities.get(user_id)
        if found is None:
            if self._users is None:
                self._users = self._index("users", "id")
            user = self._users.get(user_id)
            found = (
                identity(user)
                if user is not None
                else Identity.prevalidated(channel=CHANNEL, native_id=user_id)
            )
            self.identities[user_id] = found
        return found

    def tweet(self, tweet_id: str) -> dict[str, Any] | None:
        if self._tweets is None:
            self._tweets = self._index("tweets", "id")
        return self._tweets.get(tweet_id)

    def media(self, keys: Any) -> list[Attachment]:
        keys = as_list(keys)
        if not keys:
            return []
        if self._media is None:
            self._media = self._index("media", "media_key")
        return [attachment(self._media[k]) for k in keys if isinstance(k, str) and k in self._media]

    def place(self, place_id: Any) -> dict[str, Any] | None:
        if not isinstance(place_id, str):
            return None
        if self._places is None:
            self._places = self._index("places", "id")
        place = self._places.get(place_id)
        if place is None:
            return {"id": place_id}
        return {k: place[k] for k in ("id", "full_name", "country_code") if isinstance(place.get(k), str)}


def _references(raw: Any) -> dict[str, str]:
    """A tweet's ``referenced_tweets`` by type (the first of each); every id is checked."""
    refs: dict[str, str] = {}
    for ref in as_list(raw):
        if isinstance(ref, dict):
            kind = ref.get("type")
            if isinstance(kind, str):
                ref_id = ref.get("id")
                if not (type(ref_id) is str and ref_id.isdigit() and len(ref_id) <= 20 and ref_id.isascii()):
                    ref_id = numeric_id(ref_id, f"referenced {kind} id")  # its common case inline
                refs.setdefault(kind, ref_id)
    return refs


def _entities(entities: Any) -> dict[str, list[str]]:
    """``fields.entity_metadata`` of a v2 tweet's entities, for the shape X sends read directly
    (every value a non-empty string under ``tag``, ``username``, ``unwound_url``/``expanded_url``/
    ``url``); anything off it is left to ``entity_metadata``, which then answers. Loops, not
    comprehensions: most lists hold one or two entities, and this runs once a tweet."""
    found: dict[str, list[str]] = {}
    try:
        get = entities.get
        if items := get("hashtags"):
            found["hashtags"] = tags = []
            for item in items:
                tag = item["tag"]
                if type(tag) is not str or not tag:
                    raise ValueError(tag)
                tags.append(tag)
        if items := get("mentions") or get("user_mentions"):
            found["mentions"] = names = []
            for item in items:
                name = item["username"]
                if type(name) is not str or not name:
                    raise ValueError(name)
                names.append(name)
        if items := get("cashtags") or get("symbols"):
            found["cashtags"] = tags = []
            for item in items:
                tag = item["tag"]
                if type(tag) is not str or not tag:
                    raise ValueError(tag)
                tags.append(tag)
        if items := get("urls"):
            found["urls"] = urls = []
            for item in items:
                if "unwound" in item:  # v1.1's form
                    raise KeyError("unwound")
                url = item.get("unwound_url") or item.get("expanded_url") or item["url"]
                if type(url) is not str or not url:
                    raise ValueError(url)
                urls.append(url)
    except (AttributeError, KeyError, TypeError, ValueError):
        return entity_metadata(entities)
    return found


def tweet_message(tweet: Any, includes: Includes, context: Context) -> Message:
    """One v2 tweet object as a message (see the module doc).

    Written for speed (pages of 100 tweets arrive by the thousand, and the goal is at least
    half the throughput of ``json.loads`` of the page): one lookup per key, every value
    checked here as it is read, so the message is built without a second validation
    (``Message.prevalidated_from``; the tests check that ``Message.model_validate`` agrees),
    and the common cases of ``fields``' readers (ids, times, text, language) inline.
    """
    if type(tweet) is not dict:
        raise MalformedPayload(f"a tweet is a JSON object, not {type(tweet).__name__}")
    get = tweet.get
    native_id = get("id")
    if not (type(native_id) is str and native_id.isdigit() and len(native_id) <= 20 and native_id.isascii()):
        native_id = numeric_id(native_id, "tweet id")
    values: dict[str, Any] = {"channel": CHANNEL, "account": context.account, "native_id": native_id}
    raw_refs = get("referenced_tweets")
    refs = _references(raw_refs) if raw_refs else None
    author_id = get("author_id")
    handle = None
    if author_id is not None:
        # an author seen before on this page has a checked id (the page's identities are keyed so)
        author = includes.identities.get(author_id) if type(author_id) is str else None
        if author is None:
            if not (
                type(author_id) is str
                and author_id.isdigit()
                and len(author_id) <= 20
                and author_id.isascii()
            ):  # numeric_id's common case inline
                author_id = numeric_id(author_id, "author_id")
            author = includes.user(author_id)
        values["author"] = author
        handle = author.handle if author is not None else None
    source = tweet
    # metadata keys in this order: retweeted_id, quoted_id, entities, in_reply_to_user_id,
    # metrics, edit_history, place (a message dumps its metadata as built)
    metadata: dict[str, Any] | None = None
    if refs:
        retweeted = refs.get("retweeted")
        if retweeted is not None:
            values["flags"] = [RETWEET_FLAG]
            metadata = {"retweeted_id": retweeted}
            source = includes.tweet(retweeted) or tweet  # the original's full text, not "RT @x: ..."
        else:
            conversation = get("conversation_id")
            if type(conversation) is str:
                values["thread_key"] = conversation
            if "replied_to" in refs:
                values["reply_to"] = refs["replied_to"]
        if "quoted" in refs:
            if metadata is None:
                metadata = {"quoted_id": refs["quoted"]}
            else:
                metadata["quoted_id"] = refs["quoted"]
    elif raw_refs is None and str(get("text", "")).startswith("RT @"):
        values["flags"] = [RETWEET_FLAG]  # fetched without referenced_tweets: X's retweet text says so
    else:
        conversation = get("conversation_id")
        if type(conversation) is str:
            values["thread_key"] = conversation
    entities = source.get("entities")
    if entities:
        found = _entities(entities)  # a new dict: the metadata itself when it is the first
        if metadata is None:
            metadata = found
        else:
            metadata.update(found)
    if metadata is None:
        metadata = {}
    replying_to = get("in_reply_to_user_id")
    if type(replying_to) is str:
        metadata["in_reply_to_user_id"] = replying_to
    metrics = get("public_metrics")
    if type(metrics) is dict:
        for value in metrics.values():  # X sends only counts: then a copy is the answer
            if type(value) is not int:
                metadata["metrics"] = {k: v for k, v in metrics.items() if type(v) is int}
                break
        else:
            metadata["metrics"] = metrics.copy()
    history = get("edit_history_tweet_ids")
    if type(history) is list and len(history) > 1:
        metadata["edit_history"] = [str(h) for h in history]
    geo = get("geo")
    if geo and type(geo) is dict and (place := includes.place(geo.get("place_id"))):
        metadata["place"] = place
    attached = get("attachments")
    if attached and type(attached) is dict and (media := includes.media(attached.get("media_keys"))):
        values["attachments"] = media
    lang = get("lang")  # fields.language inline
    if type(lang) is str and 2 <= len(lang) <= 8 and lang not in NOT_LANGUAGES:
        values["language"] = lang
    if author_id is not None and author_id == context.for_user_id:
        values["direction"] = Direction.OUT
    if metadata:
        values["metadata"] = metadata
    if context.raw_ref is not None:
        values["raw_ref"] = context.raw_ref
    created = get("created_at")
    if created is None:
        values["created_at"] = snowflake_time(native_id) or context.received_at
    elif type(created) is str and created.endswith("Z"):  # X's form: fields.v2_time inline
        try:
            values["created_at"] = datetime.fromisoformat(created)
        except ValueError:
            raise MalformedPayload(f"created_at {created!r} is not an ISO 8601 time") from None
    else:
        values["created_at"] = v2_time(created, "created_at")
    # the full text (fields.text_of inline): note_tweet's for long posts, X's escapes undone
    note = source.get("note_tweet")
    text = note["text"] if type(note) is dict and isinstance(note.get("text"), str) else source.get("text")
    if type(text) is not str:
        raise MalformedPayload(f"tweet {native_id} has no text")
    if "&" in text:
        text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    values["text"] = text
    values["url"] = (
        f"https://x.com/{handle}/status/{native_id}" if handle else f"https://x.com/i/web/status/{native_id}"
    )
    return Message.prevalidated_from(values)


def _not_found_tweets(errors: Any) -> list[str]:
    """Ids of looked-up tweets the API says do not exist (any more)."""
    gone: list[str] = []
    for error in as_list(errors):
        if (
            isinstance(error, dict)
            and error.get("resource_type") == "tweet"
            and error.get("parameter") in ("id", "ids")
            and str(error.get("type", "")).endswith(_NOT_FOUND)
        ):
            gone.append(numeric_id(error.get("resource_id") or error.get("value"), "not-found tweet id"))
    return gone


def _deletions(ids: list[str], context: Context) -> list[Message]:
    return [
        deletion(
            i, account=context.account, at=None, fallback_time=context.received_at, raw_ref=context.raw_ref
        )
        for i in ids
    ]


def _not_tweets(items: list[Any]) -> UnsupportedEvent:
    keys = sorted({k for item in items[:5] if isinstance(item, dict) for k in item})[:6]
    return UnsupportedEvent(f"a page of non-tweet objects (fields: {', '.join(keys) or 'none'})")


def tweet_page(document: Any, context: Context) -> list[Message]:
    """A v2 response holding tweets (search, mentions, timelines, lookups; see the module doc)."""
    if not isinstance(document, dict):
        raise MalformedPayload(f"a v2 page is a JSON object, not {type(document).__name__}")
    data = document.get("data")
    if data is None and "id" in document and "text" in document:
        data = [document]  # a bare tweet object
    if isinstance(data, dict):
        data = [data]
    gone = _not_found_tweets(document.get("errors"))
    if data is None:
        if gone:
            return _deletions(gone, context)
        if "title" in document and "detail" in document:  # a problem document (RFC 7807)
            raise MalformedPayload(
                f"an X API error response, not a page: {document.get('title')}: {document.get('detail')}"
            )
        errors = as_list(document.get("errors"))
        if errors:  # e.g. the timeline's user is suspended
            first = as_dict(errors[0])
            raise UnsupportedEvent(f"no tweets, only errors: {first.get('detail') or first.get('message')}")
        if "meta" in document:
            return []  # an empty page
        raise MalformedPayload(f"not a v2 page: no 'data' (keys: {', '.join(sorted(document)[:8])})")
    if not isinstance(data, list):
        raise MalformedPayload(f"'data' of a v2 page is a {type(data).__name__}, not a list")
    for item in data:  # a loop, not all(generator): half the cost over 100 tweets
        if not (isinstance(item, dict) and "text" in item):
            if any(isinstance(item, dict) and "text" in item for item in data):
                raise MalformedPayload("a v2 page mixes tweets with objects that have no text")
            raise _not_tweets(data)
    includes = Includes(as_dict(document.get("includes")))
    messages = [tweet_message(tweet, includes, context) for tweet in data]
    return messages + _deletions(gone, context)


def stream_line(document: Any, context: Context) -> list[Message]:
    """One filtered-stream (or compliance stream) line; see the module doc."""
    if not isinstance(document, dict):
        raise MalformedPayload(f"a stream line is a JSON object, not {type(document).__name__}")
    data = document.get("data")
    if isinstance(data, dict) and isinstance(data.get("delete"), dict):
        event = data["delete"]  # {"tweet": {"id", "author_id"}, "event_at"}
        gone = as_dict(event.get("tweet"))
        native_id = numeric_id(gone.get("id"), "deleted tweet id")
        return [
            deletion(
                native_id,
                account=context.account,
                at=v2_time(event.get("event_at"), "event_at"),
                fallback_time=context.received_at,
                by_user=str(gone["author_id"]) if gone.get("author_id") is not None else None,
                for_user_id=context.for_user_id,
                raw_ref=context.raw_ref,
            )
        ]
    if isinstance(data, dict):
        message = tweet_message(data, Includes(as_dict(document.get("includes"))), context)
        tags = [
            rule.get("tag") or rule.get("id")
            for rule in as_list(document.get("matching_rules"))
            if isinstance(rule, dict)
        ]
        if tags:
            message.metadata["matching_rules"] = [str(t) for t in tags if t]
        return [message]
    notice = document.get("error") or document.get("errors")
    if notice is not None:
        first = notice[0] if isinstance(notice, list) and notice else notice
        text = as_dict(first).get("message") or as_dict(first).get("detail") or first
        raise UnsupportedEvent(f"stream notice, not a tweet: {str(text).strip()[:300]}")
    raise MalformedPayload(f"not a stream line: no 'data' (keys: {', '.join(sorted(document)[:8])})")


def dm_message(event: dict[str, Any], includes: Includes, context: Context) -> Message:
    """One v2 ``MessageCreate`` DM event as a message."""
    event_id = numeric_id(event.get("id"), "DM event id")
    what = f"DM event {event_id}"
    sender_id = numeric_id(event["sender_id"], "sender_id") if event.get("sender_id") is not None else None
    conversation = event.get("dm_conversation_id")
    if conversation is not None and not isinstance(conversation, str):
        raise MalformedPayload(f"{what}: dm_conversation_id is not a string")
    participants = [str(p) for p in as_list(event.get("participant_ids")) if str(p) != sender_id]
    metadata: dict[str, Any] = {}
    if conversation:
        metadata["dm_conversation_id"] = conversation
    shared = [
        numeric_id(ref.get("id"), "referenced tweet id")
        for ref in as_list(event.get("referenced_tweets"))
        if isinstance(ref, dict)
    ]
    if shared:
        metadata["shared_tweet_ids"] = shared
    entities = entity_metadata(event.get("entities"))
    if entities:
        metadata.update(entities)
    created = v2_time(event.get("created_at"), f"{what} created_at")
    return Message(
        channel=CHANNEL,
        account=context.account,
        native_id=f"{DM_PREFIX}{event_id}",
        direction=Direction.OUT if sender_id and sender_id == context.for_user_id else Direction.IN,
        author=includes.user(sender_id),
        recipients=[r for r in (includes.user(numeric_id(p, "participant id")) for p in participants) if r],
        text=text_of(event.get("text"), what),
        created_at=created or snowflake_time(event_id) or context.received_at,
        thread_key=dm_thread_key(conversation) if conversation else None,
        attachments=includes.media(as_dict(event.get("attachments")).get("media_keys")),
        flags=[DM_FLAG],
        raw_ref=context.raw_ref,
        metadata=metadata,
    )


def dm_events_page(document: Any, context: Context) -> list[Message]:
    """A v2 DM events response (``GET /2/dm_events``, ``/2/dm_conversations/.../dm_events``)."""
    if not isinstance(document, dict):
        raise MalformedPayload(f"a DM events page is a JSON object, not {type(document).__name__}")
    data = document.get("data")
    if data is None:
        if "meta" in document:
            return []
        raise MalformedPayload(f"not a DM events page: no 'data' (keys: {', '.join(sorted(document)[:8])})")
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        raise MalformedPayload(f"'data' of a DM events page is a {type(data).__name__}, not a list")
    events = [e for e in data if isinstance(e, dict)]
    if len(events) != len(data):
        raise MalformedPayload("a DM events page holds items that are not objects")
    if events and not any("event_type" in e or "text" in e for e in events):
        raise _not_tweets(events)
    created = [e for e in events if e.get("event_type", "MessageCreate") == "MessageCreate"]
    if events and not created:
        kinds = sorted({str(e.get("event_type")) for e in events})
        raise UnsupportedEvent(f"no messages in this DM page, only {', '.join(kinds)} events")
    includes = Includes(as_dict(document.get("includes")))
    return [dm_message(event, includes, context) for event in created]
