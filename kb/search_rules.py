"""The search rules every backend follows, stated once, as data and pure functions.

A backend decides *how* to run a search; this module decides *what* the search means, so the
embedded and Elasticsearch backends answer alike (``tests/kb/test_behaviour.py`` runs one
suite against both):

* **Which filters apply where.** In a message search every filter applies to the message;
  the conversation-state filters (:data:`CONVERSATION_STATE_FILTERS`) are checked against the
  message's conversation. In a conversation search the message-level filters
  (:data:`MESSAGE_LEVEL_FILTERS`) and the query select messages, and a conversation qualifies
  when one of its messages satisfies them together; the rest
  (:data:`CONVERSATION_LEVEL_FILTERS`) apply to the conversation itself, ``since``/``until``
  to its ``last_message_at``.
* **The default sort.** ``relevance`` needs something to score: a query that
  :func:`ranks_by_relevance`. Otherwise relevance falls back to ``newest`` (:func:`effective_sort`).
* **Subjects.** A conversation search for a pure word query (:func:`is_word_query`) without
  message-level filters also finds conversations by their own subject, which an agent may have
  retitled (:func:`matches_subjects`); those rank after conversations with matching messages.
* **Highlights.** Both backends mark the same fields (:data:`MESSAGE_HIGHLIGHT_FIELDS`,
  :data:`CONVERSATION_HIGHLIGHT_FIELDS`) with the one highlighter, ``kb.matcher.highlight``,
  over the query's positive text leaves (:func:`message_highlights`,
  :func:`conversation_highlights`).
"""

from __future__ import annotations

from typing import Literal

from hub.models import Conversation, Message
from kb.analysis import effective_language
from kb.base import SearchFilters
from kb.languages import analysis_for
from kb.matcher import highlight
from kb.query import And, Field, Near, Node, Not, Or, Text, positive_texts

__all__ = [
    "CONVERSATION_HIGHLIGHT_FIELDS",
    "CONVERSATION_LEVEL_FILTERS",
    "CONVERSATION_STATE_FILTERS",
    "MESSAGE_HIGHLIGHT_FIELDS",
    "MESSAGE_LEVEL_FILTERS",
    "Sort",
    "conversation_analysis",
    "conversation_highlights",
    "conversation_level",
    "effective_sort",
    "has_message_level_filters",
    "is_word_query",
    "matches_subjects",
    "message_highlights",
    "message_level",
    "ranks_by_relevance",
]

Sort = Literal["relevance", "newest", "oldest"]

#: ``SearchFilters`` fields a conversation search applies to the conversation's messages
MESSAGE_LEVEL_FILTERS = ("languages", "sentiment_labels", "intents", "author_ids", "direction")
#: ``SearchFilters`` fields a conversation search applies to the conversation itself
CONVERSATION_LEVEL_FILTERS = (
    "channels",
    "accounts",
    "conversation_ids",
    "statuses",
    "assignees",
    "queues",
    "tags",
    "since",
    "until",
)
#: the conversation-level filters on triage state, which a message search checks against the
#: message's conversation (the others are the message's own channel, account, id and date)
CONVERSATION_STATE_FILTERS = ("statuses", "assignees", "queues", "tags")

#: fields of a message hit that carry highlights
MESSAGE_HIGHLIGHT_FIELDS = ("text", "subject")
#: fields of a conversation hit that carry highlights
CONVERSATION_HIGHLIGHT_FIELDS = ("subject",)


def _only(filters: SearchFilters, names: tuple[str, ...]) -> SearchFilters:
    return SearchFilters(**{name: getattr(filters, name) for name in names})


def message_level(filters: SearchFilters) -> SearchFilters:
    """The part of ``filters`` a conversation search applies to its messages."""
    return _only(filters, MESSAGE_LEVEL_FILTERS)


def conversation_level(filters: SearchFilters) -> SearchFilters:
    """The part of ``filters`` a conversation search applies to the conversation itself."""
    return _only(filters, CONVERSATION_LEVEL_FILTERS)


def has_message_level_filters(filters: SearchFilters) -> bool:
    """Whether a conversation search must look at messages for ``filters`` alone."""
    return message_level(filters) != SearchFilters()


def is_word_query(node: Node) -> bool:
    """Whether ``node`` is made of words only, so a full-text index evaluates and scores it alone.

    Terms, phrases, prefixes and unordered ``NEAR``, joined by ``OR``, or by ``AND`` with at
    least one positive part (a negation needs something to subtract from). Field operators are
    not words; nor is an ordered ``NEAR``, which the embedded index cannot score in order.
    """
    if isinstance(node, Text):
        return True
    if isinstance(node, Near):
        return not node.ordered
    if isinstance(node, Or):
        return all(is_word_query(child) for child in node.children)
    if isinstance(node, And):
        positives = [child for child in node.children if not isinstance(child, Not)]
        negatives = [child.child for child in node.children if isinstance(child, Not)]
        return bool(positives) and all(is_word_query(part) for part in positives + negatives)
    assert isinstance(node, Field | Not)
    return False


def ranks_by_relevance(node: Node | None) -> bool:
    """Whether hits for ``node`` have a relevance score: some positive words stand at its top.

    That is a word query, or a top-level ``AND`` with a word query or any ``NEAR`` (an ordered
    one is scored as unordered, then its order checked) among its positive parts.
    """
    if node is None:
        return False
    if is_word_query(node):
        return True
    parts = node.children if isinstance(node, And) else (node,)
    return any(
        isinstance(part, Near) or (not isinstance(part, Not) and is_word_query(part)) for part in parts
    )


def effective_sort(requested: Sort, node: Node | None) -> Sort:
    """The sort a search uses: ``relevance`` falls back to ``newest`` when nothing is scored."""
    if requested == "relevance" and not ranks_by_relevance(node):
        return "newest"
    return requested


def matches_subjects(node: Node | None, filters: SearchFilters) -> bool:
    """Whether a conversation search also matches ``node`` against conversations' subjects.

    Only a pure word query qualifies (field operators describe messages, not the subject), and
    only without message-level filters (those can only be satisfied by a message).
    """
    return node is not None and is_word_query(node) and not has_message_level_filters(filters)


def _highlights(texts: dict[str, str | None], node: Node | None, analysis: str) -> dict[str, list[str]]:
    leaves = positive_texts(node)
    marked = {name: highlight(text or "", leaves, analysis=analysis) for name, text in texts.items()}
    return {name: fragments for name, fragments in marked.items() if fragments}


def conversation_analysis(conversation: Conversation) -> str:
    """The analysis (``kb.languages``) a conversation's own subject is indexed with: that of
    its first language."""
    return analysis_for(conversation.languages[0] if conversation.languages else None)


def message_highlights(message: Message, node: Node | None) -> dict[str, list[str]]:
    """Fragments of a message hit's :data:`MESSAGE_HIGHLIGHT_FIELDS` marking ``node``'s words,
    analysed in the message's language."""
    texts = {name: getattr(message, name) for name in MESSAGE_HIGHLIGHT_FIELDS}
    return _highlights(texts, node, analysis_for(effective_language(message)))


def conversation_highlights(conversation: Conversation, node: Node | None) -> dict[str, list[str]]:
    """Fragments of a conversation hit's :data:`CONVERSATION_HIGHLIGHT_FIELDS` marking ``node``'s words."""
    texts = {name: getattr(conversation, name) for name in CONVERSATION_HIGHLIGHT_FIELDS}
    return _highlights(texts, node, conversation_analysis(conversation))
