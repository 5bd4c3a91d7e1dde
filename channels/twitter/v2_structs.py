"""The v2 tweet page's usual shape as typed structs: bytes decoded straight into them (msgspec).

``v2.tweet_page`` reads any decoded JSON and refuses what it cannot trust, naming the reason;
this module is its fast path for the shape X sends. ``typed_tweet_page`` decodes a page's
bytes (or text) into the structs below, whose types say what ``v2`` would accept without a
second look (ids strings of at most 20 characters, counts integers as orjson gives them,
entities with non-empty strings...), and builds the same messages from them: the same values,
the same fields set. Anything else answers ``None`` and the caller parses the page the usual
way, so every refusal and its reason stay ``v2``'s: JSON msgspec refuses (NaN, lone
surrogates, bytes that are not UTF-8 even in values it skips), JSON the structs do not type
(a number for an id, a list for ``geo``, v1.1's ``user_mentions``...), a page without
``data``, and every value ``v2`` would refuse or read otherwise (an id that is not ASCII
digits, an empty url, a time not in X's ``...Z`` form...). Unknown keys are skipped, as ``v2``
ignores them; of a key given twice the last value counts, as with ``json``.

Structs are not tracked by the garbage collector (``gc=False``: they hold no cycles) and are
dropped with the page; the messages hold only fresh lists and dicts.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec

from channels.twitter.fields import NOT_LANGUAGES, RETWEET_FLAG, deletion, snowflake_time
from channels.twitter.settings import CHANNEL
from hub.models import Attachment, Direction, Envelope, Identity, Message

__all__ = ["Page", "typed_tweet_page"]

_NOT_FOUND = "resource-not-found"
_MEDIA_TYPES = {"photo": "image/*", "video": "video/*", "animated_gif": "image/gif"}


class _Fallback(Exception):
    """Raised inside the fast path: the page is left to ``v2``."""


#: an integer as orjson (``v2``'s decoder) gives it: it makes a float of anything outside 64
#: bits (msgspec bounds stop at int64: larger ones are left to ``v2`` too)
Int64 = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]
#: at most an X id's length (longer is refused by ``v2``, so left to it); digits checked after
Id = Annotated[str, msgspec.Meta(max_length=20)]
#: a string ``v2`` takes as an entity (an empty one sends it to ``entity_metadata``)
NonEmpty = Annotated[str, msgspec.Meta(min_length=1)]


class Tag(msgspec.Struct, gc=False):
    tag: NonEmpty


class Mention(msgspec.Struct, gc=False):
    username: NonEmpty


class Url(msgspec.Struct, gc=False):
    url: str | None = None
    expanded_url: str | None = None
    unwound_url: str | None = None
    #: v1.1's form: its presence (even null) fails the decoding, leaving the page to ``v2``
    unwound: msgspec.UnsetType = msgspec.UNSET


class Entities(msgspec.Struct, gc=False):
    hashtags: list[Tag] | None = None
    mentions: list[Mention] | None = None
    cashtags: list[Tag] | None = None
    urls: list[Url] | None = None
    #: v1.1's names: their presence fails the decoding, leaving the page to ``v2``
    user_mentions: msgspec.UnsetType = msgspec.UNSET
    symbols: msgspec.UnsetType = msgspec.UNSET


class Reference(msgspec.Struct, gc=False):
    type: str
    id: Id


class Note(msgspec.Struct, gc=False):
    text: str | None = None


class Geo(msgspec.Struct, gc=False):
    place_id: str | None = None


class MediaKeys(msgspec.Struct, gc=False):
    media_keys: list[str] | None = None


class Tweet(msgspec.Struct, gc=False):
    id: Id
    text: str | None = None
    author_id: Id | None = None
    conversation_id: str | None = None
    created_at: str | None = None
    lang: str | None = None
    in_reply_to_user_id: str | None = None
    referenced_tweets: list[Reference] | None = None
    public_metrics: dict[str, Int64] | None = None
    entities: Entities | None = None
    edit_history_tweet_ids: list[str | Int64] | None = None
    geo: Geo | None = None
    attachments: MediaKeys | None = None
    note_tweet: Note | None = None


class UserMetrics(msgspec.Struct, gc=False):
    followers_count: Int64 | None = None


class User(msgspec.Struct, gc=False):
    id: Id
    username: str | None = None
    name: str | None = None
    verified: bool | None = None
    public_metrics: UserMetrics | None = None


class Media(msgspec.Struct, gc=False):
    media_key: str
    type: str | None = None
    url: str | None = None
    media_url_https: str | None = None
    preview_image_url: str | None = None


class Place(msgspec.Struct, gc=False):
    id: str
    full_name: str | None = None
    country_code: str | None = None


class Includes(msgspec.Struct, gc=False):
    users: list[User] | None = None
    tweets: list[Tweet] | None = None
    media: list[Media] | None = None
    places: list[Place] | None = None


class Error(msgspec.Struct, gc=False):
    """An item of a page's ``errors`` (a looked-up tweet not found, an inaccessible one...)."""

    type: str | None = None
    resource_type: str | None = None
    parameter: str | None = None
    resource_id: str | None = None
    value: str | None = None


class Page(msgspec.Struct, gc=False):
    """A v2 response with tweets, as far as ``v2.tweet_page`` reads it."""

    data: list[Tweet] | None = None
    includes: Includes | None = None
    errors: list[Error] | None = None
    for_user_id: Id | None = None


_DECODER = msgspec.json.Decoder(Page)


def _is_id(value: str) -> bool:
    return value.isdigit() and len(value) <= 20 and value.isascii()


class _Page:
    """A decoded page's includes, indexed by id on first use (last one wins, as in ``v2``)."""

    __slots__ = ("_media", "_places", "_tweets", "_users", "identities", "raw")

    def __init__(self, raw: Includes | None) -> None:
        self.raw = raw or Includes()
        self._users: dict[str, User] | None = None
        self._tweets: dict[str, Tweet] | None = None
        self._media: dict[str, Media] | None = None
        self._places: dict[str, Place] | None = None
        self.identities: dict[str, Identity] = {}

    def user(self, user_id: str) -> Identity:
        if self._users is None:
            self._users = {u.id: u for u in self.raw.users or ()}
        user = self._users.get(user_id)
        if user is None:
            found = Identity.prevalidated(channel=CHANNEL, native_id=user_id)
        else:  # its id is user_id, checked by the caller
            metrics = user.public_metrics
            found = Identity.prevalidated_from(
                {
                    "channel": CHANNEL,
                    "native_id": user.id,
                    "handle": user.username or None,
                    "display_name": user.name or None,
                    "verified": user.verified,
                    "followers": metrics.followers_count if metrics is not None else None,
                }
            )
        self.identities[user_id] = found
        return found

    def tweet(self, tweet_id: str) -> Tweet | None:
        if self._tweets is None:
            self._tweets = {t.id: t for t in self.raw.tweets or ()}
        return self._tweets.get(tweet_id)

    def media(self, keys: list[str]) -> list[Attachment]:
        if self._media is None:
            self._media = {m.media_key: m for m in self.raw.media or ()}
        found = []
        for key in keys:
            media = self._media.get(key)
            if media is not None:
                if not media.media_key:  # v2 names it by id_str then
                    raise _Fallback
                kind = media.type
                found.append(
                    Attachment.prevalidated_from(
                        {
                            "name": media.media_key,
                            "content_type": "image/*"
                            if kind is None
                            else _MEDIA_TYPES.get(kind, "application/octet-stream"),
                            "url": media.url or media.media_url_https or media.preview_image_url,
                        }
                    )
                )
        return found

    def place(self, place_id: str) -> dict[str, str]:
        if self._places is None:
            self._places = {p.id: p for p in self.raw.places or ()}
        place = self._places.get(place_id)
        if place is None:
            return {"id": place_id}
        found = {"id": place.id}
        if place.full_name is not None:
            found["full_name"] = place.full_name
        if place.country_code is not None:
            found["country_code"] = place.country_code
        return found


def _url(item: Url) -> str:
    """An entity's url as ``v2._entities`` reads it; an empty one (``entity_metadata`` reads
    it) falls back."""
    url = item.unwound_url or item.expanded_url or item.url
    if not url:
        raise _Fallback
    return url


def _messages(page: Page, envelope: Envelope) -> list[Message]:
    """``v2.tweet_message`` for each typed tweet of the page: the same values and fields set.
    What it would refuse or read otherwise raises ``_Fallback`` (in any order: the whole page
    is then left to ``v2``). One loop, every name bound once: pages of 100 tweets arrive by the
    thousand, and a function call per tweet cost more than its reading."""
    account, raw_ref, received_at = envelope.account, envelope.raw_ref, envelope.received_at
    for_user = page.for_user_id
    found = _Page(page.includes)
    identities = found.identities
    fromisoformat = datetime.fromisoformat
    build = Message.prevalidated_from
    messages: list[Message] = []
    append = messages.append
    for tweet in page.data or ():
        native_id, own_text = tweet.id, tweet.text
        if own_text is None or not (native_id.isdigit() and native_id.isascii()):
            raise _Fallback  # v2 tells an object without text from a tweet
        created = tweet.created_at
        if created is None:
            moment = snowflake_time(native_id) or received_at
        elif created[-1:] == "Z":  # X's form; v2 reads any other form
            try:
                moment = fromisoformat(created)
            except ValueError:
                raise _Fallback from None
        else:
            raise _Fallback
        author_id = tweet.author_id
        author = None
        if author_id is not None:
            author = identities.get(author_id)
            if author is None:
                if not (author_id.isdigit() and author_id.isascii()):
                    raise _Fallback
                author = found.user(author_id)
        refs: dict[str, str] | None = None
        raw_refs = tweet.referenced_tweets
        if raw_refs:
            refs = {}
            for ref in raw_refs:
                ref_id = ref.id
                if not (ref_id.isdigit() and ref_id.isascii()):
                    raise _Fallback
                if ref.type not in refs:  # the first of each type
                    refs[ref.type] = ref_id
        retweeted = refs.get("retweeted") if refs else None
        # a retweet's text is the original's (not "RT @x: ..."), when the includes have it
        source = tweet if retweeted is None else found.tweet(retweeted) or tweet
        note = source.note_tweet
        text = note.text if note is not None and note.text is not None else source.text
        if text is None:
            raise _Fallback
        if "&" in text:  # X's escapes undone (fields.text_of); a replace finding nothing costs more
            if "&lt;" in text:
                text = text.replace("&lt;", "<")
            if "&gt;" in text:
                text = text.replace("&gt;", ">")
            text = text.replace("&amp;", "&")
        handle = author.handle if author is not None else None
        values: dict[str, Any] = {
            "channel": CHANNEL,
            "account": account,
            "native_id": native_id,
            "created_at": moment,
            "text": text,
            "url": f"https://x.com/{handle}/status/{native_id}"
            if handle
            else f"https://x.com/i/web/status/{native_id}",
        }
        if author_id is not None:
            values["author"] = author
            if author_id == for_user:
                values["direction"] = Direction.OUT
        if raw_ref is not None:
            values["raw_ref"] = raw_ref
        # metadata keys in v2's order: retweeted_id, quoted_id, entities, in_reply_to_user_id,
        # metrics, edit_history, place (a message dumps its metadata as built)
        metadata: dict[str, Any] = {}
        if refs:
            if retweeted is not None:
                values["flags"] = [RETWEET_FLAG]
                metadata["retweeted_id"] = retweeted
            else:
                if (conversation := tweet.conversation_id) is not None:
                    values["thread_key"] = conversation
                if "replied_to" in refs:
                    values["reply_to"] = refs["replied_to"]
            if "quoted" in refs:
                metadata["quoted_id"] = refs["quoted"]
        elif raw_refs is None and own_text.startswith("RT @"):  # no references asked: X's text says
            values["flags"] = [RETWEET_FLAG]
        elif (conversation := tweet.conversation_id) is not None:
            values["thread_key"] = conversation
        entities = source.entities
        if entities is not None:  # v2._entities; the structs say every string is non-empty
            # most lists hold one entity: taken without a loop
            if tags := entities.hashtags:
                metadata["hashtags"] = [tags[0].tag] if len(tags) == 1 else [tag.tag for tag in tags]
            if mentions := entities.mentions:
                metadata["mentions"] = (
                    [mentions[0].username] if len(mentions) == 1 else [m.username for m in mentions]
                )
            if tags := entities.cashtags:
                metadata["cashtags"] = [tags[0].tag] if len(tags) == 1 else [tag.tag for tag in tags]
            if urls := entities.urls:
                if len(urls) == 1:
                    item = urls[0]
                    url = item.unwound_url or item.expanded_url or item.url
                    if not url:  # entity_metadata reads it
                        raise _Fallback
                    metadata["urls"] = [url]
                else:
                    metadata["urls"] = [_url(url) for url in urls]
        if (replying_to := tweet.in_reply_to_user_id) is not None:
            metadata["in_reply_to_user_id"] = replying_to
        if (metrics := tweet.public_metrics) is not None:
            metadata["metrics"] = metrics  # decoded for this tweet alone: fresh
        history = tweet.edit_history_tweet_ids
        if history is not None and len(history) > 1:
            metadata["edit_history"] = [str(h) for h in history]
        if (geo := tweet.geo) is not None and (place_id := geo.place_id) is not None:
            metadata["place"] = found.place(place_id)
        if (
            (attached := tweet.attachments) is not None
            and (keys := attached.media_keys)
            and (media := found.media(keys))
        ):
            values["attachments"] = media
        lang = tweet.lang
        if lang is not None and 2 <= len(lang) <= 8 and lang not in NOT_LANGUAGES:
            values["language"] = lang
        if metadata:
            values["metadata"] = metadata
        append(build(values))
    return messages


def _not_found(errors: list[Error]) -> list[str]:
    """``v2._not_found_tweets``: ids of looked-up tweets the API says do not exist (any more)."""
    gone = []
    for error in errors:
        if (
            error.resource_type == "tweet"
            and error.parameter in ("id", "ids")
            and error.type is not None
            and error.type.endswith(_NOT_FOUND)
        ):
            tweet_id = error.resource_id or error.value
            if tweet_id is None or not (tweet_id.isdigit() and len(tweet_id) <= 20 and tweet_id.isascii()):
                raise _Fallback
            gone.append(tweet_id)
    return gone


def typed_tweet_page(envelope: Envelope) -> list[Message] | None:
    """The messages ``v2.tweet_page`` makes of the envelope's page, when its payload is JSON
    bytes or text of the shape the structs type; ``None`` when the page is left to ``v2``."""
    payload = envelope.payload
    if type(payload) is bytes:
        if not payload.isascii():
            try:  # msgspec skips unknown values unchecked; json refuses bytes that are not UTF-8
                payload.decode()
            except UnicodeDecodeError:
                return None
    elif type(payload) is not str:
        return None
    try:
        page = _DECODER.decode(payload)
    except (msgspec.DecodeError, RecursionError, ValueError):
        return None  # ValidationError is a DecodeError; bad UTF-8 and lone surrogates ValueErrors
    tweets = page.data
    if tweets is None:
        return None  # v2 tells an empty page, an error document and a bare tweet apart
    for_user = page.for_user_id
    if for_user is not None and not _is_id(for_user):
        return None
    try:
        gone = _not_found(page.errors) if page.errors else None
        messages = _messages(page, envelope)
    except (_Fallback, KeyError, TypeError, ValueError, AttributeError, OverflowError):
        return None  # an assumption broken anywhere: v2 decides (and never crashes either)
    if gone:
        messages += [
            deletion(
                tweet_id,
                account=envelope.account,
                at=None,
                fallback_time=envelope.received_at,
                raw_ref=envelope.raw_ref,
            )
            for tweet_id in gone
        ]
    return messages
