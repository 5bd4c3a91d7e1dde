"""URL extraction as twitter-text does it: a port of the ``twitter-text-parser`` package's.

This is a port of the URL extraction of ``twitter-text-parser`` 3.0.0 (import name
``twitter_text``; ``twitter_text/extract_urls.py`` and the ``twitter_text/regexp`` modules it
uses), itself a Python port of Twitter's ``twitter-text`` (Apache License 2.0). It exists so that
extracting URLs never imports that package: importing anything from it runs its
``__init__``, which loads its tweet parser and, through its emoji table, ``pkg_resources``
(about 18 MiB resident in every ingest process). The package stays a dependency for the tweet
length check (channels/twitter/reply_rules.py), which imports it on first use.

Contract: :func:`extract_urls_with_indices` returns what the package's function of the same name
returns, as ``(url, start, end)`` tuples instead of ``{"url", "indices"}`` dicts; the regexes are
assembled to the very pattern strings and flags the package compiles (tests/conformance checks
both against the installed package), and the matching loop is the package's, statement for
statement. The TLD lists are in enrichment/twitter_tlds.py.

Licence of the ported code (twitter-text-parser, MIT)::

    The MIT License (MIT)
    Copyright (c) 2019 swen128

    Permission is hereby granted, free of charge, to any person obtaining a copy of this software
    and associated documentation files (the "Software"), to deal in the Software without
    restriction, including without limitation the rights to use, copy, modify, merge, publish,
    distribute, sublicense, and/or sell copies of the Software, and to permit persons to whom the
    Software is furnished to do so, subject to the following conditions:

    The above copyright notice and this permission notice shall be included in all copies or
    substantial portions of the Software.

    THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING
    BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND
    NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM,
    DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
    OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.
"""

from __future__ import annotations

import re
from functools import lru_cache

from enrichment.twitter_tlds import CCTLD_ALTERNATION, GTLD_ALTERNATION

__all__ = ["extract_urls_with_indices"]

# The package builds each regex by substituting ``#{name}`` in a template with the pattern
# string of another (regex_supplant). Concatenation below yields the same strings; each
# constant is named after the package module (twitter_text/regexp/<name>.py) it ports.
# Python's ``re`` is kept, not ``regex``: the same engine is what makes the port exact.
_PUNCT = r"\!'#%&'\(\)*\+,\\\-\.\/:;<=>\?@\[\]\^_{|}~\$/"
_SPACES_GROUP = r"\x09-\x0D\x20\x85\xA0\u1680\u180E\u2000-\u200A\u2028\u2029\u202F\u205F\u3000"
_INVALID_CHARS_GROUP = r"\uFFFE\uFEFF\uFFFF"
_DIRECTIONAL_MARKERS_GROUP = r"\u202A-\u202E\u061C\u200E\u200F\u2066\u2067\u2068\u2069"
_LATIN_ACCENT_CHARS = (
    r"\xC0-\xD6\xD8-\xF6\xF8-\xFF\u0100-\u024F\u0253\u0254\u0256\u0257\u0259\u025B\u0263\u0268"
    r"\u026F\u0272\u0289\u028B\u02BB\u0300-\u036F\u1E00-\u1EFF"
)
_CYRILLIC_LETTERS_AND_MARKS = r"\u0400-\u04FF"

_INVALID_DOMAIN_CHARS = _PUNCT + _SPACES_GROUP + _INVALID_CHARS_GROUP + _DIRECTIONAL_MARKERS_GROUP
_VALID_DOMAIN_CHARS = "[^" + _INVALID_DOMAIN_CHARS + "]"
_VALID_SUBDOMAIN = (
    "(?:(?:" + _VALID_DOMAIN_CHARS + "(?:[_-]|" + _VALID_DOMAIN_CHARS + ")*)?"
    + _VALID_DOMAIN_CHARS + r"\.)"
)  # fmt: skip
_VALID_DOMAIN_NAME = (
    "(?:(?:" + _VALID_DOMAIN_CHARS + "(?:-|" + _VALID_DOMAIN_CHARS + ")*)?"
    + _VALID_DOMAIN_CHARS + r"\.)"
)  # fmt: skip
# A TLD counts only when no letter, digit, "@", "+" or "-" follows it.
_VALID_GTLD = "(?:(?:" + GTLD_ALTERNATION + ")(?=[^0-9a-zA-Z@+-]|$))"
_VALID_CCTLD = "(?:(?:" + CCTLD_ALTERNATION + ")(?=[^0-9a-zA-Z@+-]|$))"
_VALID_PUNYCODE = r"(?:xn--[\-0-9a-z]+)"
_VALID_DOMAIN = (
    "(?:" + _VALID_SUBDOMAIN + "*" + _VALID_DOMAIN_NAME
    + "(?:" + _VALID_GTLD + "|" + _VALID_CCTLD + "|" + _VALID_PUNYCODE + "))"
)  # fmt: skip
_VALID_PORT_NUMBER = r"[0-9]+"

_VALID_GENERAL_URL_PATH_CHARS = (
    "[a-z" + _CYRILLIC_LETTERS_AND_MARKS + r"0-9!\*';:=\+,\.\$\/%#\[\]\-\u2013_~@\|&"
    + _LATIN_ACCENT_CHARS + "]"
)  # fmt: skip
_GENERAL = _VALID_GENERAL_URL_PATH_CHARS
# One nested level of balanced parentheses is allowed (Wikipedia-style paths).
_VALID_URL_BALANCED_PARENS = (
    r"\(" + "(?:" + _GENERAL + "+" + "|"
    + "(?:" + _GENERAL + "*" + r"\(" + _GENERAL + "+" + r"\)" + _GENERAL + "*" + ")"
    + ")" + r"\)"
)  # fmt: skip
_VALID_URL_PATH_ENDING_CHARS = (
    r"[\+\-a-z" + _CYRILLIC_LETTERS_AND_MARKS + r"0-9=_#\/" + _LATIN_ACCENT_CHARS + "]"
    + "|(?:" + _VALID_URL_BALANCED_PARENS + ")"
)  # fmt: skip
_VALID_URL_PATH = (
    "(?:(?:" + _GENERAL + "*" + "(?:" + _VALID_URL_BALANCED_PARENS + _GENERAL + "*)*"
    + _VALID_URL_PATH_ENDING_CHARS + ")|(?:@" + _GENERAL + "+/))"
)  # fmt: skip
_VALID_URL_QUERY_CHARS = r"[a-z0-9!?*'@();:&=+$/%#\[\]\-_.,~|]"
_VALID_URL_QUERY_ENDING_CHARS = r"[a-z0-9\-_&=#/]"
_VALID_URL_PRECEDING_CHARS = (
    "(?:[^A-Za-z0-9@＠$#＃" + _INVALID_CHARS_GROUP + "]|[" + _DIRECTIONAL_MARKERS_GROUP + "]|^)"
)

EXTRACT_URL_PATTERN = (
    "("  # 1: the whole match
    + "(" + _VALID_URL_PRECEDING_CHARS + ")"  # 2: the preceding character
    + "("  # 3: the URL
    + r"(https?:\/\/)?"  # 4: protocol (optional)
    + "(" + _VALID_DOMAIN + ")"  # 5: domain(s)
    + "(?::(" + _VALID_PORT_NUMBER + "))?"  # 6: port number (optional)
    + r"(\/" + _VALID_URL_PATH + "*)?"  # 7: path
    + r"(\?" + _VALID_URL_QUERY_CHARS + "*" + _VALID_URL_QUERY_ENDING_CHARS + ")?"  # 8: query
    + ")"
    + ")"
)  # fmt: skip
VALID_ASCII_DOMAIN_PATTERN = (
    r"(?:(?:[\-a-z0-9" + _LATIN_ACCENT_CHARS + r"]+)\.)+"
    + "(?:" + _VALID_GTLD + "|" + _VALID_CCTLD + "|" + _VALID_PUNYCODE + ")"
)  # fmt: skip
VALID_TCO_URL_PATTERN = (
    r"^https?:\/\/t\.co\/([a-z0-9]+)"
    + r"(?:\?" + _VALID_URL_QUERY_CHARS + "*" + _VALID_URL_QUERY_ENDING_CHARS + ")?"
)  # fmt: skip
INVALID_URL_WITHOUT_PROTOCOL_PRECEDING_CHARS_PATTERN = r"[-_./]$"

_EXTRACT_URL = re.compile(EXTRACT_URL_PATTERN, re.IGNORECASE)
_VALID_ASCII_DOMAIN = re.compile(VALID_ASCII_DOMAIN_PATTERN, re.IGNORECASE)
_VALID_TCO_URL = re.compile(VALID_TCO_URL_PATTERN, re.IGNORECASE)
_INVALID_URL_WITHOUT_PROTOCOL_PRECEDING_CHARS = re.compile(
    INVALID_URL_WITHOUT_PROTOCOL_PRECEDING_CHARS_PATTERN
)

_DEFAULT_PROTOCOL = "https://"
_MAX_URL_LENGTH = 4096
_MAX_TCO_SLUG_LENGTH = 40


def extract_urls_with_indices(text: str) -> list[tuple[str, int, int]]:
    """Valid URLs in ``text`` (with or without protocol) as ``(url, start, end)``, in order.

    Indices are code-point offsets (``str`` indices). Same results as the package's
    ``extract_urls_with_indices(text)`` (``extract_urls_without_protocol=True``, the default).
    Raises whatever the package's would (nothing known beyond ``re``'s own limits).
    """
    if text == "" or "." not in text:
        return []
    urls: list[tuple[str, int, int]] = []
    for url_match in _EXTRACT_URL.finditer(text):
        _, before, url, protocol, domain, _, path, _ = url_match.groups()
        end_position = url_match.end()
        start_position = end_position - len(url)

        if not _is_valid_url(url, protocol or _DEFAULT_PROTOCOL, domain):
            continue

        if protocol is None:
            # Without a protocol only ASCII-only domains are extracted.
            if _INVALID_URL_WITHOUT_PROTOCOL_PRECEDING_CHARS.match(before):
                continue
            found = False
            for ascii_domain_match in _VALID_ASCII_DOMAIN.finditer(domain):
                urls.append(
                    (
                        ascii_domain_match.group(0),
                        start_position + ascii_domain_match.start(),
                        start_position + ascii_domain_match.end(),
                    )
                )
                found = True
            if not found:
                continue
            # The last domain found takes the URL's path and query, if any (the package
            # mutates its last dict; here the last tuple, the list's, is replaced).
            if path:
                ascii_domain, ascii_start, _ = urls[-1]
                urls[-1] = (url.replace(domain, ascii_domain), ascii_start, end_position)
        else:
            # A t.co URL takes no path characters beyond its slug (and query).
            tco_url_match = _VALID_TCO_URL.search(url)
            if tco_url_match:
                tco_url_slug = tco_url_match.group(1)
                if tco_url_slug and len(tco_url_slug) > _MAX_TCO_SLUG_LENGTH:
                    continue
                url = tco_url_match.group(0)
                end_position = start_position + len(url)
            urls.append((url, start_position, end_position))
    return urls


def _is_valid_url(url: str, protocol: str, domain: str) -> bool:
    puny_encoded_domain = _idna_to_ascii(domain)
    if not puny_encoded_domain:
        return False
    url_length = len(url) + len(puny_encoded_domain) - len(domain)
    return len(protocol) + url_length <= _MAX_URL_LENGTH


# Domains repeat across messages (t.co above all) and the IDNA codec is the loop's costliest
# call; its result depends on the domain alone.
@lru_cache(maxsize=2048)
def _idna_to_ascii(domain: str) -> str | None:
    """The domain in Punycode (IDNA 2003, Python's codec), or None where the codec rejects it."""
    try:
        return domain.encode("idna").decode("ascii")
    except Exception:  # the package treats any codec failure as an invalid domain
        return None
