"""``python -m cli`` runs the ``parley`` command (how tests and the flow runner start it)."""

from cli.main import main

main()
