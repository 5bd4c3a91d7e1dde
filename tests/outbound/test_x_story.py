"""The Twitter/X story through the API, against the local X server with the real tweepy client:
a mention becomes a conversation (the real flow) → an agent replies with
``POST /conversations/{id}/replies`` → the dispatcher posts it as a reply to the tweet (a 429
first: it waits for the rate limit's reset, as X asked) → ``delivered`` with the tweet id, in the
conversation → the customer's answer threads back. A reply in doubt (its dispatcher died after
posting) is settled from the account's timeline instead of being posted twice; one X never got
is posted again."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from bytewax.testing import run_main

from api.app import create_app
from channels.twitter.settings import twitter_settings
from channels.twitter.source import XSource
from flows.ingest import build_flow
from hub.models import message_id
from hub.settings import Settings
from outbound.dispatcher import Dispatcher
from tests.api.callers import add_agent, bearer
from tests.api.conftest import BASE_URL
from tests.channels.twitter.conftest import ANN_ID, BRAND_ID, T1, load
from tests.channels.twitter.xserver import Answer, Call, XServer, page, rate_limited

MENTIONS = f"/2/users/{BRAND_ID}/mentions"
TIMELINE = f"/2/users/{BRAND_ID}/tweets"
OUR_TWEET = "1800000000000000901"


def poll(settings: Settings) -> None:
    run_main(build_flow(settings, [("twitter_in", XSource(twitter_settings(settings), once=True))]))


@pytest.fixture
async def x_hub(x_settings: Settings, x_server: XServer) -> AsyncIterator[dict[str, Any]]:
    x_settings.enrichment.ner = False
    x_settings.outbox.poll_s = 0.05
    x_server.script("GET", MENTIONS, Answer(200, load("tweet_page__mentions")))
    poll(x_settings)
    app = create_app(x_settings)
    agent, token = add_agent(app, "agent")
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=BASE_URL, headers=bearer(token)
    )
    mention = app.state.kb.get_message(message_id("twitter", T1))
    assert mention is not None and mention.conversation_id
    try:
        yield {"app": app, "client": client, "agent": agent, "conversation": mention.conversation_id}
    finally:
        await client.aclose()
        app.state.kb.close()
        app.state.crm.close()


def posting(x_server: XServer) -> list[Call]:
    posted: list[Call] = []

    def create(call: Call) -> Answer:
        posted.append(call)
        return Answer(201, {"data": {"id": OUR_TWEET, "text": call.body["text"]}})

    x_server.handle("POST", "/2/tweets", create)
    return posted


async def test_reply_on_x_through_the_api(
    x_hub: dict[str, Any], x_server: XServer, x_settings: Settings
) -> None:
    app, client, conversation = x_hub["app"], x_hub["client"], x_hub["conversation"]
    posted = posting(x_server)
    x_server.script("POST", "/2/tweets", rate_limited(1.0))
    text = "So sorry Ann! Please DM us your order number."
    answer = await client.post(
        f"/conversations/{conversation}/replies",
        json={"text": text, "in_reply_to": message_id("twitter", T1)},
    )
    assert answer.status_code == 202, answer.text
    dispatcher = Dispatcher(x_settings, app.state.crm, app.state.kb, senders=1)
    await dispatcher.run(until_idle=True)
    assert dispatcher.report.retried == 1 and dispatcher.report.sent == 1
    (request,) = posted
    assert request.body["reply"] == {"in_reply_to_tweet_id": T1}
    assert request.body["text"] == f"@ann_example {text}"
    limited, accepted = x_server.calls_to("POST", "/2/tweets")
    assert accepted.at - limited.at >= 0.5  # waited for the reset X named, not the backoff's 5 s

    detail = (await client.get(f"/conversations/{conversation}")).json()
    (reply,) = detail["replies"]
    assert reply["state"] == "delivered" and reply["platform_id"] == OUR_TWEET and reply["attempts"] == 2
    ours = [m for m in detail["messages"] if m["direction"] == "out" and m["native_id"] == OUR_TWEET]
    assert len(ours) == 1 and ours[0]["metadata"]["sent_by"] == x_hub["agent"].id
    assert ours[0]["author"]["handle"] == "AcmeHelp"
    events = [e.type for e in app.state.crm.events.read(types=["reply.sent", "reply.delivered"])]
    assert events == ["reply.sent", "reply.delivered"]

    # Ann answers our tweet: the next poll threads it into the same conversation
    users = load("tweet_page__mentions")["includes"]["users"]
    their = {
        "id": "1800000000000000902",
        "text": "@AcmeHelp done, thanks",
        "author_id": ANN_ID,
        "conversation_id": T1,
        "referenced_tweets": [{"type": "replied_to", "id": OUR_TWEET}],
        "created_at": "2026-11-20T10:30:00.000Z",
    }
    x_server.script("GET", MENTIONS, page([their], includes={"users": users}))
    poll(x_settings)
    stored = app.state.kb.get_message(message_id("twitter", "1800000000000000902"))
    assert stored is not None and stored.conversation_id == conversation


async def test_replies_in_doubt_on_x_are_settled_from_the_timeline(
    x_hub: dict[str, Any], x_server: XServer, x_settings: Settings
) -> None:
    app, client, conversation = x_hub["app"], x_hub["client"], x_hub["conversation"]
    posted = posting(x_server)
    url = f"/conversations/{conversation}/replies"
    target = message_id("twitter", T1)
    on_x = (
        await client.post(url, json={"text": "Already posted before the crash.", "in_reply_to": target})
    ).json()
    never = (await client.post(url, json={"text": "Never reached X.", "in_reply_to": target})).json()
    outbox = app.state.crm.outbox
    for _ in (on_x, never):  # a dispatcher took both, passed their point of no return, died
        claimed = outbox.claim("dead-run", timedelta(minutes=5))
        assert claimed is not None and outbox.mark_handed_over(claimed.id, "dead-run")
    # X has the first one in the account's timeline, replying to T1
    tweet = {
        "id": "1800000000000000950",
        "text": "@ann_example Already posted before the crash.",
        "referenced_tweets": [{"type": "replied_to", "id": T1}],
    }
    # the same timeline whichever reply in doubt asks first (the dispatcher's order is its own)
    x_server.handle("GET", TIMELINE, lambda call: page([tweet]))
    dispatcher = Dispatcher(x_settings, app.state.crm, app.state.kb, senders=1)
    await dispatcher.run(until_idle=True)
    assert dispatcher.report.settled == 2 and dispatcher.report.requeued == 1
    settled, posted_again = outbox.get(on_x["id"]), outbox.get(never["id"])
    assert (
        settled is not None and settled.state == "delivered" and settled.platform_id == "1800000000000000950"
    )
    assert (
        posted_again is not None
        and posted_again.state == "delivered"
        and posted_again.platform_id == OUR_TWEET
    )
    assert [c.body["text"] for c in posted] == ["@ann_example Never reached X."]  # nothing posted twice
