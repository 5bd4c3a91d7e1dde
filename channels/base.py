"""The small contracts every channel implements."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from hub.models import Delivery, Envelope, Message, Reply

__all__ = ["Parser", "Replier"]

#: A pure function from one envelope to the messages in it. Raises
#: ``hub.errors.MalformedPayload`` for unreadable input, ``UnsupportedEvent`` for harmless
#: events the hub does not ingest.
Parser = Callable[[Envelope], list[Message]]


class Replier(Protocol):
    """Sends replies through one channel account."""

    async def send(self, reply: Reply) -> Delivery:
        """Deliver ``reply``; retriable failures raise ``RetriableError``."""
        ...
