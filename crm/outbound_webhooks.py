"""Outbound webhook subscriptions and their delivery log (tables of migration 0009).

A *subscription* is a URL, the event types it wants (``None`` = all; ``conversation.*`` names a
family) and a secret in the Standard Webhooks form, ``whsec_<base64 of 32 random bytes>``,
shown once when the subscription is created. The hub signs every delivery with it, so it is
stored as it is, not as a digest the way credentials are: a digest cannot sign. The trade-off:
whoever can read the CRM database can forge deliveries to this subscription's receiver, so the
database is guarded like the channels' own secrets (README, "Outbound webhooks"); the secret
never leaves the store through a view, the audit log or a log line.

What the store promises the deliverer (``outbound.webhooks``):

* :meth:`OutboundWebhookStore.queue_events` queues one *delivery* per (subscription, event)
  and moves each subscription's ``cursor`` past the events in the same transaction, so a crash
  loses no event and queues none twice (``(subscription_id, message_id)`` is unique too);
* :meth:`~OutboundWebhookStore.claim` hands out due deliveries and pushes their next attempt a
  *lease* ahead, so two deliverers never send one delivery at once and a deliverer that died
  mid-send leaves it due again once the lease ends (at least once: receivers dedupe by
  ``webhook-id``); a delivered row is never handed out again;
* a subscription is disabled (with the reason) after ``disable_after`` failed attempts in a row,
  or at once when its URL is refused at delivery time; disabled subscriptions queue nothing and
  send nothing (their cursor stays, so re-enabling resumes where they stopped, unless asked to
  skip what was missed); test messages are sent whatever the state, once.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, and_, bindparam, case, delete, func, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from crm.engine import write
from crm.errors import InvalidRequest, NotFound
from crm.ids import clean_text
from crm.schema import webhook_deliveries, webhook_subscriptions
from crm.webhook_values import (
    MAX_TEXT,
    Claim,
    CreatedSubscription,
    DeliveryState,
    DeliveryView,
    EventRecord,
    SubscriptionView,
    check_event_types,
    claim_of,
    delivery_of,
    json_text,
    new_secret,
    subscription_of,
    type_matches,
    utc_text,
    webhook_body,
)
from hub.models import utcnow

__all__ = [
    "Claim",
    "CreatedSubscription",
    "DeliveryState",
    "DeliveryView",
    "EventRecord",
    "OutboundWebhookStore",
    "SubscriptionView",
    "check_event_types",
    "new_secret",
    "type_matches",
    "webhook_body",
]


def _text(value: str | None, what: str) -> str | None:
    if value is None:
        return None
    if len(value) > MAX_TEXT:
        raise InvalidRequest(f"{what} is longer than {MAX_TEXT} characters")
    return clean_text(value.strip()) or None


class OutboundWebhookStore:
    """Subscriptions, their cursors and the delivery log (see the module doc for the contract).

    URLs are stored as given: the SSRF policy that vets them is the caller's (the API checks a
    URL before saving it; the deliverer checks it again on every attempt)."""

    def __init__(self, engine: Engine, writer: Engine) -> None:
        self._engine = engine
        self._writer = writer
        # Claims and their outcomes touch rows by id, each change conditional on the row still
        # being pending; on PostgreSQL they run READ COMMITTED with row locks (FOR UPDATE SKIP
        # LOCKED), the usual queue pattern: SERIALIZABLE would abort concurrent deliverers'
        # claims over the rows they skip. SQLite serialises writers anyway.
        self._deliverer = (
            writer.execution_options(isolation_level="READ COMMITTED")
            if engine.dialect.name == "postgresql"
            else writer
        )

    # --- subscriptions -------------------------------------------------------------------

    def create(
        self,
        *,
        url: str,
        event_types: Sequence[str] | None,
        start_after: int,
        description: str | None = None,
        created_by: str | None = None,
    ) -> CreatedSubscription:
        """A new enabled subscription sent the events after id ``start_after``, with its secret."""
        now = utcnow()
        subscription_id = f"whk_{secrets.token_hex(10)}"
        row = {
            "id": subscription_id,
            "url": url,
            "description": _text(description, "description"),
            "event_types": check_event_types(event_types),
            "secret": new_secret(),
            "enabled": True,
            "disabled_reason": None,
            "disabled_at": None,
            "consecutive_failures": 0,
            "paused_until": None,
            "cursor": max(start_after, 0),
            "created_by": created_by,
            "created_at": now,
            "updated_at": now,
        }
        write(self._writer, lambda conn: conn.execute(insert(webhook_subscriptions).values(row)))
        return CreatedSubscription(**self.get(subscription_id).model_dump(), secret=row["secret"])

    def rotate_secret(self, subscription_id: str, keep_previous: timedelta) -> CreatedSubscription:
        """A new secret for the subscription, returned once; attempts are signed with the old
        one as well for ``keep_previous`` (0: not at all), so a receiver can switch without
        refusing deliveries. Rotating again replaces the old secret with the current one."""
        now, secret = utcnow(), new_secret()
        keep = keep_previous > timedelta(0)
        # SET reads the row as it was: previous_secret takes the secret being replaced
        self._change(
            subscription_id,
            {
                "secret": secret,
                "previous_secret": webhook_subscriptions.c.secret if keep else None,
                "previous_secret_until": now + keep_previous if keep else None,
                "updated_at": now,
            },
        )
        return CreatedSubscription(**self.get(subscription_id).model_dump(), secret=secret)

    def list_all(self) -> list[SubscriptionView]:
        query = select(webhook_subscriptions).order_by(webhook_subscriptions.c.created_at)
        with self._engine.connect() as conn:
            return [subscription_of(row) for row in conn.execute(query).mappings()]

    def get(self, subscription_id: str) -> SubscriptionView:
        """The subscription; ``NotFound`` when there is none."""
        query = select(webhook_subscriptions).where(webhook_subscriptions.c.id == subscription_id)
        with self._engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        if row is None:
            raise NotFound(f"webhook subscription {subscription_id} does not exist")
        return subscription_of(row)

    def update(self, subscription_id: str, changes: Mapping[str, Any]) -> SubscriptionView:
        """Change ``url``, ``event_types`` or ``description`` (only the keys given)."""
        values: dict[str, Any] = {"updated_at": utcnow()}
        if "url" in changes:
            values["url"] = changes["url"]
        if "event_types" in changes:
            values["event_types"] = check_event_types(changes["event_types"])
        if "description" in changes:
            values["description"] = _text(changes["description"], "description")
        self._change(subscription_id, values)
        return self.get(subscription_id)

    def enable(self, subscription_id: str, *, skip_to: int | None = None) -> SubscriptionView:
        """Enable again, failures forgotten; with ``skip_to`` (the log's last id) the events
        missed while disabled are not sent."""
        values: dict[str, Any] = {
            "enabled": True,
            "disabled_reason": None,
            "disabled_at": None,
            "consecutive_failures": 0,
            "paused_until": None,
            "updated_at": utcnow(),
        }
        if skip_to is not None:
            values["cursor"] = _greatest(skip_to)
        self._change(subscription_id, values)
        return self.get(subscription_id)

    def disable(self, subscription_id: str, reason: str) -> SubscriptionView:
        now = utcnow()
        values = {
            "enabled": False,
            "disabled_reason": reason[:MAX_TEXT],
            "disabled_at": now,
            "updated_at": now,
        }
        self._change(subscription_id, values)
        return self.get(subscription_id)

    def delete(self, subscription_id: str) -> None:
        """Delete the subscription and its delivery log; ``NotFound`` when there is none."""

        def work(conn: Connection) -> None:
            conn.execute(
                delete(webhook_deliveries).where(webhook_deliveries.c.subscription_id == subscription_id)
            )
            gone = conn.execute(
                delete(webhook_subscriptions).where(webhook_subscriptions.c.id == subscription_id)
            )
            if gone.rowcount == 0:
                raise NotFound(f"webhook subscription {subscription_id} does not exist")

        write(self._writer, work)

    def _change(self, subscription_id: str, values: Mapping[str, Any]) -> None:
        statement = (
            update(webhook_subscriptions).where(webhook_subscriptions.c.id == subscription_id).values(values)
        )

        def work(conn: Connection) -> None:
            if conn.execute(statement).rowcount == 0:
                raise NotFound(f"webhook subscription {subscription_id} does not exist")

        write(self._writer, work)

    # --- queueing ------------------------------------------------------------------------

    def min_cursor(self) -> int | None:
        """The lowest cursor of the enabled subscriptions (``None`` when none is enabled)."""
        query = select(func.min(webhook_subscriptions.c.cursor)).where(webhook_subscriptions.c.enabled)
        with self._engine.connect() as conn:
            return conn.execute(query).scalar_one_or_none()

    def queue_events(self, events: Sequence[EventRecord]) -> int:
        """Queue each of ``events`` (consecutive ids of the log, oldest first) for every enabled
        subscription that wants it and has not queued it yet, and move their cursors to the
        last one, in one transaction; how many deliveries were queued."""
        if not events:
            return 0
        through = events[-1].id
        now = utcnow()

        def work(conn: Connection) -> int:
            query = select(
                webhook_subscriptions.c.id,
                webhook_subscriptions.c.event_types,
                webhook_subscriptions.c.cursor,
            ).where(webhook_subscriptions.c.enabled, webhook_subscriptions.c.cursor < through)
            rows: list[dict[str, Any]] = []
            behind = list(conn.execute(query).mappings())
            for sub in behind:
                for event in events:
                    if event.id > sub["cursor"] and type_matches(sub["event_types"], event.type):
                        rows.append(
                            _delivery_row(
                                sub["id"], f"evt_{event.id}", event.type, webhook_body(event), now, event.id
                            )
                        )
            if rows:
                conn.execute(_insert_ignoring_duplicates(conn), rows)
            ids = [sub["id"] for sub in behind]
            if ids:
                conn.execute(
                    update(webhook_subscriptions)
                    .where(webhook_subscriptions.c.id.in_(ids), webhook_subscriptions.c.cursor < through)
                    .values(cursor=through)
                )
            return len(rows)

        return write(self._writer, work)

    def queue_test(self, subscription_id: str) -> DeliveryView:
        """Queue a ``webhook.test`` message for the subscription (sent once, enabled or not)."""
        self.get(subscription_id)
        now = utcnow()
        message_id = f"test_{secrets.token_hex(12)}"
        body = json_text(
            {"type": "webhook.test", "timestamp": utc_text(now), "data": {"subscription_id": subscription_id}}
        )
        row = _delivery_row(subscription_id, message_id, "webhook.test", body, now, None)
        write(self._writer, lambda conn: conn.execute(insert(webhook_deliveries).values(row)))
        return self._delivery_by_message(subscription_id, message_id)

    # --- delivering ----------------------------------------------------------------------

    def claim(self, *, limit: int, lease_s: float, due_by: datetime | None = None) -> list[Claim]:
        """Up to ``limit`` deliveries due now (or by ``due_by``, when earlier), their next
        attempt pushed ``lease_s`` ahead."""
        now = utcnow()
        due = now if due_by is None else min(now, due_by)
        d, s = webhook_deliveries, webhook_subscriptions
        is_test = d.c.event_id.is_(None)
        query = (
            select(
                d.c.id,
                d.c.subscription_id,
                s.c.url,
                s.c.secret,
                # honoured until its time: after that no attempt carries its signature
                case((s.c.previous_secret_until > now, s.c.previous_secret), else_=None).label(
                    "previous_secret"
                ),
                d.c.message_id,
                d.c.body,
                d.c.attempts,
                d.c.created_at,
                d.c.event_id,
                s.c.consecutive_failures,
            )
            .join(s, s.c.id == d.c.subscription_id)
            .where(
                d.c.state == "pending",
                d.c.next_attempt_at <= due,
                or_(is_test, and_(s.c.enabled, or_(s.c.paused_until.is_(None), s.c.paused_until <= now))),
            )
            .order_by(d.c.next_attempt_at, d.c.id)
            .limit(limit)
        )

        def work(conn: Connection) -> list[Claim]:
            q = query.with_for_update(of=d, skip_locked=True) if conn.dialect.name == "postgresql" else query
            rows = list(conn.execute(q).mappings())
            if rows:
                lease = now + timedelta(seconds=lease_s)
                conn.execute(
                    update(d).where(d.c.id.in_([r["id"] for r in rows])).values(next_attempt_at=lease)
                )
            return [claim_of(row) for row in rows]

        return write(self._deliverer, work)

    def record_successes(self, delivered: Sequence[tuple[Claim, int, str | None]]) -> None:
        """Receivers took these deliveries (claim, status, answer): delivered, in one
        transaction; their subscriptions' failures forgotten."""
        if not delivered:
            return
        now = utcnow()
        s = webhook_subscriptions

        d = webhook_deliveries
        # one executemany (a single round trip in psycopg's pipeline), only rows still pending
        statement = (
            update(d)
            .where(d.c.id == bindparam("delivery_id"), d.c.state == "pending")
            .values(
                state="delivered",
                attempts=d.c.attempts + 1,
                last_attempt_at=now,
                finished_at=now,
                last_status=bindparam("status"),
                last_error=None,
                last_response=bindparam("response"),
            )
        )
        rows = [
            {"delivery_id": claim.delivery_id, "status": status, "response": clean_text(response)}
            for claim, status, response in delivered
        ]

        def work(conn: Connection) -> None:
            conn.execute(statement, rows)
            ids = sorted({claim.subscription_id for claim, _, _ in delivered if not claim.is_test})
            if ids:
                healthy = and_(s.c.consecutive_failures == 0, s.c.paused_until.is_(None))
                conn.execute(
                    update(s)
                    .where(s.c.id.in_(ids), ~healthy)  # rows unchanged are not written
                    .values(consecutive_failures=0, paused_until=None)
                )

        write(self._deliverer, work)

    def record_failure(
        self,
        claim: Claim,
        *,
        status: int | None,
        error: str,
        response: str | None,
        retry_at: datetime | None,
        pause_until: datetime | None,
        disable_after: int,
        disable_reason: str | None = None,
    ) -> bool:
        """An attempt failed: retried at ``retry_at`` (``None``: given up, ``failed``); the
        subscription paused until ``pause_until`` and disabled after ``disable_after`` failures
        in a row, or at once with ``disable_reason``. Whether it was disabled now."""
        now = utcnow()
        s = webhook_subscriptions

        def work(conn: Connection) -> bool:
            if retry_at is None or claim.is_test:
                _finish(conn, claim, now, state="failed", status=status, error=error, response=response)
            else:
                _finish(
                    conn,
                    claim,
                    now,
                    state="pending",
                    status=status,
                    error=error,
                    response=response,
                    retry_at=retry_at,
                )
            if claim.is_test:
                return False
            conn.execute(
                update(s)
                .where(s.c.id == claim.subscription_id)
                .values(consecutive_failures=s.c.consecutive_failures + 1, paused_until=pause_until)
            )
            row = conn.execute(
                select(s.c.enabled, s.c.consecutive_failures).where(s.c.id == claim.subscription_id)
            ).first()
            if row is None or not row.enabled:
                return False
            reason = disable_reason
            if reason is None and row.consecutive_failures >= disable_after:
                reason = (
                    f"disabled after {row.consecutive_failures} failed attempts in a row; the last: {error}"
                )
            if reason is None:
                return False
            conn.execute(
                update(s)
                .where(s.c.id == claim.subscription_id)
                .values(enabled=False, disabled_reason=reason[:MAX_TEXT], disabled_at=now, updated_at=now)
            )
            return True

        return write(self._deliverer, work)

    # --- the delivery log ----------------------------------------------------------------

    def deliveries(
        self,
        subscription_id: str,
        *,
        before: int | None = None,
        limit: int = 50,
        state: DeliveryState | None = None,
    ) -> list[DeliveryView]:
        """The subscription's deliveries, newest first (ids below ``before`` when given)."""
        self.get(subscription_id)
        d = webhook_deliveries
        query = select(d).where(d.c.subscription_id == subscription_id).order_by(d.c.id.desc()).limit(limit)
        if before is not None:
            query = query.where(d.c.id < before)
        if state is not None:
            query = query.where(d.c.state == state)
        with self._engine.connect() as conn:
            return [delivery_of(row) for row in conn.execute(query).mappings()]

    def delivery(self, subscription_id: str, delivery_id: int) -> DeliveryView:
        d = webhook_deliveries
        query = select(d).where(d.c.subscription_id == subscription_id, d.c.id == delivery_id)
        with self._engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        if row is None:
            raise NotFound(f"delivery {delivery_id} of webhook subscription {subscription_id} does not exist")
        return delivery_of(row)

    def count(self, state: DeliveryState) -> int:
        query = (
            select(func.count()).select_from(webhook_deliveries).where(webhook_deliveries.c.state == state)
        )
        with self._engine.connect() as conn:
            return conn.execute(query).scalar_one()

    def prune(self, finished_before: datetime) -> int:
        """Delete delivered and failed deliveries finished before ``finished_before``."""
        statement = delete(webhook_deliveries).where(webhook_deliveries.c.finished_at < finished_before)
        return write(self._writer, lambda conn: conn.execute(statement).rowcount)

    def _delivery_by_message(self, subscription_id: str, message_id: str) -> DeliveryView:
        d = webhook_deliveries
        query = select(d).where(d.c.subscription_id == subscription_id, d.c.message_id == message_id)
        with self._engine.connect() as conn:
            return delivery_of(conn.execute(query).mappings().one())


def _greatest(value: int) -> Any:
    # the cursor never moves back: an enable racing the deliverer keeps the larger one
    c = webhook_subscriptions.c.cursor
    return case((c < value, value), else_=c)


def _delivery_row(
    subscription_id: str, message_id: str, event_type: str, body: str, now: datetime, event_id: int | None
) -> dict[str, Any]:
    return {
        "subscription_id": subscription_id,
        "event_id": event_id,
        "message_id": message_id,
        "event_type": event_type[:64],
        "body": body,
        "state": "pending",
        "attempts": 0,
        "created_at": now,
        "next_attempt_at": now,
        "last_attempt_at": None,
        "finished_at": None,
        "last_status": None,
        "last_error": None,
        "last_response": None,
    }


def _insert_ignoring_duplicates(conn: Connection) -> Any:
    dialect_insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    return dialect_insert(webhook_deliveries).on_conflict_do_nothing(
        index_elements=["subscription_id", "message_id"]
    )


def _finish(
    conn: Connection,
    claim: Claim,
    now: datetime,
    *,
    state: DeliveryState,
    status: int | None,
    error: str | None,
    response: str | None,
    retry_at: datetime | None = None,
) -> None:
    d = webhook_deliveries
    values: dict[str, Any] = {
        "state": state,
        "attempts": d.c.attempts + 1,
        "last_attempt_at": now,
        "last_status": status,
        "last_error": clean_text(error[:MAX_TEXT]) if error else None,
        "last_response": clean_text(response),
        "finished_at": None if state == "pending" else now,
    }
    if retry_at is not None:
        values["next_attempt_at"] = retry_at
    # only a row still pending is changed: a delivery is recorded delivered or failed once
    conn.execute(update(d).where(d.c.id == claim.delivery_id, d.c.state == "pending").values(values))
