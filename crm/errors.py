"""Errors the CRM store raises on purpose; the API maps them to 404, 409 and 400."""

from __future__ import annotations

from hub.errors import ParleyError

__all__ = ["CRMError", "Conflict", "InvalidRequest", "NotFound"]


class CRMError(ParleyError):
    """Base class of the CRM store's own errors."""


class NotFound(CRMError):
    """The contact, segment or merge event does not exist."""


class Conflict(CRMError):
    """The request contradicts the current state (e.g. the contact was merged away)."""


class InvalidRequest(CRMError):
    """The request can never succeed as asked (e.g. merging a contact into itself)."""
