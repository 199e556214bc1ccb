"""Commit messages: every commit gitsync makes names its device in the summary and a trailer.

One builder so that every kind of commit (a batch of saves, a merge, a restore, a
resolution) reads the same in ``git log`` and carries the ``Gitsync-Device`` trailer that
history views use to say which device made each version.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import PurePosixPath

from gitsync.model import ChangeKind, FileChange

DEVICE_TRAILER = "Gitsync-Device"

_ORDER = {ChangeKind.ADDED: 0, ChangeKind.MODIFIED: 1, ChangeKind.RENAMED: 2,
          ChangeKind.DELETED: 3}


def commit_message(device: str, summary: str, body: Iterable[str] = ()) -> str:
    """``DEVICE: SUMMARY``, then BODY's lines (trailers such as ``Conflict: PATH``), then
    the device trailer."""
    lines = list(body)
    middle = "".join(f"{line}\n" for line in lines) + ("\n" if lines else "")
    return f"{device}: {summary}\n\n{middle}{DEVICE_TRAILER}: {device}\n"


def changes_summary(changes: Sequence[FileChange], *, shown: int = 2) -> str:
    """``edited notes.txt, added report.docx (+3 more)``."""
    ordered = sorted(changes, key=lambda c: (_ORDER[c.kind], c.path))
    parts = []
    for c in ordered[:shown]:
        name = PurePosixPath(c.path).name
        if c.kind == ChangeKind.RENAMED and c.old_path:
            parts.append(f"renamed {PurePosixPath(c.old_path).name} to {name}")
        else:
            parts.append(f"{c.kind.value} {name}")
    summary = ", ".join(parts)
    if len(ordered) > shown:
        summary += f" (+{len(ordered) - shown} more)"
    return summary


def batch_message(device: str, changes: Sequence[FileChange]) -> str:
    """The message of a batch of saves: ``laptop: edited notes.txt, added report.docx``."""
    return commit_message(device, changes_summary(changes))


def device_of(message: str) -> str | None:
    """The device a commit message names in its trailer, if any."""
    for line in reversed(message.splitlines()):
        if line.startswith(DEVICE_TRAILER + ":"):
            return line.split(":", 1)[1].strip() or None
    return None
