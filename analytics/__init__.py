"""Analytics: the tables and charts marketers and team leads read.

Pure where it can be: :mod:`analytics.inbox` folds the event log into response times, backlog
and workload; :mod:`analytics.charts` draws SVG; :mod:`analytics.tables` renders a table as CSV
or HTML; :mod:`analytics.report` assembles a self-contained HTML page. The stores are read by
the callers (the API routes and the ``parley report`` command), never here.
"""
