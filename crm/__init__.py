"""The relational store: contacts and identities, merges, segments, dead letters and the
workflow tables (queues, agents, rules, inbox, outbox, tokens).

Open it with :func:`open_crm`; everything else goes through the returned :class:`CRMStore`.
"""

from crm.errors import Conflict, CRMError, InvalidCSV, InvalidRequest, NotFound
from crm.store import CRMStore, open_crm
from crm.views import ContactView, IdentityView, MergeEventView, RawHandle, SegmentView

__all__ = [
    "CRMError",
    "CRMStore",
    "Conflict",
    "ContactView",
    "IdentityView",
    "InvalidCSV",
    "InvalidRequest",
    "MergeEventView",
    "NotFound",
    "RawHandle",
    "SegmentView",
    "open_crm",
]
