"""The deliverer against a real local receiver, on SQLite and PostgreSQL: signed deliveries
verified by the ``standardwebhooks`` package, filters, retries with backoff and Retry-After,
giving up after the retry window, disabling after repeated failures, and restarts."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from crm import CRMStore, NotFound
from crm.schema import webhook_subscriptions
from outbound.webhooks import WebhookDeliverer
from tests.outbound.webhooks.conftest import FAST, deliver_until
from tests.outbound.webhooks.receiver import receiving


def subscribe(store: CRMStore, url: str, types: list[str] | None = None) -> tuple[str, str]:
    created = store.outbound_webhooks.create(url=url, event_types=types, start_after=store.events.last_id())
    return created.id, created.secret


def _states(store: CRMStore, sub_id: str) -> list[str]:
    return [d.state for d in store.outbound_webhooks.deliveries(sub_id)]


def test_each_event_is_posted_signed_with_its_id(store: CRMStore) -> None:
    store.events.append("conversation.created", conversation_id="c-0")  # before: not sent
    with receiving() as receiver, WebhookDeliverer(store, FAST) as deliverer:
        sub_id, secret = subscribe(store, receiver.url)
        first = store.events.append("conversation.assigned", conversation_id="c-1", data={"assignee": "a-1"})
        second = store.events.append("sla.breached", conversation_id="c-1", data={"target": "first_response"})
        deliver_until(deliverer, lambda: len(receiver.requests) == 2)
        # sent concurrently: no order between them is promised
        requests = sorted(receiver.requests, key=lambda r: int(r.headers["webhook-id"].removeprefix("evt_")))
        assert [r.headers["webhook-id"] for r in requests] == [f"evt_{first}", f"evt_{second}"]
        for request, event_id in zip(requests, (first, second), strict=True):
            assert request.headers["content-type"] == "application/json"
            payload = Webhook(secret).verify(request.body, request.headers)  # signature and time
            assert payload["data"]["event_id"] == event_id
            assert set(payload) == {"type", "timestamp", "data"}
        body = json.loads(requests[0].body)
        assert body == {
            "type": "conversation.assigned",
            "timestamp": body["timestamp"],
            "data": {"event_id": first, "conversation_id": "c-1", "assignee": "a-1"},
        }
        log = store.outbound_webhooks.deliveries(sub_id)
        assert [(d.message_id, d.state, d.attempts, d.last_status) for d in log] == [
            (f"evt_{second}", "delivered", 1, 200),
            (f"evt_{first}", "delivered", 1, 200),
        ]
        assert log[0].last_response == "ok" and log[0].next_attempt_at is None


def test_a_subscription_gets_only_the_types_it_asked_for(store: CRMStore) -> None:
    with receiving() as receiver, WebhookDeliverer(store, FAST) as deliverer:
        subscribe(store, receiver.url, ["conversation.*", "alert.fired"])
        store.events.append("reply.sent", conversation_id="c-1", data={"reply_id": "r-1"})
        wanted = [
            store.events.append("conversation.assigned", conversation_id="c-1"),
            store.events.append("alert.fired", data={"monitor_id": "m-1"}),
        ]
        store.events.append("contact.merged", contact_id="k-1")
        deliverer.run_once()
        assert sorted(receiver.ids()) == sorted(f"evt_{i}" for i in wanted)


def test_failures_are_retried_with_the_same_id_until_the_receiver_takes_it(store: CRMStore) -> None:
    with receiving() as receiver, WebhookDeliverer(store, FAST) as deliverer:
        sub_id, secret = subscribe(store, receiver.url)
        receiver.script = [(500, {}), (503, {"Retry-After": "0"}), (429, {})]
        event = store.events.append("reply.failed", conversation_id="c-1", data={"reason": "x"})
        deliver_until(deliverer, lambda: bool(receiver.delivered_ids()))
        assert receiver.ids() == [f"evt_{event}"] * 4
        assert [r.status for r in receiver.requests] == [500, 503, 429, 200]
        for request in receiver.requests:  # every attempt signed afresh, all verify
            Webhook(secret).verify(request.body, request.headers)
        assert len({r.body for r in receiver.requests}) == 1  # the same body each time
        [delivery] = store.outbound_webhooks.deliveries(sub_id)
        assert (delivery.state, delivery.attempts, delivery.last_status) == ("delivered", 4, 200)
        assert store.outbound_webhooks.get(sub_id).consecutive_failures == 0


def test_retry_after_is_honoured_for_the_delivery_and_the_subscription(store: CRMStore) -> None:
    settings = FAST.model_copy(update={"backoff_max_s": 3600.0})
    with receiving() as receiver, WebhookDeliverer(store, settings) as deliverer:
        sub_id, _ = subscribe(store, receiver.url)
        receiver.script = [(503, {"Retry-After": "120"})]
        store.events.append("conversation.assigned", conversation_id="c-1")
        deliverer.run_once()
        deliverer.run_once()
        assert len(receiver.requests) == 1  # not before the receiver asked
        [delivery] = store.outbound_webhooks.deliveries(sub_id)
        assert delivery.next_attempt_at and delivery.last_attempt_at
        waited = (delivery.next_attempt_at - delivery.last_attempt_at).total_seconds()
        assert 119 <= waited <= 121
        paused = store.outbound_webhooks.get(sub_id).paused_until
        assert paused is not None and 119 <= (paused - delivery.last_attempt_at).total_seconds() <= 121


def test_network_errors_and_timeouts_are_failures_too(store: CRMStore) -> None:
    settings = FAST.model_copy(update={"timeout_s": 0.3})
    with receiving() as receiver, WebhookDeliverer(store, settings) as deliverer:
        sub_id, _ = subscribe(store, receiver.url)
        receiver.delay_s = 1.0
        store.events.append("conversation.assigned", conversation_id="c-1")
        deliverer.run_once()
        [delivery] = store.outbound_webhooks.deliveries(sub_id)
        assert delivery.state == "pending" and delivery.attempts == 1
        assert delivery.last_status is None and "no answer within 0.3s" in (delivery.last_error or "")
    # the receiver is gone: connection refused
    store.outbound_webhooks.update(sub_id, {"url": receiver.url})
    with WebhookDeliverer(store, FAST) as deliverer:
        deliver_until(
            deliverer, lambda: store.outbound_webhooks.deliveries(sub_id)[0].attempts >= 2
        )  # queued above
    assert "ConnectError" in (store.outbound_webhooks.deliveries(sub_id)[0].last_error or "")


def test_a_delivery_is_given_up_after_the_retry_window(store: CRMStore) -> None:
    settings = FAST.model_copy(update={"retry_for_s": 0.5})
    with receiving() as receiver, WebhookDeliverer(store, settings) as deliverer:
        receiver.default = 502
        sub_id, _ = subscribe(store, receiver.url)
        store.events.append("conversation.assigned", conversation_id="c-1")
        deliver_until(deliverer, lambda: _states(store, sub_id) == ["failed"])
        [delivery] = store.outbound_webhooks.deliveries(sub_id)
        assert delivery.attempts >= 2 and delivery.last_error == "HTTP 502" and delivery.finished_at
        attempts = len(receiver.requests)
        deliverer.run_once()
        time.sleep(0.3)
        deliverer.run_once()
        assert len(receiver.requests) == attempts  # never again


def test_repeated_failures_disable_the_subscription_until_re_enabled(store: CRMStore) -> None:
    settings = FAST.model_copy(update={"disable_after_failures": 3})
    with receiving() as receiver, WebhookDeliverer(store, settings) as deliverer:
        receiver.default = 500
        sub_id, _ = subscribe(store, receiver.url)
        for n in range(5):
            store.events.append("conversation.assigned", conversation_id=f"c-{n}")
        deliver_until(deliverer, lambda: not store.outbound_webhooks.get(sub_id).enabled)
        sub = store.outbound_webhooks.get(sub_id)
        # the first batch went out at once: the attempts in flight when it was disabled count too
        assert sub.consecutive_failures >= 3 and sub.disabled_at is not None
        assert sub.disabled_reason == "disabled after 3 failed attempts in a row; the last: HTTP 500"
        assert deliverer.stats.disabled == 1
        # disabled: nothing is sent, new events are not queued
        sent = len(receiver.requests)
        late = store.events.append("conversation.assigned", conversation_id="c-late")
        time.sleep(0.3)
        deliverer.run_once()
        assert len(receiver.requests) == sent
        assert all(d.message_id != f"evt_{late}" for d in store.outbound_webhooks.deliveries(sub_id))
        # the receiver is fixed and an admin re-enables: everything pending and missed arrives
        receiver.default = 200
        store.outbound_webhooks.enable(sub_id)
        deliver_until(deliverer, lambda: len(set(receiver.delivered_ids())) == 6)
        assert store.outbound_webhooks.get(sub_id).enabled
        assert sorted(set(receiver.delivered_ids())) == sorted(receiver.delivered_ids())  # each once


def test_re_enabling_can_skip_what_was_missed(store: CRMStore) -> None:
    with receiving() as receiver, WebhookDeliverer(store, FAST) as deliverer:
        sub_id, _ = subscribe(store, receiver.url)
        store.outbound_webhooks.disable(sub_id, "maintenance")
        store.events.append("conversation.assigned", conversation_id="c-missed")
        store.outbound_webhooks.enable(sub_id, skip_to=store.events.last_id())
        after = store.events.append("conversation.assigned", conversation_id="c-after")
        deliverer.run_once()
        assert receiver.ids() == [f"evt_{after}"]


def test_a_restart_neither_loses_nor_resends(store: CRMStore) -> None:
    with receiving() as receiver:
        subscribe(store, receiver.url)
        before = [store.events.append("message.created", conversation_id=f"c-{n}") for n in range(3)]
        with WebhookDeliverer(store, FAST) as first:
            first.run_once()
        after = [store.events.append("message.created", conversation_id=f"c-{n}") for n in range(3, 5)]
        with WebhookDeliverer(store, FAST) as second:
            second.run_once()
            second.run_once()
        assert sorted(receiver.ids()) == sorted(f"evt_{i}" for i in before + after)


def test_a_claimed_delivery_is_not_handed_out_twice_until_its_lease_ends(store: CRMStore) -> None:
    with receiving() as receiver:
        subscribe(store, receiver.url)
        store.events.append("conversation.assigned", conversation_id="c-1")
        with WebhookDeliverer(store, FAST) as deliverer:
            deliverer.queue()
        outbound = store.outbound_webhooks
        [claim] = outbound.claim(limit=10, lease_s=0.3)  # a deliverer that then dies mid-send
        assert outbound.claim(limit=10, lease_s=0.3) == []
        time.sleep(0.4)
        [again] = outbound.claim(limit=10, lease_s=30)  # at least once: due again after the lease
        assert again.message_id == claim.message_id


def test_concurrent_deliverers_send_each_event_once(store: CRMStore) -> None:
    with receiving() as receiver:
        subscribe(store, receiver.url)
        subscribe(store, receiver.url.replace("/hook", "/other"))
        events = [store.events.append("message.created", conversation_id=f"c-{n}") for n in range(40)]
        deliverers = [WebhookDeliverer(store, FAST, concurrency=2) for _ in range(3)]
        threads = [threading.Thread(target=d.run_once) for d in deliverers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for deliverer in deliverers:
            deliver_until(deliverer, lambda: len(receiver.requests) >= 80)
            deliverer.close()
        per_path = {
            path: sorted(r.headers["webhook-id"] for r in receiver.requests if r.path == path)
            for path in ("/hook", "/other")
        }
        expected = sorted(f"evt_{i}" for i in events)
        assert per_path == {"/hook": expected, "/other": expected}


def test_a_test_message_is_sent_once_and_failures_do_not_count(store: CRMStore) -> None:
    with receiving() as receiver, WebhookDeliverer(store, FAST) as deliverer:
        sub_id, secret = subscribe(store, receiver.url)
        store.outbound_webhooks.disable(sub_id, "not yet")
        ok = store.outbound_webhooks.queue_test(sub_id)
        deliverer.run_once()
        assert store.outbound_webhooks.delivery(sub_id, ok.id).state == "delivered"
        payload = Webhook(secret).verify(receiver.requests[0].body, receiver.requests[0].headers)
        assert payload["type"] == "webhook.test" and payload["data"] == {"subscription_id": sub_id}
        receiver.default = 500
        bad = store.outbound_webhooks.queue_test(sub_id)
        deliverer.run_once()
        time.sleep(0.3)
        deliverer.run_once()
        failed = store.outbound_webhooks.delivery(sub_id, bad.id)
        assert (failed.state, failed.attempts, failed.last_status) == ("failed", 1, 500)
        assert store.outbound_webhooks.get(sub_id).consecutive_failures == 0
        assert len(receiver.requests) == 2


@pytest.mark.parametrize("status", [301, 404])
def test_redirects_are_not_followed_and_4xx_are_retried(store: CRMStore, status: int) -> None:
    with receiving() as receiver, WebhookDeliverer(store, FAST) as deliverer:
        subscribe(store, receiver.url)
        receiver.script = [(status, {"Location": "http://169.254.169.254/"})]
        store.events.append("conversation.assigned", conversation_id="c-1")
        deliver_until(deliverer, lambda: bool(receiver.delivered_ids()))
        assert [r.status for r in receiver.requests] == [status, 200]
        assert {r.path for r in receiver.requests} == {"/hook"}


def test_a_rotated_secret_signs_beside_the_new_one_until_its_time(store: CRMStore) -> None:
    with receiving() as receiver, WebhookDeliverer(store, FAST) as deliverer:
        sub_id, old = subscribe(store, receiver.url)
        rotated = store.outbound_webhooks.rotate_secret(sub_id, timedelta(hours=1))
        assert rotated.secret != old and rotated.secret.startswith("whsec_")
        store.events.append("conversation.created", conversation_id="c-1")
        deliver_until(deliverer, lambda: len(receiver.requests) == 1)
        request = receiver.requests[0]
        assert len(request.headers["webhook-signature"].split(" ")) == 2
        for secret in (old, rotated.secret):  # receivers not yet switched keep accepting
            Webhook(secret).verify(request.body, request.headers)

        # rotated again without keeping the previous one: only the newest secret signs
        newest = store.outbound_webhooks.rotate_secret(sub_id, timedelta(0))
        store.events.append("conversation.created", conversation_id="c-2")
        deliver_until(deliverer, lambda: len(receiver.requests) == 2)
        request = receiver.requests[1]
        assert len(request.headers["webhook-signature"].split(" ")) == 1
        Webhook(newest.secret).verify(request.body, request.headers)
        for stale in (old, rotated.secret):
            with pytest.raises(WebhookVerificationError):
                Webhook(stale).verify(request.body, request.headers)

        # a kept secret stops signing when its time is up
        store.outbound_webhooks.rotate_secret(sub_id, timedelta(hours=1))
        with store.engine.begin() as conn:
            conn.execute(
                update(webhook_subscriptions)
                .where(webhook_subscriptions.c.id == sub_id)
                .values(previous_secret_until=datetime.now(UTC) - timedelta(seconds=1))
            )
        store.events.append("conversation.created", conversation_id="c-3")
        deliver_until(deliverer, lambda: len(receiver.requests) == 3)
        assert len(receiver.requests[2].headers["webhook-signature"].split(" ")) == 1
    with pytest.raises(NotFound):
        store.outbound_webhooks.rotate_secret("whk_missing", timedelta(hours=1))
