"""The composition root: the ``parley`` command and the bundled demo.

The one package that knows every other: it reads the settings once, opens the stores, builds
the dataflow and serves the API. Nothing imports it.
"""
