"""Text preparation shared by the enrichment steps: sanitising, cache keys, masking.

All functions are pure. Offsets matter: entities carry character offsets into
``Message.text``, so every transformation here either keeps the length of the text (masking
replaces with spaces) or reports how far it moved the text (the retweet prefix).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = [
    "clean",
    "core_text",
    "letters",
    "looks_like_html",
    "mask_spans",
    "mask_tags",
]

# "RT @user: " (possibly chained: "RT @a: RT @b: ") as clients prefix a retweet or a quote.
_RT_PREFIX = re.compile(r"^(?:\s*RT\s*@[A-Za-z0-9_]{1,20}\s*:?\s*)+", re.IGNORECASE)
_SURROGATES = re.compile(r"[\ud800-\udfff]")
_TAG = re.compile(
    r"<(script|style)\b.*?</\1\s*>|<!--.*?-->|</?[a-zA-Z][a-zA-Z0-9-]*(?:\s[^<>]{0,2000})?/?>",
    re.IGNORECASE | re.DOTALL,
)
_LETTER = re.compile(r"[^\W\d_]")


def clean(text: str, max_chars: int) -> str:
    """``text`` made safe for the NLP libraries, same length up to ``max_chars``.

    Lone surrogates (from broken JSON or UTF-16 slicing) become U+FFFD one for one, so offsets
    into the cleaned text are offsets into the original.
    """
    text = text[:max_chars]
    if _SURROGATES.search(text):
        text = _SURROGATES.sub("\ufffd", text)
    return text


def looks_like_html(text: str) -> bool:
    return "<" in text and ">" in text and _TAG.search(text) is not None


def mask_tags(text: str) -> str:
    """``text`` with HTML tags (and script/style bodies) blanked to spaces, length unchanged."""
    return _TAG.sub(lambda match: " " * len(match.group(0)), text)


def core_text(text: str) -> tuple[str, int]:
    """The text a retweet or copy-paste shares with its original, and where it starts.

    ``"RT @ann: Great #launch"`` -> ``("Great #launch", 9)``. Surrounding whitespace is
    dropped too; the interior is kept exactly so entity offsets can be shifted back.
    """
    start = 0
    match = _RT_PREFIX.match(text)
    if match:
        start = match.end()
    end = len(text)
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return text[start:end], start


def mask_spans(text: str, spans: Sequence[tuple[int, int]]) -> str:
    """``text`` with each ``[start, end)`` span replaced by spaces (length unchanged)."""
    if not spans:
        return text
    parts: list[str] = []
    last = 0
    for start, end in sorted(spans):
        if start < last:
            start = last
        if end <= start:
            continue
        parts.append(text[last:start])
        parts.append(" " * (end - start))
        last = end
    parts.append(text[last:])
    return "".join(parts)


def letters(text: str) -> int:
    """How many letters (any script) ``text`` has: the evidence a language detector gets."""
    return len(_LETTER.findall(text))
