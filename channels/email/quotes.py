"""Strip quoted replies and signatures from a plain-text mail body.

The searchable text of a reply should be what its author wrote, not the whole history below it.
``strip_quotes`` drops ``>``-quoted lines with their attribution ("On ... wrote:", "Am ...
schrieb:"), so interleaved and bottom-posted answers keep the author's words; it cuts where
unquoted history begins (Outlook's "-----Original Message-----" or "From:/Sent:" block, an
attribution not followed by quotes) and at the signature delimiter ("-- ") or a mobile footer.
When stripping would leave nothing (a pure forward, a message that is all quote) the original
text is returned: never index nothing.
"""

from __future__ import annotations

import re

__all__ = ["strip_quotes"]

_ATTRIBUTION = re.compile(
    r"^\s*(?:"
    r"on\b.{0,200}\bwrote:|"  # Gmail, Apple Mail, Thunderbird
    r"am\b.{0,200}\bschrieb.{0,80}:|"  # German
    r"le\b.{0,200}\ba écrit\s*:|"  # French
    r"el\b.{0,200}\bescribió\s*:|"  # Spanish
    r"op\b.{0,200}\bschreef.{0,80}:|"  # Dutch
    r"den\b.{0,200}\bskrev.{0,80}:|"  # Scandinavian
    r"-{2,}\s*original message\s*-{2,}|"
    r"-{2,}\s*ursprüngliche nachricht\s*-{2,}|"
    r"-{2,}\s*message d'origine\s*-{2,}|"
    r"-{2,}\s*forwarded message\s*-{2,}|"
    r"_{10,}"  # Outlook's underscore rule before the quoted header block
    r")\s*$",
    re.IGNORECASE,
)
# Outlook's quoted header block: "From: x" followed within two lines by "Sent:" / "Date:".
_OUTLOOK_FROM = re.compile(r"^\s*\*?(?:from|von|de|van)\s*:\*?\s", re.IGNORECASE)
_OUTLOOK_NEXT = re.compile(r"^\s*\*?(?:sent|date|gesendet|datum|envoyé|enviado|to|an)\s*:", re.IGNORECASE)
# "Marc Slemko wrote:" / "ann@example.org schrieb:" without the date prefix; only trusted when
# quoted lines follow, since a person may well write "my colleague wrote:" themselves.
_WROTE = re.compile(
    r"^\s*\S.{0,120}\b(?:wrote|writes|schrieb|a écrit|escribió|scrisse|skrev)\s*:\s*$", re.IGNORECASE
)
_SIGNATURE = re.compile(r"^(?:-- ?|--|__)\s*$")
_MOBILE_FOOTER = re.compile(
    r"^\s*(?:sent from my \w+|sent from (?:outlook|mail) for|get outlook for|von meinem \w+ gesendet|"
    r"envoyé de mon \w+)",
    re.IGNORECASE,
)


def _attribution_span(lines: list[str], i: int) -> int:
    """How many lines the attribution starting at ``i`` spans (0: not an attribution)."""
    line = lines[i]
    if _ATTRIBUTION.match(line):
        return 1
    # Attribution lines wrap: "On Mon, 1 Jan 2024, Ann <ann@x>\nwrote:" counts too.
    nxt = lines[i + 1] if i + 1 < len(lines) else ""
    if line.strip() and nxt.rstrip().endswith(":") and _ATTRIBUTION.match(f"{line.rstrip()} {nxt.strip()}"):
        return 2
    if _WROTE.match(line) and _quote_follows(lines, i + 1):
        return 1
    return 0


def _quote_follows(lines: list[str], start: int) -> bool:
    for line in lines[start : start + 3]:
        if line.strip():
            return line.lstrip().startswith(">")
    return False


def _ends_own_text(lines: list[str], i: int) -> bool:
    line = lines[i]
    if _OUTLOOK_FROM.match(line) and any(_OUTLOOK_NEXT.match(n) for n in lines[i + 1 : i + 4]):
        return True
    return bool(_SIGNATURE.match(line) or _MOBILE_FOOTER.match(line))


def strip_quotes(text: str) -> str:
    """The part of ``text`` its author wrote (see module docstring)."""
    lines = text.replace("\r\n", "\n").split("\n")
    kept: list[str] = []
    i = 0
    while i < len(lines):
        span = _attribution_span(lines, i)
        if span:
            if not _quote_follows(lines, i + span):
                break  # unquoted history below (Outlook, forwards): the author's text ended
            i += span  # interleaved or bottom-posted reply: drop the attribution, keep reading
            continue
        if _ends_own_text(lines, i):
            break
        if not lines[i].lstrip().startswith(">"):
            kept.append(lines[i])
        i += 1
    result = re.sub(r"\n{3,}", "\n\n", "\n".join(kept).strip())
    return result or text.strip()
