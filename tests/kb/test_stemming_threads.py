"""Stemming from many threads at once: each word gets the stem it gets alone.

Snowball's stemmers keep the word being stemmed in the stemmer object, so one object shared
by threads (the server answers requests in a thread pool, ingest stems in its own) let one
thread's word be cut into another's: wrong stems (kept in the stem cache, then indexed and
searched for) or an ``IndexError`` in the middle of a search.
"""

from __future__ import annotations

import importlib
import sys
import threading
from collections.abc import Iterator

import pytest

import kb.languages as languages
from kb.languages import STEMMERS

WORDS = [
    f"{stem}{suffix}"
    for stem in ("verwalt", "batteri", "connect", "organis", "nation")
    for suffix in (
        "ungen",
        "ement",
        "ations",
        "iques",
        "ingly",
        "ierten",
        "ização",
        "lichkeiten",
        "ness",
        "e",
    )
]


@pytest.fixture
def switching_often() -> Iterator[None]:
    """Threads switched every microsecond: a race shows within a few hundred words."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(before)


def test_threads_stem_every_word_as_it_stems_alone(switching_often: None) -> None:
    alone = {
        (analysis, word): languages._stemmer(analysis).stemWord(word)
        for analysis in STEMMERS
        for word in WORDS
    }
    failures: list[BaseException] = []
    wrong: list[tuple[str, str, str]] = []

    def stem_all() -> None:
        try:
            for _ in range(10):
                for (analysis, word), expected in alone.items():
                    got = languages._stemmer(analysis).stemWord(word)
                    if got != expected:
                        wrong.append((analysis, word, got))
        except BaseException as exc:  # an IndexError from a stemmer shared mid-word
            failures.append(exc)

    threads = [threading.Thread(target=stem_all) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures
    assert not wrong


def test_the_compiled_stemmers_give_the_stems_of_snowballs_python_ones() -> None:
    """Parley stems with PyStemmer (compiled); an index written with snowballstemmer's pure
    Python stemmers (where PyStemmer is missing) must be searched with the same stems."""
    import Stemmer

    words = [*WORDS, "batteries", "batterie", "running", "généralement", "organisations", "häuser"]
    words += ["connected", "nationale", "verwaltungen", "çalışmalar", "működés", "bättre", "ytterligare"]
    for analysis, algorithm in STEMMERS.items():
        assert isinstance(languages._stemmer(analysis), Stemmer.Stemmer)
        module = importlib.import_module(f"snowballstemmer.{algorithm}_stemmer")
        pure = getattr(module, f"{algorithm.capitalize()}Stemmer")()
        assert [languages._stemmer(analysis).stemWord(w) for w in words] == [
            pure.stemWord(w) for w in words
        ], analysis
