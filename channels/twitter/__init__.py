"""The Twitter/X channel: mentions, listening searches and DMs read with tweepy, Account
Activity webhooks, public replies and DMs sent back.

``TWITTER`` is its descriptor. ``parse`` turns X payloads into hub messages (``PARSERS`` by
envelope kind: v2 tweet pages, stream lines, DM event pages, Account Activity events, v1.1
archive tweets; the shapes are read by ``v2`` and ``v1``, with ``fields`` for what they share);
``source`` polls each account's mentions, searches and DMs as a Bytewax source (cursor:
``since_id`` and the page in progress per timeline) and rechecks recent tweets for deletions
(``recheck``); ``stream`` is the optional filtered stream; ``webhook`` answers X's CRC and checks its
signature; ``replier`` posts replies (``@mention`` and 280 weighted characters checked) and
DMs; ``client`` is the one place that speaks to the API (``tweepy.Client`` at a base URL);
``settings`` holds the accounts and credentials. It threads by reply links and X's
``conversation_id`` (no subject fallback); retweets are shares that open no conversation.

Configure it in ``parley.toml``::

    [twitter]
    bearer_token = "..."            # reads: mentions, recent search
    consumer_key = "..."            # OAuth 1.0a app keys: writes, DMs, webhook signatures
    consumer_secret = "..."
    access_token = "..."            # the brand account's user tokens (or oauth2_user_token)
    access_token_secret = "..."

    [[twitter.accounts]]
    name = "brand"                  # = Envelope.account, Reply.account, /webhooks/twitter/brand
    handle = "AcmeHelp"
    user_id = "1234567890"
    queries = ['"acme kettle" -is:retweet']

    [twitter.stream]                # optional: X pushes what the queries match
    enabled = true

or as ``PARLEY_TWITTER__...`` variables (``PARLEY_TWITTER__ACCOUNTS`` as JSON).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from channels.base import Channel, NamedSource
from channels.twitter.parse import PARSERS
from channels.twitter.reply_rules import check_reply
from channels.twitter.settings import CHANNEL, TwitterSettings, own_identities
from channels.twitter.webhook import AccountActivityWebhook
from hub.settings import Settings

if TYPE_CHECKING:
    from channels.twitter.replier import XReplier

__all__ = ["TWITTER"]


# The source and the replier speak to X through tweepy (and requests, oauthlib): imported on
# first use, so a process that only parses (an import, the API) never loads them.
def sources(settings: Settings) -> list[NamedSource]:
    from channels.twitter.source import sources as twitter_sources

    return twitter_sources(settings)


def replier_for(settings: Settings, account: str) -> XReplier:
    from channels.twitter.replier import replier_for as twitter_replier_for

    return twitter_replier_for(settings, account)


TWITTER: Channel[TwitterSettings] = Channel(
    name=CHANNEL,
    settings_model=TwitterSettings,
    parsers=PARSERS,
    sources=sources,
    webhook=AccountActivityWebhook(),
    replier=replier_for,
    check_reply=check_reply,
    reply_kinds=frozenset({"public", "private"}),
    sent_is_delivered=True,
    own_identities=own_identities,
)
