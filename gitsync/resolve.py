"""Listing and resolving conflicts recorded in a folder.

Records live in the committed tree (``.gitsync/conflicts/<id>.json``, see
:mod:`gitsync.conflicts`), so every device lists the same ones. Resolving writes the chosen
version at the path, removes the conflict copy and the record, and commits all three in one
commit; the next sync clears the record on every other device.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gitsync.conflicts import RECORD_DIR, ConflictRecord
from gitsync.errors import MergeError, MissingPathError, UnknownConflictError, UserError
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
    label = {"ours": "kept this version", "theirs": f"took {rec.theirs_device}'s version",
             "file": f"used {with_file.name if with_file else 'a file'}"}[choice]
    return resolve_with(repo, updater, rec, device=device, data=data, choice=choice,
                        label=label)


def resolve_with(repo: Repo, updater: WorktreeUpdater, rec: ConflictRecord, *, device: str,
                 data: bytes | None, choice: str, label: str) -> Resolution:
    """Settle REC: DATA becomes the file (None keeps it as it is), the conflict copy and
    the record go, all in one commit."""
    touched = [rec.path, rec.record_path]
    if data is not None:
        updater.write_one(rec.path, repo.entry_for_bytes(data, rec.path))
    if rec.copy_path:
        touched.append(rec.copy_path)
        updater.write_one(rec.copy_path, None)
    updater.write_one(rec.record_path, None)
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
        tc = _text_conflict(sides) if rec.kind != "symlink" else None
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


# ------------------------------------------------------------------ settling from a page
TAKES = ("ours", "theirs", "both")


def find_conflict_id(repo: Repo, conflict_id: str) -> ConflictRecord:
    for rec in list_conflicts(repo):
        if rec.id == conflict_id:
            return rec
    raise UnknownConflictError(f"no open conflict has the id {conflict_id!r}",
                               hint="it may have been resolved already")


def settled_content(repo: Repo, rec: ConflictRecord, *, take: str | None = None,
                    hunks: list[dict[str, Any]] | None = None,
                    content: bytes | None = None) -> tuple[bytes | None, str, str]:
    """What the file becomes (None: stays as it is), a label for the commit message and the
    choice's name, for one of: TAKE a side for every conflict, a choice per conflict
    (HUNKS: ``[{"index", "take"}]``), or the full CONTENT.

    Text: the result is rebuilt from the conflict's segments (see gitsync.merge.segments),
    so what merged cleanly stays and each conflict gets the chosen lines ("both": ours'
    lines then theirs'). A .docx whose conflicts are tracked changes: "theirs" accepts the
    other device's changes, "ours" rejects them, "both" keeps them for Word, and so per
    conflict while the document is as the merge wrote it (see _settle_docx_each).
    """
    given = [x is not None for x in (take, hunks, content)]
    if sum(given) != 1:
        raise UserError("give exactly one of: take, hunks, content")
    if content is not None:
        return content, "used an edited version", "content"
    if take is not None and take not in TAKES:
        raise UserError(f"unknown choice {take!r}", hint="use ours, theirs or both")
    choices: dict[int, str] = {}
    texts: dict[int, str] = {}
    if hunks is not None:
        choices, texts = _hunk_choices(hunks)
    if is_docx_conflict(rec):
        return _settle_docx(repo, rec, take, choices, texts)
    if rec.kind == "symlink" and take != "ours":
        raise UserError(f"{rec.path} is a symbolic link on one side",
                        hint="keep this version here, or settle it with 'gitsync resolve'")
    sides = [_blob(repo, rec.base), _blob(repo, rec.ours), _blob(repo, rec.theirs)]
    tc = _text_conflict(sides)
    if tc is None:
        if take == "ours" or (not texts and set(choices.values()) == {"ours"}):
            return None, "kept this version", "ours"
        if take == "theirs" or (not texts and set(choices.values()) == {"theirs"}):
            return _theirs_whole(repo, rec), f"took {rec.theirs_device}'s version", "theirs"
        raise UserError(f"{rec.path} is not text: take ours or theirs",
                        hint="or upload the version to keep")
    if take == "ours":
        return None, "kept this version", "ours"
    written = tc.rebuild(["ours"] * tc.count)  # the file as the merge left it
    current = _current(repo, rec.path)
    if take is not None:
        label = {"theirs": f"took {rec.theirs_device}'s version",
                 "both": "kept both versions"}[take]
        return _on_top(rec, written, current, tc.rebuild([take] * tc.count)), label, take
    for i in list(choices) + list(texts):
        if not 0 <= i < tc.count:
            raise UserError(f"there is no conflict {i + 1} in {rec.path}",
                            hint=f"it has {tc.count}")
    missing = [i for i in range(tc.count) if i not in choices and i not in texts]
    if missing:
        raise UserError(f"conflict {missing[0] + 1} of {rec.path} is not decided",
                        hint="decide every conflict, or take one side for all")
    return (_on_top(rec, written, current, tc.rebuild(choices, texts)),
            f"decided {tc.count} conflict(s) one by one", "hunks")


def _on_top(rec: ConflictRecord, written: bytes, current: bytes | None, settled: bytes
            ) -> bytes:
    """SETTLED (the file the merge WRITTEN, with its conflicts decided) carried onto the
    file as it is now: saves made since the conflict was recorded are kept, not undone.

    Three-way: from what the merge wrote, one side saved more edits and the other settled
    the conflicts; where the two overlap, the user must send the whole result."""
    if current == written:
        return settled
    if current is None:
        raise UserError(f"{rec.path} is gone since the conflict was recorded",
                        hint="send the whole result instead")
    from gitsync.merge.text import TextMerger

    try:
        result = TextMerger().merge(written, current, settled, ours_label="now",
                                    theirs_label="settled", path=rec.path)
    except MergeError as e:
        raise UserError(f"{rec.path} was changed after the conflict was recorded ({e})",
                        hint="send the whole result instead, or take ours") from e
    if not result.clean:
        raise UserError(f"{rec.path} was changed after the conflict was recorded, where "
                        "the conflict is", hint="send the whole result instead, or take ours")
    return result.data


def _hunk_choices(hunks: list[dict[str, Any]]) -> tuple[dict[int, str], dict[int, str]]:
    choices: dict[int, str] = {}
    texts: dict[int, str] = {}
    if not isinstance(hunks, list) or not hunks:
        raise UserError("hunks must be a non-empty list of {index, take}")
    for h in hunks:
        if not isinstance(h, dict) or not isinstance(h.get("index"), int) or \
                isinstance(h.get("index"), bool):
            raise UserError("each hunk needs an integer index")
        i = h["index"]
        if i in choices or i in texts:
            raise UserError(f"conflict {i + 1} is decided twice")
        if isinstance(h.get("text"), str):
            texts[i] = h["text"]
        elif h.get("take") in (*TAKES, "base"):
            choices[i] = h["take"]
        else:
            raise UserError(f"unknown choice {h.get('take')!r} for conflict {i + 1}",
                            hint="use ours, theirs, both or base")
    return choices, texts


def _settle_docx(repo: Repo, rec: ConflictRecord, take: str | None, choices: dict[int, str],
                 texts: dict[int, str]) -> tuple[bytes | None, str, str]:
    if take is None:
        picked = set(choices.values())
        if texts or "base" in picked:
            raise UserError("a Word document's conflicts are taken from one side or both",
                            hint="or upload the finished document")
        if rec.hunks and set(choices) != set(range(len(rec.hunks))):
            raise UserError("decide every conflict of the document, or take one side")
        if len(picked) > 1:
            return _settle_docx_each(repo, rec, [choices[i] for i in sorted(choices)])
        take = picked.pop()
    if take == "both":
        if not rec.in_document:
            raise UserError(f"{rec.path} cannot hold both versions",
                            hint="take ours or theirs, or upload the finished document")
        return None, "kept both versions as tracked changes", "both"
    if not rec.in_document:
        if take == "ours":
            return None, "kept this version", "ours"
        return _theirs_whole(repo, rec), f"took {rec.theirs_device}'s version", "theirs"
    from gitsync.merge.docx.review import settle_revisions

    current = _current(repo, rec.path)
    if current is None:
        raise UserError(f"{rec.path} is gone from the folder", hint="restore it first")
    try:
        data = settle_revisions(current, rec.theirs_device, accept=take == "theirs")
    except MergeError as e:
        raise UserError(f"cannot settle the tracked changes in {rec.path}: {e}",
                        hint="open it in Word, or upload the finished document") from e
    label = "kept this version" if take == "ours" else f"took {rec.theirs_device}'s version"
    return data, label, take


def _settle_docx_each(repo: Repo, rec: ConflictRecord, choices: list[str]
                      ) -> tuple[bytes, str, str]:
    """Per-conflict choices for a document whose conflicts are tracked changes. The
    conflicts are told apart by the ids the merge gave them, which holds only while the
    document is exactly what the merge wrote: that is checked by merging again (the merge
    is deterministic); otherwise the choices are refused rather than applied to the wrong
    paragraphs."""
    from gitsync.merge.docx import merge_docx
    from gitsync.merge.docx.review import settle_each

    refuse = UserError(f"{rec.path} cannot be settled conflict by conflict here",
                       hint="take one side for all (both keeps the tracked changes for "
                            "Word), or upload the finished document")
    current = _current(repo, rec.path)
    ours, theirs = _blob(repo, rec.ours), _blob(repo, rec.theirs)
    if not rec.in_document or current is None or ours is None or theirs is None:
        raise refuse
    try:
        # The merge dated its tracked changes with the record's time (merges recorded before
        # that was so used a time taken from the documents: None).
        for when in (datetime.fromtimestamp(rec.time, UTC), None):
            again = merge_docx(_blob(repo, rec.base), ours, theirs, ours_label=rec.ours_device,
                               theirs_label=rec.theirs_device, now=when)
            if again.data == current:
                break
        if again.data != current or len(again.conflicts) != len(choices):
            raise refuse
        data = settle_each(current, rec.theirs_device, choices)
    except MergeError as e:
        raise refuse from e
    if data is None:
        raise refuse
    return data, f"decided {len(choices)} conflict(s) one by one", "hunks"


def _theirs_whole(repo: Repo, rec: ConflictRecord) -> bytes:
    copy = repo.workdir / rec.copy_path if rec.copy_path else None
    if copy is not None and copy.is_file() and not copy.is_symlink():
        return copy.read_bytes()
    if rec.theirs:
        return repo.blob(rec.theirs)
    raise UserError(f"the other version of {rec.path} is gone", hint="take ours instead")


def _current(repo: Repo, rel: str) -> bytes | None:
    full = repo.workdir / rel
    try:
        if full.is_symlink():
            return None
        return full.read_bytes()
    except OSError:
        return None
