"""Which daemon events deserve a desktop notification, and how a burst becomes one.

Events go in (:meth:`Notices.feed`), notices come out (:meth:`Notices.due`); the caller
passes ``now``, so tests drive a fake clock. Events that need the user are gathered per
folder and kind for ``window`` seconds, then told as one notice ("3 conflicts in
Documents"); a kind already told for a folder waits ``cooldown`` seconds before it is told
again, so a folder that keeps failing does not flood the desktop. A conflict is told once,
however often a retried round reports it again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

from gitsync.config import folder_key
from gitsync.events import Event

WINDOW_S = 3.0
COOLDOWN_S = 30.0
LISTED = 3  # names spelled out in a notice's body before "and N more"


@dataclass(frozen=True)
class Notice:
    kind: str  # conflict | stopped | offline | too-large | attention
    folder: str
    summary: str
    body: str  # plain text; its last line is the link
    link: str


@dataclass
class _Bucket:
    first: float
    events: list[Event] = field(default_factory=list)


class Notices:
    def __init__(self, *, port: int, offline_after: float, window: float = WINDOW_S,
                 cooldown: float = COOLDOWN_S) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.offline_after = offline_after
        self.window = window
        self.cooldown = cooldown
        self._buckets: dict[tuple[str, str], _Bucket] = {}
        self._told: dict[tuple[str, str], float] = {}
        self._conflicts_seen: set[str] = set()
        self._offline: dict[str, tuple[float, Event]] = {}  # folder -> (since, event)

    def feed(self, event: Event, now: float) -> None:
        kind = _kind(event)
        if event.kind == "offline":
            self._offline.setdefault(event.folder, (now, event))
            return
        if event.kind == "online":
            self._offline.pop(event.folder, None)
            return
        if kind is None:
            return
        if kind == "conflict":
            cid = _conflict(event).get("id")
            if cid:
                key = f"{event.folder}\0{cid}"
                if key in self._conflicts_seen:
                    return
                self._conflicts_seen.add(key)
        bucket = self._buckets.setdefault((event.folder, kind), _Bucket(now))
        bucket.events.append(event)

    def due(self, now: float) -> list[Notice]:
        """The notices whose burst is over, each told at most once per cooldown."""
        for folder, (since, event) in list(self._offline.items()):
            if now - since >= self.offline_after:
                del self._offline[folder]  # told once per stretch offline
                bucket = self._buckets.setdefault((folder, "offline"), _Bucket(since))
                bucket.events.append(event)
        out: list[Notice] = []
        for key, bucket in list(self._buckets.items()):
            told = self._told.get(key)
            ready = max(bucket.first + self.window,
                        told + self.cooldown if told is not None else 0.0)
            if now < ready:
                continue
            del self._buckets[key]
            self._told[key] = now
            out.append(self._notice(key[1], key[0], bucket.events))
        return out

    def next_due(self) -> float | None:
        """When :meth:`due` may next have something (for a sleeping caller), or None."""
        times = [b.first + self.window for b in self._buckets.values()]
        times += [since + self.offline_after for since, _ in self._offline.values()]
        return min(times) if times else None

    def _notice(self, kind: str, folder: str, events: list[Event]) -> Notice:
        name = PurePath(folder).name or folder
        folder_link = f"{self.base}/folders/{folder_key(folder)}"
        n = len(events)
        if kind == "conflict":
            paths = [str(_conflict(e).get("path") or e.message) for e in events]
            cid = _conflict(events[0]).get("id")
            one = n == 1 and cid
            link = f"{folder_link}/conflicts/{cid}" if one else f"{self.base}/conflicts"
            summary = f"Conflict in {name}" if n == 1 else f"{n} conflicts in {name}"
            body = (f"{events[0].message}\nSettle it: {link}" if n == 1
                    else f"Edited on two devices: {_names(paths)}\nSettle them: {link}")
            return Notice(kind, folder, summary, body, link)
        if kind == "too-large":
            paths = [str(e.data.get("path") or e.message) for e in events]
            summary = (f"A file too large to sync in {name}" if n == 1
                       else f"{n} files too large to sync in {name}")
            body = (f"Not synced: {_names(paths)}. Raise size_limit or move them out."
                    f"\nSee: {folder_link}")
            return Notice(kind, folder, summary, body, folder_link)
        if kind == "offline":
            after = (f"{round(self.offline_after / 60)} min" if self.offline_after >= 120
                     else f"{self.offline_after:.0f} s")
            body = (f"Cannot reach the remote for over {after} ({events[-1].message}); "
                    f"gitsync keeps retrying.\nSee: {folder_link}")
            return Notice(kind, folder, f"{name} is offline", body, folder_link)
        body = f"{events[-1].message}\nSee: {folder_link}"
        summary = f"{name} stopped syncing" if kind == "stopped" else f"{name} needs attention"
        return Notice(kind, folder, summary, body, folder_link)


def _kind(event: Event) -> str | None:
    if event.kind == "conflict":
        return "conflict"
    if event.kind == "skipped" and event.needs_user:
        return "too-large"
    if event.kind == "sync-stopped" and event.needs_user:
        return "stopped"
    if event.kind == "error" and event.needs_user:  # e.g. a missing folder, no inotify watch
        return "attention"
    if event.kind == "paused" and event.needs_user:  # the user's own pause is no news
        return "stopped"
    return None


def _conflict(event: Event) -> dict[str, Any]:
    c = event.data.get("conflict")
    return c if isinstance(c, dict) else {}


def _names(items: list[str]) -> str:
    shown = ", ".join(items[:LISTED])
    rest = len(items) - LISTED
    return f"{shown} and {rest} more" if rest > 0 else shown
