"""The feeds channel: RSS 0.9x/1.0/2.0, Atom 0.3/1.0, RDF and forum feeds (Discourse, Reddit).

``parse.PARSERS`` turns a feed document (one envelope of kind ``feed``) into one message per
entry; ``source.FeedSource`` polls configured feeds politely (conditional GET, backoff, size
limit) and emits those envelopes; ``registry.FeedRegistry`` holds the feeds added at runtime
through the API. Feeds are read-only: this channel has no replier.
"""
