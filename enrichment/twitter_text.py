"""Hashtags, mentions, lists, replies, cashtags and URLs, extracted as twitter-text does.

A port of the extraction half of Twitter's ``twitter-text`` library (v3), checked against its
conformance suite (``extract.yml``, see tests/conformance/test_twitter_text.py). URL extraction
is enrichment/twitter_urls.py, a port of the ``twitter-text-parser`` package's (the same
library's URL regexes and TLD lists), so that the ingest flow never imports that package.

Returned values follow twitter-text: hashtags without ``#``/``＃``, screen names without
``@``, cashtags without ``$``, all as written (case kept). Indices are code-point offsets into
the given text (``str`` indices), ``(start, end)`` covering the sign too.
"""

from __future__ import annotations

from dataclasses import dataclass

import regex

from enrichment.twitter_urls import extract_urls_with_indices as _tt_urls

__all__ = [
    "TextEntity",
    "extract_cashtags",
    "extract_cashtags_with_indices",
    "extract_hashtags",
    "extract_hashtags_with_indices",
    "extract_mentioned_screen_names",
    "extract_mentioned_screen_names_with_indices",
    "extract_mentions_or_lists_with_indices",
    "extract_reply_screen_name",
    "extract_urls",
    "extract_urls_with_indices",
]


@dataclass(frozen=True, slots=True)
class TextEntity:
    """One extracted entity: its value (without sign), list slug for lists, and indices."""

    value: str
    start: int
    end: int
    list_slug: str = ""


# Character classes as twitter-text defines them (js/src/regexp/*).
_SPACES = r"\x09-\x0D\x20\x85\xA0\u1680\u180E\u2000-\u200A\u2028\u2029\u202F\u205F\u3000"
_PUNCT = r"\!'#%&'\(\)*\+,\\\-\.\/:;<=>\?@\[\]\^_{|}~\$"
_LATIN_ACCENTS = (
    r"\xC0-\xD6\xD8-\xF6\xF8-\xFF\u0100-\u024F\u0253\u0254\u0256\u0257\u0259\u025B\u0263"
    r"\u0268\u026F\u0272\u0289\u028B\u02BB\u0300-\u036F\u1E00-\u1EFF"
)
_HASH_SPECIAL = (
    r"_\u200c\u200d\ua67e\u05be\u05f3\u05f4\uff5e\u301c\u309b\u309c\u30a0\u30fb\u3003\u0f0b\u0f0c\xb7"
)
_HASHTAG_ALPHA = r"[\p{L}\p{M}]"
_HASHTAG_ALNUM = rf"[\p{{L}}\p{{M}}\p{{Nd}}{_HASH_SPECIAL}]"
_HASH_SIGNS = "[#＃]"
_AT_SIGNS = "[@＠]"

# JS's `$` without the m flag is the end of input; Python's would also match before a final "\n".
_VALID_HASHTAG = regex.compile(
    rf"(^|\uFE0E|\uFE0F|\Z|(?!{_HASHTAG_ALNUM}|&).)"
    rf"({_HASH_SIGNS})(?!\uFE0F|\u20E3)"
    rf"({_HASHTAG_ALNUM}*{_HASHTAG_ALPHA}{_HASHTAG_ALNUM}*)",
    regex.IGNORECASE | regex.DOTALL,
)
_END_HASHTAG = regex.compile(rf"(?:{_HASH_SIGNS}|://)")

_VALID_MENTION_OR_LIST = regex.compile(
    r"(^|[^a-zA-Z0-9_!#$%&*@＠]|(?:^|[^a-zA-Z0-9_+~.-])(?:rt|RT|rT|Rt):?)"
    rf"({_AT_SIGNS})"
    r"([a-zA-Z0-9_]{1,20})"
    r"(/[a-zA-Z][a-zA-Z0-9_\-]{0,24})?"
)
_END_MENTION = regex.compile(rf"(?:{_AT_SIGNS}|[{_LATIN_ACCENTS}]|://)")
_VALID_REPLY = regex.compile(rf"[{_SPACES}]*{_AT_SIGNS}([a-zA-Z0-9_]{{1,20}})")

_VALID_CASHTAG = regex.compile(
    rf"(^|[{_SPACES}])(\$)([a-z]{{1,6}}(?:[._][a-z]{{1,2}})?)(?=\Z|\s|[{_PUNCT}])",
    regex.IGNORECASE,
)
_HAS_HASH = regex.compile(_HASH_SIGNS)
_DOTTED_RUN = regex.compile(r"(?:[^\s.]{1,63}\.){25,}[^\s.]*")
_HAS_AT = regex.compile(_AT_SIGNS)


def _defuse(text: str) -> str:
    # The URL regex backtracks super-linearly on long runs of dotted labels ("a.a.a.a...":
    # 1,600 characters take seconds, 5,000 minutes). No real host has 25 labels (DNS allows
    # 253 characters in all), so such runs are blanked, length kept, before matching.
    if len(text) < 50 or "." not in text:
        return text
    return _DOTTED_RUN.sub(lambda match: " " * len(match.group(0)), text)


def extract_urls_with_indices(text: str) -> list[TextEntity]:
    """URLs (with or without protocol) as twitter-text finds them."""
    if not text:
        return []
    try:
        found = _tt_urls(_defuse(text))
    except (ValueError, UnicodeError, RecursionError):
        # The IDNA codec rejects some pathological inputs (lone surrogates); no URL then.
        return []
    return [TextEntity(url, start, end) for url, start, end in found]


def extract_urls(text: str) -> list[str]:
    return [entity.value for entity in extract_urls_with_indices(text)]


def _remove_overlaps(hashtags: list[TextEntity], others: list[TextEntity]) -> list[TextEntity]:
    """Keep hashtags not overlapping an earlier-starting entity (twitter-text's rule)."""
    tagged = sorted(
        [(e.start, 0, e) for e in hashtags] + [(e.start, 1, e) for e in others],
        key=lambda item: item[0],
    )
    kept: list[tuple[int, int, TextEntity]] = []
    for item in tagged:
        if kept and kept[-1][2].end > item[2].start:
            continue
        kept.append(item)
    return [entity for _, kind, entity in kept if kind == 0]


def extract_hashtags_with_indices(text: str, check_url_overlap: bool = True) -> list[TextEntity]:
    """Hashtags, skipping ``#`` inside URLs when ``check_url_overlap``."""
    if not text or not _HAS_HASH.search(text):
        return []
    tags: list[TextEntity] = []
    for match in _VALID_HASHTAG.finditer(text):
        if _END_HASHTAG.match(text, match.end()):
            continue
        start = match.start() + len(match.group(1))
        tags.append(TextEntity(match.group(3), start, start + len(match.group(3)) + 1))
    if check_url_overlap and tags:
        urls = extract_urls_with_indices(text)
        if urls:
            tags = _remove_overlaps(tags, urls)
    return tags


def extract_hashtags(text: str) -> list[str]:
    return [entity.value for entity in extract_hashtags_with_indices(text)]


def extract_mentions_or_lists_with_indices(text: str) -> list[TextEntity]:
    """``@name`` and ``@name/list`` references; ``list_slug`` keeps the leading ``/``."""
    if not text or not _HAS_AT.search(text):
        return []
    found: list[TextEntity] = []
    for match in _VALID_MENTION_OR_LIST.finditer(text):
        if _END_MENTION.match(text, match.end()):
            continue
        slug = match.group(4) or ""
        start = match.start() + len(match.group(1))
        found.append(TextEntity(match.group(3), start, start + len(match.group(3)) + len(slug) + 1, slug))
    return found


def extract_mentioned_screen_names_with_indices(text: str) -> list[TextEntity]:
    return [e for e in extract_mentions_or_lists_with_indices(text) if not e.list_slug]


def extract_mentioned_screen_names(text: str) -> list[str]:
    return [entity.value for entity in extract_mentioned_screen_names_with_indices(text)]


def extract_reply_screen_name(text: str) -> str | None:
    """The screen name a tweet replies to (a mention at its very start), if any."""
    if not text:
        return None
    match = _VALID_REPLY.match(text)
    if match is None or _END_MENTION.match(text, match.end()):
        return None
    return match.group(1)


def extract_cashtags_with_indices(text: str) -> list[TextEntity]:
    if not text or "$" not in text:
        return []
    found: list[TextEntity] = []
    for match in _VALID_CASHTAG.finditer(text):
        start = match.start() + len(match.group(1))
        found.append(TextEntity(match.group(3), start, start + len(match.group(3)) + 1))
    return found


def extract_cashtags(text: str) -> list[str]:
    return [entity.value for entity in extract_cashtags_with_indices(text)]
