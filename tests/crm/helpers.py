"""Builders of authors and messages for the CRM tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hub.models import Direction, Enrichment, Identity, Message

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


def author(
    channel: str,
    native_id: str,
    *,
    handle: str | None = None,
    name: str | None = None,
    email: str | None = None,
    phone: str | None = None,
) -> Identity:
    return Identity(
        channel=channel, native_id=native_id, handle=handle, display_name=name, email=email, phone=phone
    )


def message(
    who: Identity,
    native_id: str,
    *,
    minutes: int = 0,
    sentiment: float | None = None,
    language: str | None = None,
    direction: Direction = Direction.IN,
) -> Message:
    enrichment = Enrichment()
    if sentiment is not None or language is not None:
        enrichment = Enrichment(
            sentiment=sentiment or 0.0, language=language or "und", done=sentiment is not None
        )
    return Message(
        channel=who.channel,
        native_id=native_id,
        author=who,
        text=f"message {native_id}",
        created_at=T0 + timedelta(minutes=minutes),
        direction=direction,
        enrichment=enrichment,
    )
