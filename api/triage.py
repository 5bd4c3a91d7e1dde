"""Triage through the routing table: the API's side of ``crm.routing``.

The relational store decides a conversation's triage state; these helpers give a
conversation its routing row when it has none yet (a document stored before routing existed:
seeded from the document as it is, ``crm.routing.Seed.of``) and assign waiting conversations.
The rows a change touched are written into their knowledge-base documents, the searchable
projection, with ``kb.conversations.project_triage`` (shared with the flow).
"""

from __future__ import annotations

from crm.routing import Seed
from crm.store import CRMStore
from hub.models import Conversation
from kb.base import KnowledgeBase
from kb.conversations import project_triage

__all__ = ["assign_waiting", "ensure_routed", "release_agent"]


def ensure_routed(crm: CRMStore, conversation: Conversation) -> None:
    """Give ``conversation`` its routing row if it has none (nothing happens otherwise)."""
    if crm.routing.get(conversation.id) is None:
        crm.routing.seed([Seed.of(conversation)])


def release_agent(crm: CRMStore, kb: KnowledgeBase, agent_id: str, *, actor_id: str | None) -> int:
    """Unassign the conversations a disabled agent holds (``crm.routing.release_agent``) and
    write it into their documents; how many were released."""
    states = crm.routing.release_agent(agent_id, actor_id=actor_id)
    project_triage(kb, states)
    return len(states)


def assign_waiting(crm: CRMStore, kb: KnowledgeBase) -> int:
    """Assign the conversations waiting for an agent to those who fit now (after an agent came
    online, gained capacity or joined a team); how many were assigned."""
    states = crm.routing.assign_waiting()
    project_triage(kb, states)
    return len(states)
