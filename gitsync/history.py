"""Browsing a folder's past: pages of history, the folder as it was, what was deleted.

Read-only use cases over :class:`gitsync.repo.Repo` (any thread, no owner needed). History
pages are cut with an opaque cursor that remembers both where the walk stopped and which
path it follows there, so paging keeps following a file back through its renames.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import threading
import time
from collections import OrderedDict

from gitsync.conflicts import RECORD_DIR
from gitsync.errors import UserError
from gitsync.model import CommitInfo, DeletedFile, TreeEntry
from gitsync.repo import Repo
from gitsync.safepath import unsafe_reason

MAX_LIMIT = 500
#: Seconds a directory listing may take before it stops looking for its entries' last
#: changes; entries not found by then show none. Only a huge directory that most commits
#: change runs out (each version of a 100,000-entry tree costs ~40 ms just to read).
LISTING_BUDGET_S = 0.6
DELETED_WINDOW_S = 30 * 86400
_HEX = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")


class BadCursorError(UserError):
    """A history cursor that this server did not hand out (or that was mangled)."""


FOLDER_HISTORY_CHANGES = 200


def encode_cursor(commit: str, path: str | None) -> str:
    raw = json.dumps({"c": commit, "p": path}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[str, str | None]:
    bad = BadCursorError("that history cursor is not valid",
                         hint="start again from the first page")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        d = json.loads(raw)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise bad from None
    if not isinstance(d, dict):
        raise bad
    commit, path = d.get("c"), d.get("p")
    if not isinstance(commit, str) or not _HEX.match(commit):
        raise bad
    if path is not None and (not isinstance(path, str) or unsafe_reason(path)):
        raise bad
    return commit, path


def history(repo: Repo, path: str | None, limit: int = 50, cursor: str | None = None,
            max_changes: int | None = FOLDER_HISTORY_CHANGES
            ) -> tuple[list[CommitInfo], str | None]:
    """Newest first, following renames; the next page's cursor, or None at the end.

    A page of the whole folder's history lists at most MAX_CHANGES changes per commit
    (``changes_truncated`` says there were more): one bulk commit of 100,000 files must
    not make a page of 50 commits cost seconds and megabytes."""
    if not 1 <= limit <= MAX_LIMIT:
        raise UserError(f"limit must be between 1 and {MAX_LIMIT}")
    if cursor is not None:
        start, follow = decode_cursor(cursor)
        if repo.kind_of_object(start) != "commit":
            raise BadCursorError("that history cursor is not valid",
                                 hint="start again from the first page")
    else:
        head = repo.head_id()
        if head is None:
            return [], None
        start, follow = head, path
    page = repo.log_page(start, follow, limit, max_changes)
    nxt = encode_cursor(page.next_commit, page.next_path) if page.next_commit else None
    return page.commits, nxt


class _ListingCache:
    """Listings by (repository, commit, directory): a commit never changes, so a listing
    asked again (a page reload, the time slider moving back) costs nothing."""

    def __init__(self, size: int = 64) -> None:
        self._size = size
        self._data: OrderedDict[tuple[str, str, str], list[TreeEntry]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str, str]) -> list[TreeEntry] | None:
        with self._lock:
            found = self._data.get(key)
            if found is not None:
                self._data.move_to_end(key)
            return found

    def put(self, key: tuple[str, str, str], value: list[TreeEntry]) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self._size:
                self._data.popitem(last=False)


_listings = _ListingCache()


def tree(repo: Repo, commit: str, directory: str) -> list[TreeEntry]:
    """DIRECTORY's direct children at COMMIT, directories first (each group in git's name
    order), each with the commit that last changed it (None when not found within
    ``LISTING_BUDGET_S``); gitsync's own records (``.gitsync``) are left out."""
    key = (str(repo.gitdir), commit, directory)
    found = _listings.get(key)
    if found is not None:
        return found
    started = time.monotonic()
    entries = [e for e in repo.list_dir(commit, directory)
               if not (directory == "" and e.name == ".gitsync")]
    last = repo.last_changes(commit, directory, [e.name for e in entries],
                             budget_s=max(0.05, LISTING_BUDGET_S - (time.monotonic() - started)))
    infos: dict[str, CommitInfo] = {}
    for cid in set(last.values()):
        infos[cid] = repo.commit_info(cid, with_changes=False)
    prefix = f"{directory}/" if directory else ""
    dirs: list[TreeEntry] = []
    files: list[TreeEntry] = []
    for e in entries:
        last_id = last.get(e.name)
        (dirs if e.kind == "dir" else files).append(
            TreeEntry(prefix + e.name, e.kind, e.size, infos[last_id] if last_id else None))
    out = dirs + files
    _listings.put(key, out)
    return out


def deleted(repo: Repo, since: float) -> list[DeletedFile]:
    """Files deleted since SINCE (epoch seconds) and still gone, newest delete first."""
    head = repo.head_id()
    if head is None:
        return []

    def keep(path: str) -> bool:
        return not path.startswith(RECORD_DIR + "/")

    return [DeletedFile(d.path, d.commit, d.last_rev)
            for d in repo.deletions(head, since, keep=keep)]
