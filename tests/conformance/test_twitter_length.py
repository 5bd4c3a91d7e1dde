"""The replier counts a tweet's length as X does: twitter-text's weighted-length conformance
cases (v3: emoji discounted, the rules X applies today) all give the expected length and
validity (skips without the corpora)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from channels.twitter.replier import MAX_WEIGHTED_LENGTH, weighted_length

SUITE = "twitter/twitter_text_conformance/validate.yml"
SECTIONS = ("WeightedTweetsWithDiscountedEmojiCounterTest", "UnicodeDirectionalMarkerCounterTest")


def _cases(corpora: Path) -> list[dict[str, Any]]:
    path = corpora / SUITE
    if not path.is_file():
        pytest.skip(f"{path} not found")
    with path.open(encoding="utf-8") as handle:
        tests = yaml.safe_load(handle)["tests"]
    return [case for section in SECTIONS for case in tests[section]]


def test_every_weighted_length_case_passes(corpora: Path) -> None:
    failures = []
    cases = _cases(corpora)
    for case in cases:
        expected = case["expected"]
        length = weighted_length(case["text"])
        fits = length <= MAX_WEIGHTED_LENGTH
        if length != expected["weightedLength"] or (expected["valid"] and not fits):
            failures.append(f"{case['description']}: {length} (expected {expected['weightedLength']})")
    assert len(cases) >= 20
    assert not failures, "\n".join(failures)
