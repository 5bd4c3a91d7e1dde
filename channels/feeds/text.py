"""HTML fragments (feed summaries and content) to searchable plain text."""

from __future__ import annotations

import re
from html.parser import HTMLParser

__all__ = ["html_to_text", "looks_like_html"]

_BLOCKS = frozenset(
    {
        "address",
        "article",
        "aside",
        "blockquote",
        "br",
        "dd",
        "div",
        "dl",
        "dt",
        "figcaption",
        "figure",
        "footer",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hr",
        "li",
        "main",
        "nav",
        "ol",
        "p",
        "pre",
        "section",
        "table",
        "td",
        "th",
        "tr",
        "ul",
    }
)
_DROP = ("script", "style", "template", "noscript")
_SPACES = re.compile(r"[ \t\r\f\v\u00a0]+")
_BLANK_LINES = re.compile(r"\n\s*\n+")
_TAG = re.compile(r"<[a-zA-Z!/][^>]*>")


def looks_like_html(value: str) -> bool:
    """Whether ``value`` contains markup (feed text constructs may be plain text)."""
    return bool(_TAG.search(value))


def html_to_text(html: str) -> str:
    """Visible text of ``html``: blocks become lines, runs of whitespace collapse."""
    if "<" not in html and "&" not in html:
        return _tidy(html)
    extractor = _TextExtractor()
    extractor.feed(html)
    extractor.close()
    return _tidy("".join(extractor.parts))


class _TextExtractor(HTMLParser):
    # The stdlib tokenizer, without building a tree: feeds carry many small fragments and a
    # tree per fragment (BeautifulSoup) was most of the parse step's time.
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _DROP:
            self._hidden += 1
        elif tag in _BLOCKS:
            self.parts.append("\n")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _DROP:
            self._hidden = max(self._hidden - 1, 0)
        elif tag in _BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


def _tidy(text: str) -> str:
    lines = (_SPACES.sub(" ", line).strip() for line in text.splitlines())
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()
