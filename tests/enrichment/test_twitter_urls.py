"""The URL extraction port (enrichment/twitter_urls.py) against the twitter-text-parser package.

The package stays installed (the reply-length check uses it), so the port is checked against it
directly: the same regex pattern strings and flags, the same results on edge cases. The ingest
flow must not import it (nor pkg_resources, which it pulls in).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from twitter_text import extract_urls_with_indices as package_urls
from twitter_text.regexp.extract_url import extract_url
from twitter_text.regexp.invalid_url_without_protocol_preceding_chars import (
    invalid_url_without_protocol_preceding_chars as invalid_preceding,
)
from twitter_text.regexp.valid_ascii_domain import valid_ascii_domain
from twitter_text.regexp.valid_tco_url import valid_tco_url

from enrichment import twitter_urls


@pytest.mark.parametrize(
    ("mine", "theirs"),
    [
        (twitter_urls._EXTRACT_URL, extract_url),
        (twitter_urls._VALID_ASCII_DOMAIN, valid_ascii_domain),
        (twitter_urls._VALID_TCO_URL, valid_tco_url),
        (twitter_urls._INVALID_URL_WITHOUT_PROTOCOL_PRECEDING_CHARS, invalid_preceding),
    ],
)
def test_regexes_are_the_packages(mine: re.Pattern[str], theirs: re.Pattern[str]) -> None:
    assert mine.pattern == theirs.pattern
    assert mine.flags == theirs.flags


EDGE_CASES = [
    "",
    "no dot here",
    "http://twitter.com/これは日本語です。example.com中国語",
    "visit www.example.co.uk/path?q=1&r=2#frag, then http://日本語.jp and ftp.example.org.",
    "https://t.co/abcdef123?x=1/extra/path and https://t.co/" + "a" * 41,
    "sub.domain.example.com:8080/a_(b)_(c(d))/e?f=g http://example.com:99999",
    "-example.com _example.com .example.com /example.com @example.com $example.com #example.com",
    "foo.bar.example.travelersinsurance foo.travel foo.xn--p1ai bücher.de/straße",
    "\u202aexample.com\u200e http://\u0442\u0435\u0441\u0442.\u0440\u0444/\u043f\u0443\u0442\u044c",
    "a.com.b.org/x c.net?y=1 exa mple.com example.comx example.com-1 example.com+ (example.com)",
    "http://" + "a" * 64 + ".com http://" + "b" * 5000 + ".com/ www.lower.COM/UPPER",
]


@pytest.mark.parametrize("text", EDGE_CASES)
def test_same_urls_as_the_package(text: str) -> None:
    expected = [(item["url"], *item["indices"]) for item in package_urls(text)]
    assert twitter_urls.extract_urls_with_indices(text) == expected


def test_the_ingest_flow_imports_neither_twitter_text_nor_lazy_client_libraries() -> None:
    code = (
        "import sys, flows.ingest, enrichment.pipeline, channels;"
        "from enrichment.twitter_text import extract_urls;"
        "assert extract_urls('see https://t.co/abc and example.com/x') == "
        "['https://t.co/abc', 'example.com/x'];"
        "loaded = {'twitter_text', 'pkg_resources', 'tweepy', 'feedparser', 'bs4'} & set(sys.modules);"
        "assert not loaded, loaded"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[2], timeout=120)
