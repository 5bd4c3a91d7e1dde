"""Every case of twitter-text's extract conformance suite passes (skips without the corpora)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from enrichment import twitter_text as tt

SUITE = "twitter/twitter_text_conformance/extract.yml"


def _load(corpora: Path) -> dict[str, list[dict[str, Any]]]:
    path = corpora / SUITE
    if not path.is_file():
        pytest.skip(f"{path} not found")
    with path.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)["tests"]


def _indices(entities: list[tt.TextEntity], key: str) -> list[dict[str, Any]]:
    return [{key: e.value, "indices": [e.start, e.end]} for e in entities]


def _run(section: str, text: str) -> Any:
    if section == "mentions":
        return tt.extract_mentioned_screen_names(text)
    if section == "mentions_with_indices":
        return _indices(tt.extract_mentioned_screen_names_with_indices(text), "screen_name")
    if section == "mentions_or_lists_with_indices":
        return [
            {"screen_name": e.value, "list_slug": e.list_slug, "indices": [e.start, e.end]}
            for e in tt.extract_mentions_or_lists_with_indices(text)
        ]
    if section == "replies":
        return tt.extract_reply_screen_name(text)
    if section in {"urls", "tco_urls_with_params"}:
        return tt.extract_urls(text)
    if section in {"urls_with_indices", "urls_with_directional_markers"}:
        return _indices(tt.extract_urls_with_indices(text), "url")
    if section in {"hashtags", "hashtags_from_astral"}:
        return tt.extract_hashtags(text)
    if section == "hashtags_with_indices":
        return _indices(tt.extract_hashtags_with_indices(text), "hashtag")
    if section == "cashtags":
        return tt.extract_cashtags(text)
    if section == "cashtags_with_indices":
        return _indices(tt.extract_cashtags_with_indices(text), "cashtag")
    raise AssertionError(f"conformance section {section!r} has no extractor: implement it")


def test_every_extract_case_passes(corpora: Path) -> None:
    suite = _load(corpora)
    failures: list[str] = []
    count = 0
    for section, cases in suite.items():
        for case in cases:
            count += 1
            got = _run(section, case["text"])
            if got != case["expected"]:
                failures.append(f"{section}: {case['description']}: {got!r} != {case['expected']!r}")
    assert count > 200, "the suite shrank unexpectedly"
    assert not failures, f"{len(failures)}/{count} cases fail:\n" + "\n".join(failures)
