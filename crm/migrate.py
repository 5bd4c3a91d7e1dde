"""``python -m crm.migrate URL``: bring the CRM store at URL to the newest schema revision.

The child process of ``crm.engine.migrate_apart``: long-running processes migrate through it
so they never load Alembic themselves. Exits non-zero with the reason on stderr.
"""

from __future__ import annotations

import sys

from crm.engine import make_engine, migrate
from hub.errors import FatalError


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m crm.migrate URL", file=sys.stderr)
        return 2
    try:
        migrate(make_engine(argv[0]))
    except FatalError as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
