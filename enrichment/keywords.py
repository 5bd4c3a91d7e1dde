"""Key phrases: a few lower-cased word sequences that say what a message is about.

RAKE-style and parser-free (the parser is excluded for speed): the text, with URLs, mentions,
hashtags and cashtags already masked out, is split at stop words, punctuation and emoji into
candidate phrases of one to three words; each word scores its degree / frequency and a phrase
the sum of its words; the best ``max_keywords`` distinct phrases are kept. Stop words come from
spaCy's list for the message's language (English when unknown) plus social-media filler.

Hashtags, mentions, cashtags and URLs are not key phrases: they have their own fields
(see enrichment.pipeline for how they are stored).
"""

from __future__ import annotations

import importlib.util
import re
from collections import Counter
from functools import cache
from pathlib import Path

__all__ = ["key_phrases", "stop_words"]

_SOCIAL_FILLER = frozenset(
    [
        "rt",
        "lol",
        "lmao",
        "lmfao",
        "omg",
        "wtf",
        "pls",
        "plz",
        "u",
        "ur",
        "im",
        "ive",
        "dont",
        "cant",
        "wont",
        "didnt",
        "isnt",
        "ya",
        "yeah",
        "yes",
        "no",
        "ok",
        "okay",
        "oh",
        "hey",
        "hi",
        "hello",
        "guys",
        "gonna",
        "wanna",
        "gotta",
        "got",
        "get",
        "just",
        "like",
        "really",
        "thing",
        "things",
        "amp",
        "via",
        "today",
        "tho",
        "tbh",
        "idk",
        "imo",
        "imho",
        "btw",
        "dm",
        "via",
        "new",
        "one",
    ]
)
_WORD = re.compile(r"[^\W_][\w'’-]*", re.UNICODE)
_POSSESSIVE = re.compile(r"['’]s$")
#: numbers, ordinals, times and decades are not topics ("19th", "8pm", "90s")
_NUMBERISH = re.compile(r"^\d+(?:[.,:]\d+)*(?:st|nd|rd|th|am|pm|s|k|m)?$")
_BREAK = re.compile(r"[^\w\s'’-]+|\s{2,}|\n")


@cache
def stop_words(language: str) -> frozenset[str]:
    """spaCy's stop words for ``language`` (English as the fallback) plus social filler."""
    for code in (language, "en"):
        words = _spacy_stop_words(code)
        if words is not None:
            return words | _SOCIAL_FILLER
    return _SOCIAL_FILLER


def _spacy_stop_words(code: str) -> frozenset[str] | None:
    # Load only spacy/lang/<code>/stop_words.py: importing the language package would also
    # compile its tokenizer exceptions (seconds for French), for a set of words.
    if not code.isalpha():
        return None
    spec = importlib.util.find_spec("spacy.lang")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / code / "stop_words.py"
    if not path.is_file():
        return None
    module_spec = importlib.util.spec_from_file_location(f"_parley_stop_words_{code}", path)
    if module_spec is None or module_spec.loader is None:
        return None
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return frozenset(getattr(module, "STOP_WORDS", ()))


def _is_filler(word: str, stops: frozenset[str]) -> bool:
    if word in stops or _NUMBERISH.match(word):
        return True
    # Contractions ("i'm", "she'll", "don't") are stop words in disguise.
    head, apostrophe, _ = word.replace("’", "'").partition("'")
    return bool(apostrophe) and (head in stops or head + "n" in stops or word.endswith(("n't", "n’t")))


def _candidates(text: str, stops: frozenset[str]) -> list[list[str]]:
    phrases: list[list[str]] = []
    for chunk in _BREAK.split(text.lower()):
        current: list[str] = []
        for word in _WORD.findall(chunk):
            word = _POSSESSIVE.sub("", word.strip("'’-"))
            if not word or _is_filler(word, stops) or not 2 <= len(word) <= 30:
                if current:
                    phrases.append(current)
                current = []
                continue
            current.append(word)
            if len(current) == 3:
                phrases.append(current)
                current = []
        if current:
            phrases.append(current)
    return phrases


def key_phrases(masked_text: str, language: str, limit: int) -> list[str]:
    """Up to ``limit`` key phrases of ``masked_text``, best first, lower-cased."""
    if limit <= 0 or not masked_text.strip():
        return []
    phrases = _candidates(masked_text, stop_words(language if language != "und" else "en"))
    if not phrases:
        return []
    frequency: Counter[str] = Counter()
    degree: Counter[str] = Counter()
    for phrase in phrases:
        for word in phrase:
            frequency[word] += 1
            degree[word] += len(phrase)
    scored: dict[str, float] = {}
    for phrase in phrases:
        if len(phrase) == 1 and len(phrase[0]) < 3:
            continue
        key = " ".join(phrase)
        scored[key] = sum(degree[w] / frequency[w] for w in phrase)
    ranked = sorted(scored.items(), key=lambda item: (-item[1], item[0]))
    return [phrase for phrase, _ in ranked[:limit]]
