"""The X replier against the local X server, through the real ``tweepy.Client``."""

from __future__ import annotations

import time

import pytest

from channels.twitter.replier import MAX_WEIGHTED_LENGTH, XReplier, replier_for, tweet_text, weighted_length
from hub.errors import FatalError, InvalidInput, RetriableError, SkippableError
from hub.models import Direction, Identity, Message, Reply
from hub.settings import Settings
from tests.channels.twitter.conftest import ANN_ID, BRAND_ID, T1, twitter_table, with_twitter
from tests.channels.twitter.xserver import Answer, Call, Scripted, XServer, page, rate_limited, unavailable

ANN = Identity(channel="twitter", native_id=ANN_ID, handle="ann_example", display_name="Ann Example")
MENTION = Message(
    channel="twitter",
    account="brand",
    native_id=T1,
    author=ANN,
    text="@AcmeHelp my kettle broke",
    thread_key=T1,
    conversation_id="cnv_1",
)
DM = Message(
    channel="twitter",
    account="brand",
    native_id="dm:1800000000000000302",
    author=ANN,
    text="My order number is A-1234",
    thread_key=f"dm:{BRAND_ID}-{ANN_ID}",
    flags=["dm"],
    metadata={"dm_conversation_id": f"{BRAND_ID}-{ANN_ID}"},
    conversation_id="cnv_2",
)


def reply(text: str, parent: Message = MENTION, reply_id: str = "r1") -> Reply:
    return Reply(
        id=reply_id,
        conversation_id=parent.conversation_id or "",
        channel="twitter",
        account="brand",
        in_reply_to=parent,
        text=text,
        author="agent@acme",
    )


class Timeline:
    """POST /2/tweets makes a tweet and remembers it in the brand's timeline."""

    def __init__(self, server: XServer) -> None:
        self.tweets: list[dict[str, object]] = []
        self.next_id = 1800000000000009000
        server.handle("POST", "/2/tweets", self.create)
        server.handle("GET", f"/2/users/{BRAND_ID}/tweets", self.timeline)

    def create(self, call: Call) -> Answer:
        self.next_id += 1
        tweet = {
            "id": str(self.next_id),
            "text": call.body["text"],
            "edit_history_tweet_ids": [str(self.next_id)],
        }
        parent = (call.body.get("reply") or {}).get("in_reply_to_tweet_id")
        if parent:
            tweet["referenced_tweets"] = [{"type": "replied_to", "id": parent}]
        self.tweets.insert(0, tweet)
        return Answer(
            201, {"data": {"id": tweet["id"], "text": tweet["text"], "edit_history_tweet_ids": [tweet["id"]]}}
        )

    def timeline(self, call: Call) -> Answer:
        since = int(call.query.get("since_id", "0"))
        return page([t for t in self.tweets if int(str(t["id"])) > since])


@pytest.fixture
def replier(x_settings: Settings) -> XReplier:
    return replier_for(x_settings, "brand")


def test_a_public_reply_answers_the_tweet_with_the_author_mentioned(
    x_server: XServer, replier: XReplier
) -> None:
    Timeline(x_server)
    delivery = replier.send_now(reply("Sorry to hear that! Please DM us your order number."))
    [posted] = x_server.calls_to("POST", "/2/tweets")
    assert posted.body == {
        "text": "@ann_example Sorry to hear that! Please DM us your order number.",
        "reply": {"in_reply_to_tweet_id": T1},
    }
    assert posted.headers["authorization"].startswith("OAuth ")  # user context (OAuth 1.0a)
    assert 'oauth_consumer_key="consumer-key"' in posted.headers["authorization"]
    assert delivery.status == "sent" and delivery.native_id == "1800000000000009001"
    outbound = delivery.message
    assert outbound is not None
    assert (outbound.native_id, outbound.direction, outbound.reply_to, outbound.thread_key) == (
        "1800000000000009001",
        Direction.OUT,
        T1,
        T1,
    )
    assert outbound.conversation_id == "cnv_1" and outbound.account == "brand"
    assert outbound.author is not None and (outbound.author.native_id, outbound.author.handle) == (
        BRAND_ID,
        "AcmeHelp",
    )
    assert outbound.recipients == [ANN] and outbound.metadata == {"reply_id": "r1", "agent": "agent@acme"}


async def test_send_runs_off_the_event_loop(x_server: XServer, replier: XReplier) -> None:
    Timeline(x_server)
    delivery = await replier.send(reply("On it!"))
    assert delivery.native_id == "1800000000000009001"


def test_the_mention_is_not_doubled_and_not_added_to_our_own_tweet() -> None:
    assert tweet_text(reply("@ANN_example thanks!")) == "@ANN_example thanks!"
    assert tweet_text(reply("@bob @ann_example thanks both")) == "@bob @ann_example thanks both"
    ours = MENTION.model_copy(update={"direction": Direction.OUT})
    assert tweet_text(reply("Update: fixed.", parent=ours)) == "Update: fixed."


def test_the_weighted_length_is_checked_before_sending(x_server: XServer, replier: XReplier) -> None:
    url = "https://shop.acme.com/" + "very-long-path/" * 20  # a real TLD: twitter-text checks them
    fits = "x" * (MAX_WEIGHTED_LENGTH - len("@ann_example ") - 24) + " " + url  # a URL counts 23
    assert weighted_length(tweet_text(reply(fits))) == MAX_WEIGHTED_LENGTH
    with pytest.raises(InvalidInput, match="the limit is 280: shorten it by 1") as too_long:
        tweet_text(reply(fits + "!"))
    assert too_long.value.position is not None
    with pytest.raises(InvalidInput, match="shorten it by"):
        tweet_text(reply("日本語" * 47))  # CJK counts 2
    with pytest.raises(SkippableError, match="cannot go out on X"):
        replier.send_now(reply("y" * 300))
    assert x_server.calls_to("POST", "/2/tweets") == []  # nothing reached X


def test_a_dm_is_answered_in_its_conversation(x_server: XServer, replier: XReplier) -> None:
    conversation = f"{BRAND_ID}-{ANN_ID}"
    path = f"/2/dm_conversations/{conversation}/messages"
    x_server.script(
        "POST",
        path,
        Answer(201, {"data": {"dm_conversation_id": conversation, "dm_event_id": "1800000000000009500"}}),
    )
    delivery = replier.send_now(reply("Thanks, a replacement ships today.", parent=DM))
    [posted] = x_server.calls_to("POST", path)
    assert posted.body == {"text": "Thanks, a replacement ships today."}  # no @mention in a DM
    assert delivery.native_id == "dm:1800000000000009500"
    assert delivery.message is not None
    assert delivery.message.thread_key == f"dm:{conversation}" and delivery.message.flags == ["dm"]
    assert delivery.message.reply_to is None


@pytest.mark.parametrize(
    ("answer", "error", "reason"),
    [
        (rate_limited(30), RetriableError, "rate limited"),
        (unavailable(), RetriableError, "unavailable"),
        (
            Answer(403, {"title": "Forbidden", "detail": "You are not permitted to reply", "status": 403}),
            SkippableError,
            "refused",
        ),
        (
            Answer(
                400, {"errors": [{"message": "Invalid in_reply_to_tweet_id"}], "title": "Invalid Request"}
            ),
            SkippableError,
            "Invalid",
        ),
        (
            Answer(401, {"title": "Unauthorized", "detail": "Unauthorized", "status": 401}),
            FatalError,
            "credentials",
        ),
    ],
)
def test_failures_are_translated(
    x_server: XServer, replier: XReplier, answer: Scripted, error: type[Exception], reason: str
) -> None:
    x_server.script("POST", "/2/tweets", answer)
    with pytest.raises(error, match=reason) as caught:
        replier.send_now(reply("hello"))
    if reason == "rate limited":
        assert isinstance(caught.value, RetriableError) and caught.value.retry_after is not None
        assert 25 <= caught.value.retry_after <= 31  # until x-rate-limit-reset


def test_a_reply_in_doubt_is_settled_by_finding_it_on_x(x_server: XServer, replier: XReplier) -> None:
    timeline = Timeline(x_server)
    assert replier.settle(reply("Sorry! DM us please.")) is None  # never posted: safe to send
    sent = replier.send_now(reply("Sorry! DM us please."))
    # the process died before recording it: settling finds it instead of posting it again
    settled = replier.settle(reply("Sorry! DM us please."))
    assert settled is not None and settled.native_id == sent.native_id
    assert len(timeline.tweets) == 1
    [lookup, *_] = x_server.calls_to("GET", f"/2/users/{BRAND_ID}/tweets")
    assert lookup.query["since_id"] == T1 and lookup.headers["authorization"] == "Bearer app-bearer-token"
    assert replier.find_our_reply(T1, "a different text") is None


def test_x_refusing_a_duplicate_settles_to_the_reply_already_there(
    x_server: XServer, replier: XReplier
) -> None:
    timeline = Timeline(x_server)
    first = replier.send_now(reply("We are on it."))
    duplicate = {
        "detail": "You are not allowed to create a Tweet with duplicate content.",
        "title": "Forbidden",
        "status": 403,
    }
    x_server.script("POST", "/2/tweets", Answer(403, duplicate))
    again = replier.send_now(reply("We are on it."))
    assert again.native_id == first.native_id and len(timeline.tweets) == 1


def test_a_dm_in_doubt_is_found_in_its_conversation(x_server: XServer, replier: XReplier) -> None:
    conversation = f"{BRAND_ID}-{ANN_ID}"
    events = [
        {"id": "1800000000000009501", "text": "Thanks, a replacement ships today.", "sender_id": BRAND_ID},
        {"id": "1800000000000000302", "text": "My order number is A-1234", "sender_id": ANN_ID},
    ]
    x_server.script("GET", f"/2/dm_conversations/{conversation}/dm_events", page(events))
    settled = replier.settle(reply("Thanks, a replacement ships today.", parent=DM))
    assert settled is not None and settled.native_id == "dm:1800000000000009501"


def test_without_write_credentials_the_replier_refuses_with_advice(settings: Settings) -> None:
    reads_only = with_twitter(settings, twitter_table(consumer_key="", access_token=""))
    with pytest.raises(FatalError, match="oauth2_user_token"):
        replier_for(reads_only, "brand")
    with pytest.raises(SkippableError, match="no X account named 'import'"):
        replier_for(reads_only, "import")


def test_an_oauth2_user_token_writes_as_bearer(settings: Settings, x_server: XServer) -> None:
    table = twitter_table(x_server.base_url, consumer_key="", oauth2_user_token="user-token-2")
    Timeline(x_server)
    replier_for(with_twitter(settings, table), "brand").send_now(reply("hi"))
    [posted] = x_server.calls_to("POST", "/2/tweets")
    assert posted.headers["authorization"] == "Bearer user-token-2"


def test_a_slow_x_is_a_timeout_not_a_hang(settings: Settings, x_server: XServer) -> None:
    x_server.script("POST", "/2/tweets", Answer(201, {"data": {"id": "1"}}, delay_s=1.5))
    slow = replier_for(with_twitter(settings, twitter_table(x_server.base_url, timeout_s=0.3)), "brand")
    started = time.monotonic()
    with pytest.raises(RetriableError, match="Timeout"):
        slow.send_now(reply("hello"))
    assert time.monotonic() - started < 1.4
