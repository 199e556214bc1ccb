"""When a batch of changed paths is ready to commit. Pure logic; time is a parameter.

A path is *settled* when no event has touched it for ``debounce`` seconds (deletes wait
``delete_delay`` longer, because office suites save by deleting or renaming the original
and renaming a temp file into place a moment later: that must read as one edit, not a
delete commit followed by an add commit). A batch is due when every pending path has
settled, so the files of one save (a document and its sidecar) land in one commit; under
continuous writes a batch is forced once the oldest pending event is ``max_delay`` old.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


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

    def due(self, now: float) -> list[str]:
        """The paths to commit now (possibly none); they leave the pending set."""
        if not self._pending:
            return []
        settled = [k for k, p in self._pending.items() if now - p.last >= self._quiet_for(p)]
        if len(settled) == len(self._pending):
            batch = settled
        elif now - min(p.first for p in self._pending.values()) >= self.max_delay:
            # Forced: take everything except deletes still inside their hold-back window,
            # which may yet turn out to be half of an office save.
            batch = [k for k, p in self._pending.items()
                     if not p.deleted or now - p.last >= self._quiet_for(p)]
        else:
            return []
        for k in batch:
            del self._pending[k]
        return sorted(batch)

    def next_deadline(self) -> float | None:
        """The earliest time at which :meth:`due` may return something."""
        if not self._pending:
            return None
        all_settled = max(p.last + self._quiet_for(p) for p in self._pending.values())
        forced = min(p.first for p in self._pending.values()) + self.max_delay
        return min(all_settled, forced)

    def clear(self) -> None:
        self._pending.clear()

    def requeue(self, paths: Iterable[str], now: float) -> None:
        """Put back paths a commit could not take yet (still being written, unreadable)."""
        for path in paths:
            if path not in self._pending:
                self._pending[path] = _Pending(now, now, False)
