"""Real mbox files (../shared/corpora/email): the hub's mbox reader finds the very messages the
stdlib ``mailbox`` module finds, byte for byte, where the box is well formed."""

from __future__ import annotations

import mailbox
from pathlib import Path

import pytest

from channels.email.mbox import split_mbox


def test_well_formed_boxes_split_as_the_stdlib_splits_them(corpora: Path) -> None:
    boxes = sorted((corpora / "email").rglob("*.mbox"))
    if not boxes:
        pytest.skip("no mbox files in the email corpus")
    for path in boxes:
        stdlib = mailbox.mbox(path, create=False)
        try:
            expected = [stdlib.get_bytes(key) for key in stdlib.iterkeys()]
        finally:
            stdlib.close()
        with path.open("rb") as fh:
            found = list(split_mbox(fh, keep=1 << 30))
        assert [c.index for c in found] == list(range(len(expected))), path.name
        assert [c.raw for c in found] == expected, path.name
        assert not any(c.has_nul for c in found)
