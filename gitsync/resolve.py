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
from gitsync.errors import MergeError, MissingPathError, UserError
from gitsync.merge.segments import TextConflict, text_conflict
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
        raise MissingPathError(f"{rel} has no recorded conflict", path=rel,
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


# ------------------------------------------------------------------ the three-way page
DOCX_SUFFIXES = (".docx", ".docm", ".dotx")
CONFLICT_TEXT_MAX = 4 * 1024 * 1024  # bytes of a side decoded for a page


def is_docx_conflict(rec: ConflictRecord) -> bool:
    return rec.kind == "docx" or rec.in_document or rec.path.lower().endswith(DOCX_SUFFIXES)


def _blob(repo: Repo, oid: str | None) -> bytes | None:
    return repo.blob(oid) if oid else None


def conflict_view(repo: Repo, rec: ConflictRecord) -> dict[str, Any]:
    """``record.to_json()`` plus ``base``/``ours``/``theirs`` text (None when absent,
    binary or too large), ``docx``, the ``segments`` to decide and their ``count``."""
    sides = [_blob(repo, rec.base), _blob(repo, rec.ours), _blob(repo, rec.theirs)]
    out: dict[str, Any] = rec.to_json()
    docx = is_docx_conflict(rec)
    out["docx"] = docx
    segments: list[dict[str, object]] = []
    if docx:
        texts = [_docx_text(s) for s in sides]
        for i, h in enumerate(rec.hunks):
            segments.append({"kind": "conflict", "index": i, "base": h.base, "ours": h.ours,
                             "theirs": h.theirs, "where": h.where})
    else:
        texts = [_decoded(s) for s in sides]
        tc = _text_conflict(sides)
        if tc is not None:
            segments = tc.segments()
    out["base"], out["ours"], out["theirs"] = texts
    out["segments"] = segments
    out["count"] = sum(1 for s in segments if s["kind"] == "conflict")
    return out


def _decoded(data: bytes | None) -> str | None:
    from gitsync.merge.textcodec import decode

    if data is None or len(data) > CONFLICT_TEXT_MAX:
        return None
    d = decode(data)
    return None if d is None else d.text


def _docx_text(data: bytes | None) -> str | None:
    from gitsync.merge.docx import docx_text

    if data is None:
        return None
    try:
        return docx_text(data)
    except MergeError:
        return None


def _text_conflict(sides: list[bytes | None]) -> TextConflict | None:
    base, ours, theirs = sides
    if ours is None or theirs is None:
        return None
    if max(len(s or b"") for s in sides) > CONFLICT_TEXT_MAX:
        return None
    return text_conflict(base, ours, theirs)
