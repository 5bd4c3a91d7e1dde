"""One error hierarchy for the whole hub.

Every client translates its library's exceptions into one of these three families, in one
place, with ``raise ... from exc``:

* :class:`RetriableError` - a passing condition (timeouts, 429/503, dropped connections):
  back off and try again; nothing is lost.
* :class:`SkippableError` - this one input can never succeed (malformed payload, unknown
  fields): it becomes a dead letter with the raw payload and the reason; the flow moves on.
* :class:`InvalidInput` - a person's request cannot be answered as asked (a query that does
  not parse, a cursor this search did not make): the API answers 400 with where and what.
* :class:`FatalError` - the configuration or environment is wrong: stop with a message that
  says what to fix.
"""

from __future__ import annotations


class ParleyError(Exception):
    """Base class of every error Parley raises on purpose."""


class RetriableError(ParleyError):
    """A passing failure: retry with backoff.

    ``retry_after`` is the delay in seconds the other side asked for, when it asked.
    """

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class SkippableError(ParleyError):
    """This input can never be processed: dead-letter it and move on."""


class MalformedPayload(SkippableError):
    """The payload cannot be read as the kind it claims to be."""


class UnsupportedEvent(SkippableError):
    """A well-formed event the hub does not ingest (read receipts, typing indicators...).

    Harmless: counted and logged, not dead-lettered.
    """


class InvalidInput(ParleyError):
    """A request that can never succeed as asked; answered 400 with the documented shape.

    ``position`` is the 0-based character offset of the problem in the input (when it has
    one) and ``expected`` what would have been accepted there.
    """

    def __init__(
        self, message: str, *, position: int | None = None, expected: list[str] | None = None
    ) -> None:
        super().__init__(message)
        self.position = position
        self.expected = expected or []


class FatalError(ParleyError):
    """Wrong configuration or environment: stop and tell the user what to fix."""
