"""The Elasticsearch 8 knowledge base backend (see ``kb.elasticsearch.store``).

``store`` holds ``ElasticsearchKB`` (indices, writes with optimistic concurrency, reads),
``documents`` the indexed form of each document, ``query`` the mappings and the compilation
of the query AST and filters into query DSL, ``search`` runs searches.
"""

from kb.elasticsearch.store import ElasticsearchKB

__all__ = ["ElasticsearchKB"]
