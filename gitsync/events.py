"""Everything a user would want to see, as events on one bus.

Workers publish; the CLI's log output, the state files ``gitsync status`` reads, and later
the web page's live view and the desktop notifier subscribe. Subscribers run on the
publisher's thread and must be quick; one that raises is logged and kept.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Event:
    kind: str  # committed | pushed | push-failed | paused | resumed | skipped | error | ...
    folder: str
    message: str
    data: dict[str, Any] = field(default_factory=dict)
    time: float = field(default_factory=time.time)
    needs_user: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "folder": self.folder, "message": self.message,
                "data": self.data, "time": self.time, "needs_user": self.needs_user}


Subscriber = Callable[[Event], None]


class EventBus:
    def __init__(self) -> None:
        self._subs: list[Subscriber] = []
        self._lock = threading.Lock()

    def subscribe(self, fn: Subscriber) -> Callable[[], None]:
        with self._lock:
            self._subs.append(fn)

        def unsubscribe() -> None:
            with self._lock:
                if fn in self._subs:
                    self._subs.remove(fn)

        return unsubscribe

    def publish(self, event: Event) -> None:
        with self._lock:
            subs = list(self._subs)
        for fn in subs:
            try:
                fn(event)
            except Exception:
                logger.exception("event subscriber failed on %s", event.kind)
