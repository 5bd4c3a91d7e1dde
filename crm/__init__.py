"""The relational store: contacts and identities, merges, segments, dead letters and the
webhook inbox (``crm.inbox``). The team's tables (agents, rules, SLA, outbox, events) join it
as they are built; each arrives with its Alembic migration.

Open it with :func:`open_crm`; everything else goes through the returned :class:`CRMStore`.
"""

from crm.errors import Conflict, CRMError, InvalidRequest, NotFound
from crm.store import CRMStore, open_crm
from crm.views import ContactView, IdentityView, MergeEventView, RawHandle, SegmentView

__all__ = [
    "CRMError",
    "CRMStore",
    "Conflict",
    "ContactView",
    "IdentityView",
    "InvalidRequest",
    "MergeEventView",
    "NotFound",
    "RawHandle",
    "SegmentView",
    "open_crm",
]
