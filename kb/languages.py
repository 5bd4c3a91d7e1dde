"""Per-language text analysis: which stemmer and stop words a message's language gets.

Search follows the message's language: a French message is stemmed as French and an English
one as English, so an English stem never matches a French word (``battery`` does not find
"Ma batterie est morte", while the prefix ``batter*`` does). Both backends index text analysed
here, in Python, and compile queries from the same analysis, so they agree token for token:

* a message's **analysis** (:func:`analysis_for`) is its language's code when Parley has a
  Snowball stemmer for it (:data:`STEMMERS`), else :data:`PLAIN` (unknown or unsupported
  languages: folded, never stemmed, no stop words - no language's rules are guessed);
* :func:`analyse` folds and tokenizes (``kb.analysis.tokenize``), replaces the analysis's
  stop words by :data:`STOP` (a private-use character no tokenizer ever produces, so phrase
  positions are kept: ``"out of stock"`` still needs a word between "out" and "stock") and
  stems the rest;
* a query leaf is analysed once per analysis (:func:`analyse_leaf`): its words the same way,
  its leading and trailing stop words dropped, a trailing prefix stemmed but never taken for
  a stop word; a leaf made of stop words only matches nothing in that analysis. Analyses that
  read a leaf the same are grouped (:func:`leaf_variants`), so a word spelled alike in every
  language is one lookup.

English keeps the Porter stemmer the knowledge base has always used (the Snowball "porter"
algorithm FTS5's ``porter`` tokenizer implements).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from typing import Any

import snowballstemmer

from kb.analysis import tokenize

__all__ = [
    "PLAIN",
    "STEMMERS",
    "STOP",
    "STOP_WORDS",
    "analyse",
    "analyse_leaf",
    "analyse_token",
    "analysis_for",
    "leaf_variants",
]

#: the analysis of a language without a stemmer here (and of unknown language): fold only
PLAIN = "xx"
#: stands where a stop word was: keeps phrase positions, never produced by tokenizing text
STOP = "\ue000"

#: language code -> Snowball algorithm (``snowballstemmer``); English keeps Porter
STEMMERS: dict[str, str] = {
    "en": "porter",
    "fr": "french",
    "es": "spanish",
    "de": "german",
    "pt": "portuguese",
    "it": "italian",
    "nl": "dutch",
    "sv": "swedish",
    "da": "danish",
    "no": "norwegian",
    "fi": "finnish",
    "ru": "russian",
    "ro": "romanian",
    "hu": "hungarian",
    "tr": "turkish",
    "ca": "catalan",
}
#: language codes that are another code's analysis
_ALIASES = {"nb": "no", "nn": "no"}

# Function words only (folded, as text is indexed): negations ("not", "pas", "nicht", "no",
# "nao") are kept, because "not working" is what people search a support inbox for.
_STOP_TEXT = {
    "en": "a an and are as at be but by for if in into is it of on or such that the their then"
    " there these they this to was will with",
    "fr": "a au aux avec c ce ces d dans de des du elle en est et eux il ils j je l la le les leur"
    " lui m ma mais me mes moi mon n nos notre nous on ou par pour qu que qui s sa se ses son"
    " sont sur t ta te tes toi ton tu un une vos votre vous y",
    "es": "a al como con de del el en es esta este ha han la las le les lo los me mi mis muy nos o"
    " para pero por que se sin sobre su sus te tu un una unas unos y ya",
    "de": "aber als am an auch auf aus bei bin bis das dass dem den der des die dir du ein eine"
    " einem einen einer eines er es fur hat ich ihr im in ist ja mein meine mit nach noch oder"
    " sie sind so um und uns von vor war was wie wir zu zum zur",
    "pt": "a ao aos as com como da das de do dos e ela ele em era esta este eu foi isso isto lhe"
    " mais mas me meu minha na nas no nos o os ou para pela pelo por que se seu sua te tem um"
    " uma voce",
    "it": "a ad al alla che chi con da dal dalla del della di e ed gli ha ho i il in io la le lo"
    " ma mi mia mio ne nel nella o per su sono tra tu un una uno",
    "nl": "aan al als bij dat de die dit een en er het hij ik in is je maar me met mijn naar of"
    " om op te tot uit van voor was wat we zijn ze zo",
}
#: analysis -> its stop words (analyses not listed have none)
STOP_WORDS: dict[str, frozenset[str]] = {lang: frozenset(words.split()) for lang, words in _STOP_TEXT.items()}

#: each thread's own stemmers: a Snowball stemmer keeps the word it is stemming in the object,
#: so one shared by threads (the API's thread pool, ingest) cut one thread's word into another's
_THREAD_STEMMERS = threading.local()


def _stemmer(analysis: str) -> Any:
    """This thread's Snowball stemmer for ``analysis`` (one of :data:`STEMMERS`): the compiled
    one (PyStemmer, a dependency) where it is installed, else snowballstemmer's own Python."""
    stemmers: dict[str, Any] | None = getattr(_THREAD_STEMMERS, "stemmers", None)
    if stemmers is None:
        stemmers = _THREAD_STEMMERS.stemmers = {}
    stemmer = stemmers.get(analysis)
    if stemmer is None:
        stemmer = stemmers[analysis] = snowballstemmer.stemmer(STEMMERS[analysis])
    return stemmer


def analysis_for(language: str | None) -> str:
    """The analysis of text in ``language`` (a code such as "fr", "pt-BR"; None is unknown)."""
    code = (language or "").lower().replace("_", "-").split("-")[0]
    code = _ALIASES.get(code, code)
    return code if code in STEMMERS else PLAIN


def analyses() -> tuple[str, ...]:
    """Every analysis there is: each stemmed language, then :data:`PLAIN`."""
    return (*STEMMERS, PLAIN)


#: analysis -> token -> stem; a plain dict per analysis costs about half of an lru_cache
#: entry keyed by (analysis, token), and the stem of most tokens is the token itself
_STEMS: dict[str, dict[str, str]] = {analysis: {} for analysis in STEMMERS}
_STEMS_LIMIT = 65_536


def _stem(analysis: str, token: str) -> str:
    stems = _STEMS.get(analysis)
    if stems is None:
        return token
    found = stems.get(token)
    if found is None:
        stem = str(_stemmer(analysis).stemWord(token))
        found = token if stem == token else stem
        if len(stems) >= _STEMS_LIMIT:
            stems.clear()  # a crude bound: frequent words come back within a batch or two
        stems[token] = found
    return found


def analyse_token(token: str, analysis: str) -> str:
    """One folded token as ``analysis`` indexes it: :data:`STOP` for a stop word, else its stem."""
    if token in STOP_WORDS.get(analysis, ()):
        return STOP
    return _stem(analysis, token)


def analyse(text: str, analysis: str) -> list[str]:
    """The indexed tokens of ``text`` under ``analysis`` (see the module docstring)."""
    return [analyse_token(token, analysis) for token in tokenize(text)]


def analyse_leaf(tokens: Sequence[str], prefix: bool, analysis: str) -> tuple[str, ...] | None:
    """A query leaf's folded ``tokens`` as ``analysis`` indexes them, or None when it matches
    nothing there (only stop words). Leading and trailing stop words are dropped (a phrase
    does not ask for a word before or after it); a ``prefix`` last token is stemmed, never a
    stop word."""
    if not tokens:
        return None
    head = [analyse_token(token, analysis) for token in (tokens[:-1] if prefix else tokens)]
    tail = [_stem(analysis, tokens[-1])] if prefix else []
    while head and head[0] == STOP:
        head.pop(0)
    if not tail:
        while head and head[-1] == STOP:
            head.pop()
    analysed = tuple(head + tail)
    return analysed or None


def leaf_variants(
    tokens: Sequence[str], prefix: bool, among: Iterable[str]
) -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
    """(analysed tokens, the analyses reading the leaf so) for every analysis in ``among``
    under which the leaf can match, grouped; in a stable order (by first analysis)."""
    groups: dict[tuple[str, ...], list[str]] = {}
    for analysis in among:
        analysed = analyse_leaf(tokens, prefix, analysis)
        if analysed is not None:
            groups.setdefault(analysed, []).append(analysis)
    return [(analysed, tuple(names)) for analysed, names in groups.items()]
