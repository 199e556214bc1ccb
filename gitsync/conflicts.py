"""Conflict records and conflict copies.

When two devices changed the same thing differently, the local version stays at its path
and the other version is written beside it as ``NAME (conflict DEVICE YYYY-MM-DD
HHMMSS).EXT``, a normal file that is committed and synced, so every device holds both.

Each conflict is also recorded as a small JSON file, ``.gitsync/conflicts/<id>.json``,
committed with the merge. Why a tracked file and not a ref: it travels with the branch
through every remote and every clone with no extra refspecs, it is visible to plain git
users (``git log .gitsync``), it survives restarts, and one file per conflict means two
devices adding or resolving different conflicts never touch the same file, so the records
merge cleanly themselves. Resolving deletes the record (and the conflict copy) in a
commit, which clears it on every device at the next sync.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Any

RECORD_DIR = ".gitsync/conflicts"
MAX_TEXT = 2000  # characters of base/ours/theirs text kept per hunk in a record


@dataclass(frozen=True)
class Hunk:
    where: str
    base: str
    ours: str
    theirs: str


@dataclass(frozen=True)
class ConflictRecord:
    """Everything a resolution page needs: the three versions and who made them."""

    id: str
    path: str  # where the local (ours) version is
    copy_path: str | None  # the other side's version, if written as a conflict copy
    kind: str  # content | add-add | binary | unmergeable | symlink | docx
    base: str | None  # blob ids
    ours: str | None
    theirs: str | None
    ours_device: str
    theirs_device: str
    time: float
    hunks: tuple[Hunk, ...] = field(default=())
    in_document: bool = False  # the conflicts are shown inside the file (tracked changes)

    @classmethod
    def create(cls, *, path: str, copy_path: str | None, kind: str, base: str | None,
               ours: str | None, theirs: str | None, ours_device: str, theirs_device: str,
               time: float, hunks: tuple[Hunk, ...] = (), in_document: bool = False
               ) -> ConflictRecord:
        """The one way a conflict is recorded: its id follows from the path and the two
        versions, so the same conflict found twice (a round retried) is one record."""
        return cls(id=record_id(path, ours, theirs), path=path, copy_path=copy_path,
                   kind=kind, base=base, ours=ours, theirs=theirs, ours_device=ours_device,
                   theirs_device=theirs_device, time=time, hunks=tuple(hunks),
                   in_document=in_document)

    @property
    def record_path(self) -> str:
        return f"{RECORD_DIR}/{self.id}.json"

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["hunks"] = [asdict(h) for h in self.hunks]
        d["record_path"] = self.record_path
        return d

    def dumps(self) -> bytes:
        d = self.to_json()
        d.pop("record_path")
        return (json.dumps(d, indent=1, sort_keys=True, ensure_ascii=False) + "\n").encode()

    @classmethod
    def loads(cls, data: bytes) -> ConflictRecord:
        return cls.from_json(json.loads(data))

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ConflictRecord:
        d = {k: v for k, v in d.items() if k != "record_path"}
        hunks = tuple(Hunk(**h) for h in d.pop("hunks", []))
        return cls(**d, hunks=hunks)


def record_id(path: str, ours: str | None, theirs: str | None) -> str:
    h = hashlib.sha1(f"{path}\0{ours}\0{theirs}".encode()).hexdigest()
    return h[:16]


def clip(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + "…"


def copy_name(path: str, device: str, when: float,
              taken: Callable[[str], bool] | None = None) -> str:
    """``dir/NAME (conflict DEVICE YYYY-MM-DD HHMMSS).EXT`` for PATH; `` 2``, `` 3``... is
    added to the tag while TAKEN says the name is in use (two conflicts in one second must
    never share, and so overwrite, a copy)."""
    name = _copy_name(path, device, when, "")
    n = 2
    while taken is not None and taken(name):
        name = _copy_name(path, device, when, f" {n}")
        n += 1
    return name


def _copy_name(path: str, device: str, when: float, suffix: str) -> str:
    p = PurePosixPath(path)
    stamp = datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%d %H%M%S") + suffix
    safe_device = "".join(c if c.isalnum() or c in "-_." else "-" for c in device) or "remote"
    name = p.name
    # A dotfile (.bashrc) has no extension: put the tag at the end.
    stem, dot, ext = name.rpartition(".") if "." in name.lstrip(".") else (name, "", "")
    tagged = f"{stem} (conflict {safe_device} {stamp}){dot}{ext}"
    return str(p.with_name(tagged)) if str(p.parent) != "." else tagged


def is_record_path(path: str) -> bool:
    return path.startswith(RECORD_DIR + "/") and path.endswith(".json")


def now_utc() -> float:
    return datetime.now(UTC).timestamp()
