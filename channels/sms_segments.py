"""How many SMS segments a text takes, and in which encoding (pure; shown before sending).

An SMS carries 140 octets. Text that fits the GSM 03.38 7-bit alphabet (with its extension
table, whose characters take two septets: ``^ { } \\ [ ~ ] | €`` and form feed) is sent as
GSM-7: 160 characters in one segment, 153 per segment once it is split (the concatenation
header takes 7). Anything else is UCS-2 (UTF-16): 70 characters alone, 67 per segment split,
and a character outside the Basic Multilingual Plane (most emoji) counts as two. A split
never cuts an extension character or a surrogate pair in half, so segments are filled
greedily by whole characters. The future SMS channel's ``check_reply`` reads this.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["GSM7_BASIC", "GSM7_EXTENDED", "SegmentCount", "count_segments"]

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = frozenset("^{}\\[~]|€\f")


@dataclass(frozen=True)
class SegmentCount:
    """``encoding``, how many ``segments``, the ``units`` used (septets or UTF-16 code
    units) and how many more fit in the last segment (``remaining``)."""

    encoding: Literal["GSM-7", "UCS-2"]
    segments: int
    units: int
    per_segment: int
    remaining: int


def _units(text: str) -> tuple[Literal["GSM-7", "UCS-2"], list[int]]:
    if all(ch in GSM7_BASIC or ch in GSM7_EXTENDED for ch in text):
        return "GSM-7", [2 if ch in GSM7_EXTENDED else 1 for ch in text]
    return "UCS-2", [2 if ord(ch) > 0xFFFF else 1 for ch in text]


def count_segments(text: str) -> SegmentCount:
    """The segments ``text`` takes as an SMS (an empty text takes one)."""
    encoding, units = _units(text)
    single, split = (160, 153) if encoding == "GSM-7" else (70, 67)
    total = sum(units)
    if total <= single:
        return SegmentCount(encoding, 1, total, single, single - total)
    segments, used = 1, 0
    for size in units:
        if used + size > split:  # never split a character across segments
            segments, used = segments + 1, 0
        used += size
    return SegmentCount(encoding, segments, total, split, split - used)
