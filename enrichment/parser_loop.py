"""A spaCy pipeline's greedy parsers (NER) run with the GIL held through their transition loop.

``Parser.greedy_parse`` releases the GIL for its compiled transition loop, and in spaCy 3.8's
wheels (compiled by Cython 3.3) that loop takes the GIL state back and releases it around
each move's validity check: ``Begin_is_valid``, ``Unit_is_valid`` and ``Last_is_valid`` call
``PyGILState_Ensure``/``PyGILState_Release`` several times each (seen in the wheel's
disassembly), and a parse checks every move at every step. With the GIL released, each pair is
a mutex round trip: in ``py-spy --native`` of raw NER over 12,000 tweets, a third of the
samples were in ``pthread_mutex_lock`` and its neighbours under ``set_valid``.

:func:`pipe_holding_gil` runs the same loop from Python instead. The scores come from the
parser's own step model (``ParserStepModel.predict``, the forward pass its training uses) and
the moves from ``Parser.transition_states`` (the same compiled ``c_transition_batch``, called
with the GIL held, so each of those pairs is a check on the thread's own state). Same weights,
same operations, same order of documents: the entities are identical (tests compare them with
``nlp.pipe`` on real tweets), and NER takes about half the time (bench/README.md, session 14).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, TypeGuard

from hub.iterables import batched

if TYPE_CHECKING:  # spaCy is imported where a pipeline is loaded, not with this module
    from spacy.language import Language
    from spacy.pipeline.transition_parser import Parser
    from spacy.tokens import Doc

__all__ = ["holds_gil", "parse_holding_gil", "pipe_holding_gil"]


def holds_gil(component: object) -> TypeGuard[Parser]:
    """Does :func:`pipe_holding_gil` run ``component`` itself? A greedy parser (beam width 1,
    as NER and the dependency parser ship) on the CPU; any other component runs its own
    ``pipe``."""
    from spacy.pipeline.transition_parser import Parser
    from thinc.api import NumpyOps

    if not isinstance(component, Parser):
        return False
    greedy = component.cfg.get("beam_width", 1) == 1
    return greedy and isinstance(component.model.ops, NumpyOps)


def pipe_holding_gil(nlp: Language, texts: Iterable[str], batch_size: int) -> Iterator[Doc]:
    """What ``nlp.pipe(texts, batch_size=batch_size)`` yields: the docs in order, each through
    every component of ``nlp.pipeline``, greedy parsers by :func:`parse_holding_gil`."""
    for chunk in batched(texts, batch_size):
        docs = [nlp.make_doc(text) for text in chunk]
        for _, component in nlp.pipeline:
            if holds_gil(component):
                _annotate(component, docs, batch_size)
            elif hasattr(component, "pipe"):
                docs = list(component.pipe(docs, batch_size=batch_size))
            else:
                docs = [component(doc) for doc in docs]
        yield from docs


def _annotate(parser: Parser, docs: list[Doc], batch_size: int) -> None:
    # As Parser.pipe: shortest first, in sub-batches of a quarter, so that the states of a
    # sub-batch end at about the same step.
    by_length = sorted(docs, key=len)
    for sub_batch in batched(by_length, max(batch_size // 4, 2)):
        parser.set_annotations(sub_batch, parse_holding_gil(parser, sub_batch))


def parse_holding_gil(parser: Parser, docs: list[Doc]) -> list[Any]:
    """The parse states ``parser.greedy_parse(docs)`` returns, found with the GIL held."""
    parser._ensure_labels_are_added(docs)
    batch: list[Any] = parser.moves.init_batch(docs)
    if not any(len(doc) for doc in docs):
        return batch
    step_model = parser.model.predict(docs)
    states = [state for state in batch if not state.is_final()]
    while states:
        states = parser.transition_states(states, step_model.predict(states))
    step_model.clear_memory()
    return batch
