"""The embedded knowledge base backend: one SQLite file with FTS5 (see ``kb.sqlite.store``).

``store`` holds ``SQLiteKB`` (schema, writes, reads), ``query`` compiles the query AST and
filters into SQL, ``message_search`` and ``conversation_search`` run searches (hits, totals,
facets, histograms) over what they share in ``plans``.
"""

from kb.sqlite.store import SQLiteKB

__all__ = ["SQLiteKB"]
