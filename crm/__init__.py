"""The relational store: contacts and identities, merges, segments, dead letters and the
webhook inbox (``crm.inbox``), and the team's tables: agents, teams, credentials (API tokens,
sessions, sign-in links), the audit log and the event log (``crm.events``). Rules, SLA and the
outbox join it as they are built, each with its Alembic migration.

Open it with :func:`open_crm`; everything else goes through the returned :class:`CRMStore`.
"""

from crm.agents import ROLES, AgentView, Availability, Role, role_at_least
from crm.audit import AuditEntry
from crm.credentials import Authenticated, TokenView
from crm.errors import Conflict, CRMError, InvalidCSV, InvalidRequest, NotFound
from crm.events import Event, NewEvent
from crm.store import CRMStore, open_crm
from crm.teams import TeamView
from crm.views import ContactView, IdentityView, MergeEventView, RawHandle, SegmentView

__all__ = [
    "ROLES",
    "AgentView",
    "AuditEntry",
    "Authenticated",
    "Availability",
    "CRMError",
    "CRMStore",
    "Conflict",
    "ContactView",
    "Event",
    "IdentityView",
    "InvalidCSV",
    "InvalidRequest",
    "MergeEventView",
    "NewEvent",
    "NotFound",
    "RawHandle",
    "Role",
    "SegmentView",
    "TeamView",
    "TokenView",
    "open_crm",
    "role_at_least",
]
