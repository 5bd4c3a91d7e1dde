"""Triage through the routing table: the API's side of ``crm.routing``.

The relational store decides a conversation's triage state; these helpers give a
conversation its routing row when it has none yet (a document stored before routing existed:
seeded from the document as it is) and write the rows a change touched into their
knowledge-base documents, the searchable projection.
"""

from __future__ import annotations

from collections.abc import Iterable

from crm.routing import RoutingState, Seed
from crm.store import CRMStore
from hub.models import Conversation
from kb.base import KnowledgeBase

__all__ = ["assign_waiting", "ensure_routed", "project", "seed_of"]


def seed_of(conversation: Conversation) -> Seed:
    """The routing row a conversation document implies."""
    return Seed.of(conversation)


def ensure_routed(crm: CRMStore, conversation: Conversation) -> None:
    """Give ``conversation`` its routing row if it has none (nothing happens otherwise)."""
    if crm.routing.get(conversation.id) is None:
        crm.routing.seed([seed_of(conversation)])


def project(kb: KnowledgeBase, states: Iterable[RoutingState]) -> None:
    """Write each row's triage state into its conversation document (absent ones are skipped)."""
    for state in states:
        kb.update_conversation(state.conversation_id, state.triage())


def assign_waiting(crm: CRMStore, kb: KnowledgeBase) -> int:
    """Assign the conversations waiting for an agent to those who fit now (after an agent came
    online, gained capacity or joined a team); how many were assigned."""
    states = crm.routing.assign_waiting()
    project(kb, states)
    return len(states)
