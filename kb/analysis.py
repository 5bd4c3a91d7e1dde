"""Text analysis and field values shared by every backend and the in-memory matcher.

The embedded backend indexes with FTS5's ``porter unicode61 remove_diacritics 2`` tokenizer
and the Elasticsearch backend with an analyzer built to behave the same (letters and digits,
lowercase, ASCII folding, Porter stemming). This module reproduces that analysis in Python so
that ``kb.matcher.compile_matcher`` and the highlighter agree with both backends, and it is the
one place that says which normalised values a message or conversation exposes to the field
operators of the query language (``author:``, ``hashtag:``, ``site:``...).
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from urllib.parse import urlsplit

import snowballstemmer

from hub.models import Conversation, Identity, Message

__all__ = [
    "CONVERSATION_FIELDS",
    "MESSAGE_FIELDS",
    "MULTI_VALUED_FIELDS",
    "conversation_field_values",
    "effective_language",
    "fold",
    "message_field_values",
    "normalise_field_value",
    "site_suffixes",
    "stem",
    "tokenize",
]

# unicode61 keeps letters, numbers and private-use characters; everything else (including
# "_", which \w would keep) separates tokens.
_TOKEN = re.compile(r"[^\W_]+")
_STEMMER = snowballstemmer.stemmer("porter")

#: fields of a message document (the query language's field operators)
MESSAGE_FIELDS = ("author", "channel", "lang", "sentiment", "entity", "hashtag", "mention", "site", "intent")
#: the message fields that hold many values per message (backends store them as terms)
MULTI_VALUED_FIELDS = ("author", "entity", "hashtag", "mention", "site")
#: fields that live on the message's conversation
CONVERSATION_FIELDS = ("status", "assignee", "tag")


def fold(text: str) -> str:
    """Lowercase and strip diacritics (FTS5 ``remove_diacritics 2`` / ES ``asciifolding``)."""
    lowered = text.lower()
    if lowered.isascii():  # most text: NFKD leaves ASCII as it is and nothing combines
        return lowered
    decomposed = unicodedata.normalize("NFKD", lowered)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def tokenize(text: str) -> list[str]:
    """The folded, unstemmed tokens of ``text``."""
    return _TOKEN.findall(fold(text))


@lru_cache(maxsize=65536)
def stem(token: str) -> str:
    """Porter stem of one folded token (the algorithm FTS5's ``porter`` tokenizer uses)."""
    return str(_STEMMER.stemWord(token))


def effective_language(message: Message) -> str:
    """The language a message is filtered and faceted by."""
    return (message.language or message.enrichment.language or "und").lower()


def site_suffixes(url: str) -> list[str]:
    """``https://blog.example.co.uk/x`` -> blog.example.co.uk, example.co.uk, co.uk.

    Every suffix with at least two labels, so ``site:example.co.uk`` matches subdomains.
    """
    try:
        host = (urlsplit(url if "//" in url else f"//{url}").hostname or "").lower().rstrip(".")
    except ValueError:  # "http://[not-an-ip]/": a URL nobody can visit has no site
        return []
    labels = [label for label in host.split(".") if label]
    return [".".join(labels[i:]) for i in range(len(labels) - 1)] if len(labels) > 1 else labels


def normalise_field_value(field: str, value: str) -> str:
    """A typed field value in the form it is stored (lowercase, no ``@``/``#``, bare host)."""
    value = " ".join(value.split()).lower()
    if field in ("author", "mention"):
        return value.lstrip("@")
    if field == "hashtag":
        return value.lstrip("#")
    if field == "site":
        suffixes = site_suffixes(value)
        return suffixes[0] if suffixes else value
    return value


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(v for v in values if v))


def _author_keys(author: Identity) -> tuple[str, ...]:
    return _identity_keys(author.id, author.native_id, author.handle, author.display_name, author.email)


@lru_cache(maxsize=16384)
def _identity_keys(
    identity_id: str, native_id: str, handle: str | None, display_name: str | None, email: str | None
) -> tuple[str, ...]:
    # Identities repeat across a batch (one author, many messages): worth caching, keyed by
    # their strings rather than the models (which would keep every message's author alive).
    keys = [identity_id.lower(), native_id.lower()]
    keys += [normalise_field_value("author", v) for v in (handle, display_name, email) if v]
    return tuple(_unique(keys))


def message_field_values(message: Message) -> dict[str, list[str]]:
    """Normalised values of every message field operator, as stored by the backends."""
    enrichment = message.enrichment
    sites: list[str] = []
    for url in ([message.url] if message.url else []) + list(enrichment.urls):
        sites += site_suffixes(url)
    return {
        "author": list(_author_keys(message.author)) if message.author is not None else [],
        "channel": [message.channel.lower()],
        "lang": [effective_language(message)],
        "sentiment": [enrichment.sentiment_label] if enrichment.sentiment_label else [],
        "entity": _unique([" ".join(e.text.lower().split()) for e in enrichment.entities]),
        "hashtag": _unique([h.lower().lstrip("#") for h in enrichment.hashtags]),
        "mention": _unique([m.lower().lstrip("@") for m in enrichment.mentions]),
        "site": _unique(sites),
        "intent": [enrichment.intent.lower()] if enrichment.intent else [],
    }


def conversation_field_values(conversation: Conversation) -> dict[str, list[str]]:
    """Normalised values of the conversation field operators (status, assignee, tag)."""
    return {
        "status": [str(conversation.status)],
        "assignee": [conversation.assignee.lower()] if conversation.assignee else [],
        "tag": _unique([t.lower() for t in conversation.tags]),
    }


def author_text(message: Message) -> str:
    """The author's names as searchable text (handle and display name)."""
    if message.author is None:
        return ""
    return " ".join(v for v in (message.author.display_name, message.author.handle) if v)
