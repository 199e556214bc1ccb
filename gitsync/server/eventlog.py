"""The last events of the bus, numbered, for Server-Sent Events with ``Last-Event-ID`` resume.

Workers publish on their own threads; SSE streams wait on the server's event loop. The log
keeps the last :data:`KEEP` events in a ring buffer under a lock, and wakes each waiting
stream through its loop (``call_soon_threadsafe``), so a publisher never blocks on a slow
client. Ids follow the clock in microseconds (each at least one above the last), so the ids
of a server started later are larger than any an earlier one handed out: a page that
resumes after a daemon restart gets every new event, not none. (They stay below 2**53, so
a page's JavaScript reads them exactly.)
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable

from gitsync.events import Event, EventBus

KEEP = 500


class EventLog:
    def __init__(self, bus: EventBus, keep: int = KEEP) -> None:
        self._events: deque[tuple[int, Event]] = deque(maxlen=keep)
        self._last_id = _now_us()
        self._lock = threading.Lock()
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()
        self._closed = False
        self._unsubscribe: Callable[[], None] | None = bus.subscribe(self.add)

    @property
    def closed(self) -> bool:
        return self._closed

    def add(self, event: Event) -> None:
        with self._lock:
            self._last_id = max(self._last_id + 1, _now_us())
            self._events.append((self._last_id, event))
            waiters = list(self._waiters)
        for loop, ready in waiters:
            _wake(loop, ready)

    def last_id(self) -> int:
        with self._lock:
            return self._last_id

    def since(self, last_id: int) -> list[tuple[int, Event]]:
        """Events with an id above LAST_ID that are still kept, oldest first."""
        with self._lock:
            if not self._events or self._events[-1][0] <= last_id:
                return []
            return [(i, e) for i, e in self._events if i > last_id]

    async def wait(self, last_id: int, timeout: float) -> list[tuple[int, Event]]:
        """Events after LAST_ID, waiting up to TIMEOUT seconds for one; [] on timeout or close."""
        ready = asyncio.Event()
        waiter = (asyncio.get_running_loop(), ready)
        with self._lock:
            self._waiters.add(waiter)
        try:
            found = self.since(last_id)
            if found or self._closed:
                return found
            try:
                await asyncio.wait_for(ready.wait(), timeout)
            except TimeoutError:
                return []
            return self.since(last_id)
        finally:
            with self._lock:
                self._waiters.discard(waiter)

    def close(self) -> None:
        """Stop listening to the bus and end every open stream (the server is stopping)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            waiters = list(self._waiters)
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        for loop, ready in waiters:
            _wake(loop, ready)


def _now_us() -> int:
    return time.time_ns() // 1000


def _wake(loop: asyncio.AbstractEventLoop, ready: asyncio.Event) -> None:
    with contextlib.suppress(RuntimeError):  # that stream's loop is gone
        loop.call_soon_threadsafe(ready.set)
