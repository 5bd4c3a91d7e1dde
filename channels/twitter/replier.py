"""Answer on X: a public reply to a tweet, or a DM in the conversation a DM came from.

* **Public reply**: ``POST /2/tweets`` with ``in_reply_to_tweet_id`` = the answered tweet. The
  text starts with ``@<author>`` (added when the agent did not write it; not when following up
  the brand's own tweet) and must fit X's weighted length: 280, counted by twitter-text's v3
  rules (URLs 23, most CJK and emoji 2). :func:`tweet_text` checks it before anything is sent
  and says by how much it is over (``InvalidInput``, pure: the API can refuse with it up front).
* **DM**: when the answered message is a DM (flag ``dm``), ``POST
  /2/dm_conversations/<dm_conversation_id>/messages``; up to 10,000 characters.

The platform's id is the delivery: ``Delivery.native_id`` and the outbound ``Delivery.message``
(direction out, the brand account as author, ``reply_to`` the answered tweet, its thread), so
the customer's answer threads back into the conversation.

A reply in doubt (the process died between posting and recording) is settled by looking for
it on X instead of posting again: :meth:`XReplier.settle` finds our reply to that tweet
(``find_our_reply``: the account's timeline since the answered tweet, a tweet replying to it
with the same text, t.co links aside) or our DM in that conversation. X refusing a duplicate
text (403) is settled the same way. The outbox (dispatcher) decides when a reply is in doubt.

Failures are the client's (``channels.twitter.client.call``): rate limits and 5xx are
``RetriableError`` (``retry_after`` = the reset), 4xx ``SkippableError``, 401 ``FatalError``.
Without write credentials :func:`replier_for` refuses with advice; reading goes on.
"""

from __future__ import annotations

import asyncio
import logging
import re
from functools import partial
from typing import Any

from channels.twitter.client import XClient, call, reader_for, writer_for
from channels.twitter.fields import DM_FLAG, DM_PREFIX, as_dict, as_list, dm_thread_key, text_of, tweet_url
from channels.twitter.reply_rules import (
    MAX_DM_CHARS,
    MAX_WEIGHTED_LENGTH,
    check_reply,
    tweet_text,
    weighted_length,
)
from channels.twitter.settings import CHANNEL, TwitterSettings, XAccount, twitter_settings
from hub.errors import FatalError, InvalidInput, RetriableError, SkippableError
from hub.models import Delivery, Direction, Identity, Message, Reply, utcnow
from hub.settings import Settings

__all__ = [
    "MAX_DM_CHARS",
    "MAX_WEIGHTED_LENGTH",
    "XReplier",
    "check_reply",
    "replier_for",
    "tweet_text",
    "weighted_length",
]

log = logging.getLogger(__name__)

#: how many timeline pages ``find_our_reply`` reads before it says "not found"
SETTLE_PAGES = 5
_URL = re.compile(r"https?://\S+")


def _comparable(text: str) -> str:
    # X wraps links in t.co and escapes &<>: compare what the person wrote
    return " ".join(_URL.sub(" ", text_of(text, "tweet")).split())


class XReplier:
    """Sends replies through one X account (implements ``channels.base.Replier``)."""

    def __init__(self, settings: TwitterSettings, account: XAccount, writer: XClient) -> None:
        self.settings = settings
        self.account = account
        self.writer = writer
        self.reader = reader_for(settings, account) or writer

    async def send(self, reply: Reply) -> Delivery:
        # tweepy is synchronous (requests): keep it off the event loop
        return await asyncio.to_thread(self.send_now, reply)

    def send_now(self, reply: Reply) -> Delivery:
        """``send`` in the calling thread."""
        parent = reply.in_reply_to
        if parent is None:
            raise SkippableError(f"reply {reply.id} names no tweet or DM to answer on X")
        if DM_FLAG in parent.flags:
            return self._send_dm(reply, parent)
        try:
            text = tweet_text(reply)
        except InvalidInput as exc:
            raise SkippableError(f"reply {reply.id} cannot go out on X: {exc}") from exc
        writer = self.writer
        try:
            body, _ = call(
                "X create_tweet",
                lambda: writer.create_tweet(
                    text=text, in_reply_to_tweet_id=parent.native_id, user_auth=writer.user_auth
                ),
                margin_s=self.settings.rate_limit_margin_s,
            )
        except SkippableError as exc:
            if "duplicate" not in str(exc).lower():
                raise
            found = self.find_our_reply(parent.native_id, text)  # X already has this very reply
            if found is None:
                raise
            return self._delivery(reply, parent, found, text)
        native = as_dict(as_dict(body).get("data")).get("id")
        if not isinstance(native, str) or not native.isdigit():
            raise SkippableError(f"X accepted reply {reply.id} but named no tweet id: {body!r:.300}")
        return self._delivery(reply, parent, native, text)

    def _conversation(self, parent: Message) -> str:
        conversation = parent.metadata.get("dm_conversation_id")
        if not conversation and parent.thread_key and parent.thread_key.startswith(DM_PREFIX):
            conversation = parent.thread_key[len(DM_PREFIX) :]
        if not isinstance(conversation, str) or not conversation:
            raise SkippableError(f"DM {parent.native_id} names no dm_conversation_id to answer in")
        return conversation

    def _send_dm(self, reply: Reply, parent: Message) -> Delivery:
        text = reply.text.strip()
        if not text or len(text) > MAX_DM_CHARS:
            raise SkippableError(f"a DM on X needs 1 to {MAX_DM_CHARS} characters, not {len(text)}")
        conversation = self._conversation(parent)
        writer = self.writer
        body, _ = call(
            "X create_direct_message",
            lambda: writer.create_direct_message(
                dm_conversation_id=conversation, text=text, user_auth=writer.user_auth
            ),
            margin_s=self.settings.rate_limit_margin_s,
        )
        event = as_dict(as_dict(body).get("data")).get("dm_event_id")
        if not isinstance(event, str) or not event.isdigit():
            raise SkippableError(f"X accepted DM reply {reply.id} but named no event id: {body!r:.300}")
        return self._delivery(reply, parent, f"{DM_PREFIX}{event}", text, conversation)

    def _delivery(
        self, reply: Reply, parent: Message, native_id: str, text: str, dm_conversation: str | None = None
    ) -> Delivery:
        account = self.account
        brand = Identity(
            channel=CHANNEL, native_id=account.user_id or account.handle.lower(), handle=account.handle
        )
        to = [parent.author] if parent.author is not None and parent.direction is Direction.IN else []
        metadata: dict[str, Any] = {"reply_id": reply.id, **({"agent": reply.author} if reply.author else {})}
        if dm_conversation is not None:
            metadata["dm_conversation_id"] = dm_conversation
        now = utcnow()
        outbound = Message(
            channel=CHANNEL,
            account=reply.account if reply.account != "default" else account.name,
            native_id=native_id,
            direction=Direction.OUT,
            author=brand,
            recipients=list(reply.to) or to,
            text=text,
            created_at=now,
            reply_to=None if dm_conversation is not None else parent.native_id,
            thread_key=dm_thread_key(dm_conversation) if dm_conversation is not None else parent.thread_key,
            conversation_id=reply.conversation_id,
            url=None if dm_conversation is not None else tweet_url(account.handle, native_id),
            flags=[DM_FLAG] if dm_conversation is not None else [],
            metadata=metadata,
        )
        return Delivery(reply_id=reply.id, status="sent", native_id=native_id, sent_at=now, message=outbound)

    # Settling replies in doubt ------------------------------------------------------------

    def settle(self, reply: Reply) -> Delivery | None:
        """The delivery of ``reply`` if it is on X already (posted before a crash), else ``None``:
        then it was never sent and may be sent. Raises ``RetriableError`` when X cannot be
        asked now (the reply stays in doubt)."""
        parent = reply.in_reply_to
        if parent is None:
            return None
        if DM_FLAG in parent.flags:
            conversation = self._conversation(parent)
            found = self.find_our_dm(conversation, reply.text.strip(), after=parent.native_id)
            return self._delivery(reply, parent, found, reply.text.strip(), conversation) if found else None
        try:
            text = tweet_text(reply)
        except InvalidInput:
            return None  # it could never have been posted
        found = self.find_our_reply(parent.native_id, text)
        return self._delivery(reply, parent, found, text) if found else None

    def find_our_reply(self, in_reply_to_id: str, text: str | None = None) -> str | None:
        """The id of this account's tweet replying to ``in_reply_to_id`` (with ``text``, t.co
        links and escapes aside, when given), from its timeline since that tweet; ``None``
        when there is none."""
        if not self.account.user_id:
            raise RetriableError(f"X account {self.account.name!r} has no user_id to look for its replies")
        reader, wanted = self.reader, _comparable(text) if text is not None else None

        def timeline(token: str | None) -> Any:
            return reader.get_users_tweets(
                self.account.user_id,
                since_id=in_reply_to_id,
                max_results=100,
                pagination_token=token,
                tweet_fields=["referenced_tweets", "created_at"],
                user_auth=reader.user_auth,
            )

        token: str | None = None
        for _ in range(SETTLE_PAGES):
            page, _limit = call(
                "X user timeline", partial(timeline, token), margin_s=self.settings.rate_limit_margin_s
            )
            for tweet in as_list(as_dict(page).get("data")):
                tweet = as_dict(tweet)
                replied = [
                    as_dict(ref).get("id")
                    for ref in as_list(tweet.get("referenced_tweets"))
                    if as_dict(ref).get("type") == "replied_to"
                ]
                if in_reply_to_id in replied and (
                    wanted is None or _comparable(str(tweet.get("text"))) == wanted
                ):
                    return str(tweet.get("id"))
            token = as_dict(as_dict(page).get("meta")).get("next_token")
            if not token:
                return None
        log.warning(
            "X %s: no reply to %s in %d timeline pages", self.account.name, in_reply_to_id, SETTLE_PAGES
        )
        return None

    def find_our_dm(self, conversation: str, text: str, *, after: str) -> str | None:
        """``dm:<event id>`` of this account's DM in ``conversation`` with ``text``, newer than
        the DM ``after`` (a ``dm:`` native id); ``None`` when there is none."""
        writer = self.writer
        page, _limit = call(
            "X DM conversation",
            lambda: writer.get_direct_message_events(
                dm_conversation_id=conversation,
                dm_event_fields=["id", "text", "sender_id", "created_at"],
                max_results=100,
                user_auth=writer.user_auth,
            ),
            margin_s=self.settings.rate_limit_margin_s,
        )
        floor = int(after[len(DM_PREFIX) :]) if after[len(DM_PREFIX) :].isdigit() else 0
        wanted = _comparable(text)
        for event in as_list(as_dict(page).get("data")):
            event = as_dict(event)
            event_id = str(event.get("id", ""))
            if (
                event_id.isdigit()
                and int(event_id) > floor
                and str(event.get("sender_id")) == self.account.user_id
                and _comparable(str(event.get("text"))) == wanted
            ):
                return f"{DM_PREFIX}{event_id}"
        return None


def replier_for(settings: Settings, account: str) -> XReplier:
    """The replier of the X account named ``account`` (= ``Reply.account``).

    Raises ``SkippableError`` when no account has that name (a conversation imported from a
    file has account ``import``), and ``FatalError`` with what to set when the account has no
    write credentials (reading goes on without them).
    """
    config = twitter_settings(settings)
    found = config.account(account)
    if found is None:
        configured = ", ".join(a.name for a in config.accounts) or "none"
        raise SkippableError(f"no X account named {account!r} to reply from (configured: {configured})")
    writer = writer_for(config, found)
    if writer is None:
        raise FatalError(
            f"X account {account!r} cannot post: it has no write credentials. Set consumer_key, "
            "consumer_secret, access_token and access_token_secret (OAuth 1.0a user context), or "
            "oauth2_user_token (OAuth 2.0 with tweet.write and dm.write), in [twitter] or on the "
            "account; mentions and DMs are still read with the bearer token"
        )
    return XReplier(config, found, writer)
