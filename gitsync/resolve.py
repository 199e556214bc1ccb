"""Listing and resolving conflicts recorded in a folder.

Records live in the committed tree (``.gitsync/conflicts/<id>.json``, see
:mod:`gitsync.conflicts`), so every device lists the same ones. Resolving writes the chosen
version at the path, removes the conflict copy and the record, and commits all three in one
commit; the next sync clears the record on every other device.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitsync.conflicts import RECORD_DIR, ConflictRecord
from gitsync.errors import PathError, UserError
from gitsync.messages import commit_message
from gitsync.model import CommitInfo
from gitsync.repo import Repo
from gitsync.worktree import WorktreeUpdater

logger = logging.getLogger(__name__)


def list_conflicts(repo: Repo) -> list[ConflictRecord]:
    head = repo.head_id()
    if head is None:
        return []
    out = []
    for name, entry in sorted(repo.entries_under(head, RECORD_DIR).items()):
        if not name.endswith(".json"):
            continue
        try:
            out.append(ConflictRecord.loads(repo.blob(entry.oid)))
        except (ValueError, TypeError, KeyError) as e:
            logger.warning("ignoring unreadable conflict record %s: %s", name, e)
    return sorted(out, key=lambda r: (r.time, r.path))


def find_conflict(repo: Repo, rel: str) -> ConflictRecord:
    matches = [r for r in list_conflicts(repo) if rel in (r.path, r.copy_path)]
    if not matches:
        raise PathError(f"{rel} has no recorded conflict", path=rel,
                        hint="see 'gitsync conflicts'")
    return matches[-1]


@dataclass(frozen=True)
class Resolution:
    record: ConflictRecord
    choice: str
    commit: CommitInfo | None

    def to_json(self) -> dict[str, Any]:
        return {"resolved": self.record.to_json(), "choice": self.choice,
                "commit": self.commit.to_json() if self.commit else None}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Resolution:
        return cls(ConflictRecord.from_json(d["resolved"]), d["choice"],
                   CommitInfo.from_json(d["commit"]) if d["commit"] else None)


def resolve(repo: Repo, updater: WorktreeUpdater, rel: str, *, device: str, choice: str,
            with_file: Path | None = None) -> Resolution:
    """CHOICE is "ours" (keep what is at the path), "theirs" (the conflict copy's version),
    or "file" (WITH_FILE's content)."""
    rec = find_conflict(repo, rel)
    data: bytes | None
    if choice == "ours":
        data = None
    elif choice == "theirs":
        copy = repo.workdir / rec.copy_path if rec.copy_path else None
        if copy is not None and copy.is_file():
            data = copy.read_bytes()
        elif rec.theirs:
            data = repo.blob(rec.theirs)
        else:
            raise UserError(f"the other version of {rec.path} is gone",
                            hint="use --ours or --with FILE")
    elif choice == "file":
        assert with_file is not None
        try:
            data = with_file.read_bytes()
        except OSError as e:
            raise UserError(f"cannot read {with_file}: {e.strerror}") from e
    else:
        raise UserError(f"unknown resolution {choice!r}")
    touched = [rec.path, rec.record_path]
    if data is not None:
        updater.write_one(rec.path, repo.entry_for_bytes(data, rec.path))
    if rec.copy_path:
        touched.append(rec.copy_path)
        updater.write_one(rec.copy_path, None)
    updater.write_one(rec.record_path, None)
    label = {"ours": "kept this version", "theirs": f"took {rec.theirs_device}'s version",
             "file": f"used {with_file.name if with_file else 'a file'}"}[choice]
    msg = commit_message(device, f"resolved conflict in {Path(rec.path).name} ({label})",
                         [f"Resolved: {rec.path}"])
    outcome = repo.commit_paths(touched, device=device, size_limit=2**63,
                                message_for=lambda _c: msg)
    return Resolution(rec, choice, outcome.commit)
