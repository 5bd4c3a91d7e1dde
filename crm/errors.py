"""Errors the CRM store raises on purpose; the API maps them to 404, 409 and 400."""

from __future__ import annotations

from hub.errors import ParleyError

__all__ = ["CRMError", "Conflict", "InvalidCSV", "InvalidRequest", "NotFound"]


class CRMError(ParleyError):
    """Base class of the CRM store's own errors."""


class NotFound(CRMError):
    """The contact, segment or merge event does not exist."""


class Conflict(CRMError):
    """The request contradicts the current state (e.g. the contact was merged away)."""


class InvalidRequest(CRMError):
    """The request can never succeed as asked (e.g. merging a contact into itself)."""


class InvalidCSV(InvalidRequest):
    """An imported CSV has records the csv module cannot read; nothing was imported.

    ``problems`` are the first (line, what is wrong) pairs, ``count`` how many there are."""

    def __init__(self, problems: list[tuple[int, str]], count: int) -> None:
        first = ", ".join(f"line {line}: {reason}" for line, reason in problems[:3])
        super().__init__(f"{count} CSV records cannot be read ({first})")
        self.problems = problems
        self.count = count
