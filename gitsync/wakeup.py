"""Noticing that the machine slept: the wall clock jumps ahead of the monotonic one.

Linux's monotonic clock stops while the machine is suspended and the wall clock does not,
so after a wake-up the wall clock has moved further than the monotonic one since the last
look. A worker that sees it rescans and syncs at once instead of waiting out a backoff
that was counted before the sleep. (A wall clock set forward by more than the threshold
looks the same; the cost is one harmless early scan.) Pure: both clocks are arguments.
"""

from __future__ import annotations

WAKE_THRESHOLD_S = 30.0


class WakeDetector:
    def __init__(self, threshold: float = WAKE_THRESHOLD_S) -> None:
        self.threshold = threshold
        self._last: tuple[float, float] | None = None

    def woke(self, monotonic: float, wall: float) -> bool:
        """True when, since the last call, WALL moved THRESHOLD seconds more than
        MONOTONIC."""
        last, self._last = self._last, (monotonic, wall)
        if last is None:
            return False
        return (wall - last[1]) - (monotonic - last[0]) > self.threshold
