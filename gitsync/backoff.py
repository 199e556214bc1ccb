"""Retry delays that double up to a cap: one policy for every "try again later" in gitsync.

Pure: no clock and no sleeping. The caller asks for the next delay when an attempt failed
and resets after a success (or, for a connection, after it stayed up long enough).
"""

from __future__ import annotations


class Backoff:
    """``start``, ``2*start``, ``4*start``... up to ``cap``.

    ``next_delay(connected_for)`` also serves long-lived connections: one that stayed up for
    ``stable_after`` seconds counts as healthy, so the next break retries after ``start``
    again, while a host that drops every connection at once keeps backing off.
    """

    def __init__(self, start: float = 1.0, cap: float = 60.0,
                 stable_after: float = 30.0) -> None:
        self.start = start
        self.cap = cap
        self.stable_after = stable_after
        self._next = start
        self.failures = 0

    def next_delay(self, connected_for: float | None = None) -> float:
        """Seconds to wait after a failed attempt (``connected_for``: how long a connection
        was up before it broke, None if it never came up)."""
        if connected_for is not None and connected_for >= self.stable_after:
            self.reset()
        delay = self._next
        self._next = min(self._next * 2, self.cap)
        self.failures += 1
        return delay

    def reset(self) -> None:
        self._next = self.start
        self.failures = 0
