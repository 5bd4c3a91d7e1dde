"""SMS segment counts (channels.sms_segments): GSM-7 160/153 with two-septet extension
characters, UCS-2 70/67 with surrogate pairs as two units, splits never cutting a character."""

from __future__ import annotations

import pytest

from channels.sms_segments import count_segments


@pytest.mark.parametrize(
    ("text", "encoding", "segments", "units"),
    [
        ("", "GSM-7", 1, 0),
        ("a" * 160, "GSM-7", 1, 160),
        ("a" * 161, "GSM-7", 2, 161),
        ("a" * 306, "GSM-7", 2, 306),
        ("a" * 307, "GSM-7", 3, 307),
        ("€" * 80, "GSM-7", 1, 160),  # extension characters take two septets
        ("€" * 81, "GSM-7", 2, 162),
        ("Grüße, Ærø! ¿Qué?", "GSM-7", 1, 17),
        ("é" * 160, "GSM-7", 1, 160),  # é is in the basic table
        ("ê" * 70, "UCS-2", 1, 70),  # ê is not
        ("ê" * 71, "UCS-2", 2, 71),
        ("😀" * 35, "UCS-2", 1, 70),  # outside the BMP: two UTF-16 units
        ("😀" * 36, "UCS-2", 2, 72),
        ("你好" * 67, "UCS-2", 2, 134),
    ],
)
def test_segments(text: str, encoding: str, segments: int, units: int) -> None:
    count = count_segments(text)
    assert (count.encoding, count.segments, count.units) == (encoding, segments, units)


def test_a_split_never_cuts_an_extension_character_or_a_surrogate_pair() -> None:
    # 152 plain + "€" (2 septets) = 154 > 153: the € starts segment two
    count = count_segments("a" * 152 + "€" + "a" * 10)
    assert (count.segments, count.remaining) == (2, 153 - 12)
    # 66 units + an emoji (2) = 68 > 67: the emoji starts segment two
    count = count_segments("ê" * 66 + "😀" + "ê" * 10)
    assert (count.segments, count.remaining) == (2, 67 - 12)


def test_remaining_in_a_single_segment() -> None:
    assert count_segments("hello").remaining == 155
    assert count_segments("hellö").remaining == 155  # ö is GSM-7
    assert count_segments("hellô").remaining == 65
