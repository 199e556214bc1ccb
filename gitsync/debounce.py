"""When a batch of changed paths is ready to commit. Pure logic; time is a parameter.

A path is *settled* when no event has touched it for ``debounce`` seconds (deletes wait
``delete_delay`` longer, because office suites save by deleting or renaming the original
and renaming a temp file into place a moment later: that must read as one edit, not a
delete commit followed by an add commit). A batch is due as soon as a path settles, and
takes every settled path and every edit written within ``SAME_SAVE`` seconds of it, so the
files of one save (a document and its sidecar) land in one commit. A settled path never
waits for another
that is still being written: a version that stayed on disk for the debounce is committed
before the next save can replace it, however busy the rest of the folder is. A path written
without pause is forced into a batch once its oldest pending event is ``max_delay`` old.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

SAME_SAVE = 0.3  # seconds: edits this close to a settled one are taken with it


@dataclass
class _Pending:
    first: float
    last: float
    deleted: bool


class Debouncer:
    def __init__(self, debounce: float = 1.0, max_delay: float = 10.0,
                 delete_delay: float = 2.0) -> None:
        self.debounce = debounce
        self.max_delay = max(max_delay, debounce)
        self.delete_delay = delete_delay
        self._pending: dict[str, _Pending] = {}

    def __len__(self) -> int:
        return len(self._pending)

    @property
    def paths(self) -> list[str]:
        return sorted(self._pending)

    def touch(self, path: str, now: float, *, deleted: bool = False) -> None:
        p = self._pending.get(path)
        if p is None:
            self._pending[path] = _Pending(now, now, deleted)
        else:
            p.last = now
            p.deleted = deleted

    def _quiet_for(self, p: _Pending) -> float:
        return self.debounce + (self.delete_delay if p.deleted else 0.0)

    def _ready(self, p: _Pending, now: float) -> bool:
        # Settled, or written without pause for max_delay (a delete never is forced: it may
        # yet turn out to be half of an office save)
        return now - p.last >= self._quiet_for(p) or (
            not p.deleted and now - p.first >= self.max_delay)

    def due(self, now: float) -> list[str]:
        """The paths to commit now (possibly none); they leave the pending set."""
        batch = sorted(k for k, p in self._pending.items() if self._ready(p, now))
        if batch:  # the rest of the same save: edits nearly settled, written with it
            near = now - self.debounce + min(SAME_SAVE, self.debounce / 2)
            batch = sorted({*batch, *(k for k, p in self._pending.items()
                                      if not p.deleted and p.last <= near)})
        for k in batch:
            del self._pending[k]
        return batch

    def next_deadline(self) -> float | None:
        """The earliest time at which :meth:`due` may return something."""
        if not self._pending:
            return None
        return min(min(p.last + self._quiet_for(p), p.first + self.max_delay)
                   if not p.deleted else p.last + self._quiet_for(p)
                   for p in self._pending.values())

    def clear(self) -> None:
        self._pending.clear()

    def requeue(self, paths: Iterable[str], now: float) -> None:
        """Put back paths a commit could not take yet (still being written, unreadable)."""
        for path in paths:
            if path not in self._pending:
                self._pending[path] = _Pending(now, now, False)
