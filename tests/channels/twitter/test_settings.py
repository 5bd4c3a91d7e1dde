"""The Twitter/X channel's settings: accounts, credentials, the brand's own handles."""

from __future__ import annotations

import json

import pytest

from channels import CHANNELS, configure
from channels.twitter.settings import TwitterSettings, XAccount
from flows.ingest import parse_item
from hub.errors import FatalError
from hub.models import Direction, Message
from hub.settings import Settings
from tests.channels.twitter.conftest import T1, envelope, twitter_table, with_twitter


def test_the_descriptor_is_in_channels() -> None:
    twitter = CHANNELS["twitter"]
    assert twitter.webhook is not None and twitter.replier is not None and twitter.sources is not None
    assert twitter.threading(Settings(demo=False)).subject_window is None  # reply links only
    assert set(twitter.parsers) == {
        "x.v2.tweet_page",
        "x.v2.stream_line",
        "x.v2.dm_events",
        "x.aaa.event",
        "x.v1.tweet",
    }


def test_the_accounts_handles_are_the_brands_own(settings: Settings) -> None:
    hub = configure(
        with_twitter(
            settings,
            twitter_table(
                accounts=[
                    {"name": "brand", "handle": "@AcmeHelp", "user_id": "4000000001"},
                    {"name": "deals", "handle": "AcmeDeals", "mentions": False, "direct_messages": False},
                ]
            ),
        )
    )
    assert hub.brand.identities["twitter"] == ["@AcmeHelp", "@AcmeDeals"]
    assert hub.own_addresses() == []  # handles never read as phone numbers
    # a tweet by the brand's handle is outbound, whatever payload it came in
    parsed = parse_item(envelope("v1_tweet__extended_reply"), own=hub.own_identities())
    parsed += parse_item(envelope("tweet_page__mentions"), own=hub.own_identities())
    messages = {m.native_id: m for m in parsed if isinstance(m, Message)}
    assert messages["1800000000000000501"].direction is Direction.OUT
    assert messages[T1].direction is Direction.IN


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "PARLEY_TWITTER__ACCOUNTS", json.dumps([{"handle": "AcmeHelp", "user_id": "4000000001"}])
    )
    monkeypatch.setenv("PARLEY_TWITTER__BEARER_TOKEN", "from-env")
    config = CHANNELS["twitter"].settings_of(configure(Settings(demo=False)))
    assert config.accounts[0].name == "brand" and config.bearer_token.get_secret_value() == "from-env"
    assert "from-env" not in repr(config)


@pytest.mark.parametrize(
    ("account", "reason"),
    [
        ({"handle": "AcmeHelp"}, "needs its numeric user_id"),
        ({"handle": "AcmeHelp", "user_id": "@AcmeHelp"}, "must be the numeric X user id"),
        ({"handle": "AcmeHelp", "user_id": "1", "polling": True}, "Extra inputs"),
    ],
)
def test_mistakes_stop_the_start_with_what_to_fix(
    settings: Settings, account: dict[str, object], reason: str
) -> None:
    with pytest.raises(FatalError, match=reason):
        configure(with_twitter(settings, {"accounts": [account]}))


def test_account_tokens_win_over_the_channel_wide_ones() -> None:
    config = TwitterSettings.model_validate(twitter_table())
    own = XAccount(handle="Other", user_id="5", access_token="own-token", access_token_secret="own-secret")
    assert config.oauth1(own) == ("consumer-key", "consumer-secret-for-tests", "own-token", "own-secret")
    bare = TwitterSettings(accounts=[own])
    assert bare.oauth1(own) is None and not bare.has_user_context(own)
    oauth2 = XAccount(handle="Other", user_id="5", oauth2_user_token="user-token")
    assert bare.oauth2_user(oauth2) == "user-token" and bare.has_user_context(oauth2)
