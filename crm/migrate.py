"""``python -m crm.migrate [URL]``: bring the CRM store at URL (else the first line of
stdin) to the newest schema revision.

The child process of ``crm.engine.migrate_apart``, which passes the URL on stdin (it may hold
a password): long-running processes migrate through it so they never load Alembic themselves.
Exits non-zero with the reason on stderr.
"""

from __future__ import annotations

import sys

from crm.engine import make_engine, migrate
from hub.errors import FatalError


def main(argv: list[str]) -> int:
    if len(argv) > 1:
        print("usage: python -m crm.migrate [URL]  (else the URL on stdin)", file=sys.stderr)
        return 2
    url = argv[0] if argv else sys.stdin.readline().strip()
    if not url:
        print("no CRM database URL: pass it as the argument or on stdin", file=sys.stderr)
        return 2
    try:
        migrate(make_engine(url))
    except FatalError as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
