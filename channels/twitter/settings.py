"""The Twitter/X channel's settings: the brand's X accounts, the app's credentials, the polling.

They live in the root settings' ``channels["twitter"]`` table, written ``PARLEY_TWITTER__...``
or ``[twitter]`` in ``parley.toml`` (see ``hub.settings_sources``). Unknown keys are refused, so
a misspelt option fails at start-up instead of being ignored.

Credentials, all ``SecretStr``:

* the app's ``bearer_token`` reads (mentions, recent search, timelines);
* writes (replies, DMs) and DM reads need user context: OAuth 1.0a (the app's
  ``consumer_key``/``consumer_secret`` with the account's ``access_token``/``access_token_secret``)
  or an OAuth 2.0 user token (``oauth2_user_token``). An account's own tokens win over the
  channel-wide ones (one app, several brand accounts);
* ``consumer_secret`` also signs Account Activity webhooks (CRC and ``x-twitter-webhooks-signature``).

Without write credentials the replier refuses with advice; reads keep working.
The configured accounts' handles are the brand's own identities (``own_identities``): their
tweets and DMs are outbound.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

if TYPE_CHECKING:
    from hub.settings import Settings

__all__ = [
    "CHANNEL",
    "DEFAULT_API_BASE_URL",
    "StreamSettings",
    "TwitterSettings",
    "XAccount",
    "own_identities",
    "twitter_settings",
]

#: the channel's name: ``Envelope.channel``, ``Message.channel`` and its settings table
CHANNEL = "twitter"
#: where tweepy sends every request; ``api_base_url`` points an X-compatible server instead
DEFAULT_API_BASE_URL = "https://api.twitter.com"


def _secret(value: SecretStr | None) -> str:
    return value.get_secret_value() if value is not None else ""


class XAccount(BaseModel):
    """One brand account on X: its mentions, its DMs and its listening searches are polled."""

    model_config = ConfigDict(extra="forbid")

    #: = ``Envelope.account``, ``Reply.account`` and the ``{account}`` of the webhook URL
    name: str = Field(default="brand", min_length=1)
    #: the screen name, without ``@``
    handle: str = Field(min_length=1)
    #: the numeric user id (``GET /2/users/by/username/<handle>``); mentions and DMs need it
    user_id: str = ""
    mentions: bool = True
    direct_messages: bool = True
    #: listening queries in X's search syntax (``"acme kettle" -is:retweet lang:en``), each
    #: polled with recent search
    queries: list[str] = Field(default_factory=list)
    #: this account's user-context tokens (else the channel-wide ones)
    access_token: SecretStr | None = None
    access_token_secret: SecretStr | None = None
    oauth2_user_token: SecretStr | None = None

    @field_validator("handle")
    @classmethod
    def _bare_handle(cls, handle: str) -> str:
        return handle.strip().lstrip("@")

    @model_validator(mode="after")
    def _user_id_when_needed(self) -> XAccount:
        if self.user_id and not self.user_id.isdigit():
            raise ValueError(f"user_id of {self.name!r} must be the numeric X user id, not {self.user_id!r}")
        if not self.user_id and (self.mentions or self.direct_messages):
            raise ValueError(
                f"account {self.name!r} needs its numeric user_id to poll mentions and DMs "
                f"(GET /2/users/by/username/{self.handle}); or set mentions/direct_messages = false"
            )
        return self


class StreamSettings(BaseModel):
    """``[twitter.stream]``: the optional filtered stream (``channels.twitter.stream``)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = False
    #: seconds without a byte (X sends a keep-alive every 20) before the stream is reconnected
    stall_s: float = Field(default=30.0, gt=0)
    #: X's reconnection schedule: network errors wait this much longer each time, up to the max
    network_step_s: float = Field(default=0.25, gt=0)
    network_max_s: float = Field(default=16.0, gt=0)
    #: HTTP errors: the first wait, doubled each time up to the max
    http_start_s: float = Field(default=5.0, gt=0)
    http_max_s: float = Field(default=320.0, gt=0)
    #: 429 (too many connections): the first wait, doubled each time
    rate_limit_start_s: float = Field(default=60.0, gt=0)
    #: ask X to replay up to this many minutes missed by a restart (X Pro/Enterprise; 0: never)
    backfill_minutes: int = Field(default=0, ge=0, le=5)


class TwitterSettings(BaseModel):
    """The ``[twitter]`` table: accounts, credentials, polling manners."""

    model_config = ConfigDict(extra="forbid")

    accounts: list[XAccount] = Field(default_factory=list)
    bearer_token: SecretStr = SecretStr("")
    consumer_key: SecretStr = SecretStr("")
    consumer_secret: SecretStr = SecretStr("")
    access_token: SecretStr = SecretStr("")
    access_token_secret: SecretStr = SecretStr("")
    oauth2_user_token: SecretStr = SecretStr("")
    #: the X API's root; tests and X-compatible servers point it elsewhere
    api_base_url: str = DEFAULT_API_BASE_URL
    #: seconds between polls of one timeline once it is caught up
    poll_interval_s: float = Field(default=60.0, gt=0)
    #: results per page (the API allows 5-100 for search and mentions, 1-100 for DM events)
    page_size: int = Field(default=100, ge=5, le=100)
    #: pages read on the very first poll of a timeline (no cursor yet): how far back to start
    first_poll_pages: int = Field(default=1, ge=1)
    #: timeout of one HTTP request
    timeout_s: float = Field(default=30.0, gt=0)
    #: first delay after a failure; doubles per consecutive failure up to ``backoff_max_s``
    backoff_base_s: float = Field(default=5.0, gt=0)
    backoff_max_s: float = Field(default=900.0, gt=0)
    #: consecutive failures of one timeline before a dead letter makes them visible
    dead_letter_after: int = Field(default=3, ge=1)
    #: extra seconds waited past ``x-rate-limit-reset`` (clocks differ)
    rate_limit_margin_s: float = Field(default=1.0, ge=0)
    #: seconds between compliance checks of recently ingested tweets (``GET /2/tweets?ids=``;
    #: a tweet X no longer finds is deleted here too; see ``recheck``); 0 turns them off
    recheck_interval_s: float = Field(default=6 * 3600.0, ge=0)
    #: how far back ingested tweets are rechecked
    recheck_window_s: float = Field(default=7 * 86400.0, gt=0)
    #: at most this many (the newest) are remembered per account for the check
    recheck_max_tweets: int = Field(default=2000, ge=1, le=100_000)
    #: the filtered stream of the listening queries (off by default: recent search polls them)
    stream: StreamSettings = Field(default_factory=StreamSettings)

    def account(self, name: str) -> XAccount | None:
        return next((account for account in self.accounts if account.name == name), None)

    def oauth1(self, account: XAccount) -> tuple[str, str, str, str] | None:
        """(consumer key, consumer secret, access token, access secret), or ``None`` when any
        of the four is missing."""
        parts = (
            _secret(self.consumer_key),
            _secret(self.consumer_secret),
            _secret(account.access_token) or _secret(self.access_token),
            _secret(account.access_token_secret) or _secret(self.access_token_secret),
        )
        return parts if all(parts) else None

    def oauth2_user(self, account: XAccount) -> str:
        """The account's OAuth 2.0 user token ("" when none)."""
        return _secret(account.oauth2_user_token) or _secret(self.oauth2_user_token)

    def has_user_context(self, account: XAccount) -> bool:
        """Whether ``account`` can write (replies, DMs) and read its DMs."""
        return self.oauth1(account) is not None or bool(self.oauth2_user(account))


def twitter_settings(settings: Settings) -> TwitterSettings:
    """The Twitter/X channel's settings out of the root ``settings`` (validated)."""
    return settings.channel_settings(CHANNEL, TwitterSettings)


def own_identities(settings: Settings) -> list[str]:
    """Every configured account's handle (``@handle``): the brand's own on X.

    Handles, not user ids: a bare number would read as a phone number to the CRM. The parsers
    also mark the account's own tweets and DMs outbound by user id where the payload says whom
    it was fetched for (``for_user_id``).
    """
    return list(dict.fromkeys(f"@{account.handle}" for account in twitter_settings(settings).accounts))
