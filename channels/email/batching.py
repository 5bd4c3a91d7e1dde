"""How many messages one IMAP ``UID FETCH`` asks for: shrink on timeouts, grow back on success.

A catch-up fetches ``fetch_batch`` messages under one command timeout. Large attachments on a
slow link can make every such fetch time out, so the cursor would never advance (a livelock).
:class:`FetchBatchPolicy` halves the batch after each timed-out fetch, down to one message,
and doubles it again after ``grow_after`` successful fetches in a row, up to the configured
size. A single message that still times out on its own ``give_up_after`` times is *exhausted*:
the source dead-letters it (naming its UID) and moves the cursor past it, so one unfetchable
message neither blocks the folder nor disappears silently.

Pure bookkeeping, no I/O; it lives for the partition's process (not in the resume state, which
stays exactly the cursor): after a restart the first fetches start again at full size.
"""

from __future__ import annotations

__all__ = ["FetchBatchPolicy"]


class FetchBatchPolicy:
    """The current fetch batch size and the timed-out attempts of a lone message."""

    def __init__(self, max_size: int, *, give_up_after: int, grow_after: int = 3) -> None:
        if max_size < 1 or give_up_after < 1 or grow_after < 1:
            raise ValueError("batch size, attempts and growth interval must be at least 1")
        self.max_size = max_size
        self.give_up_after = give_up_after
        self.grow_after = grow_after
        self.size = max_size
        self._successes = 0
        #: (uid, timed-out fetches of it alone)
        self._stuck: tuple[int, int] | None = None

    def timed_out(self, first_uid: int) -> None:
        """A fetch starting at ``first_uid`` timed out: halve the batch, or count the attempt."""
        self._successes = 0
        if self.size > 1:
            self.size = max(1, self.size // 2)
            return
        count = self._stuck[1] if self._stuck is not None and self._stuck[0] == first_uid else 0
        self._stuck = (first_uid, count + 1)

    def succeeded(self) -> None:
        """A fetch completed in time: after enough in a row, double the batch again."""
        self._stuck = None
        self._successes += 1
        if self._successes >= self.grow_after and self.size < self.max_size:
            self.size = min(self.max_size, self.size * 2)
            self._successes = 0

    def attempts(self, uid: int) -> int:
        """How many times ``uid`` timed out when fetched alone."""
        return self._stuck[1] if self._stuck is not None and self._stuck[0] == uid else 0

    def exhausted(self, uid: int) -> bool:
        """True when ``uid`` alone timed out ``give_up_after`` times: skip it (dead letter)."""
        return self.size == 1 and self.attempts(uid) >= self.give_up_after

    def skipped(self, uid: int) -> None:
        """``uid`` was dead-lettered; the messages after it start with a clean count."""
        if self._stuck is not None and self._stuck[0] == uid:
            self._stuck = None
