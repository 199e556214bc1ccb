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
from collections import OrderedDict

from gitsync.conflicts import RECORD_DIR
from gitsync.errors import UserError
from gitsync.model import CommitInfo, DeletedFile, TreeEntry
from gitsync.repo import Repo
from gitsync.safepath import unsafe_reason

MAX_LIMIT = 500
DELETED_WINDOW_S = 30 * 86400
_HEX = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")


class BadCursorError(UserError):
    """A history cursor that this server did not hand out (or that was mangled)."""


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


def history(repo: Repo, path: str | None, limit: int = 50, cursor: str | None = None
            ) -> tuple[list[CommitInfo], str | None]:
    """Newest first, following renames; the next page's cursor, or None at the end."""
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
    page = repo.log_page(start, follow, limit)
    nxt = encode_cursor(page.next_commit, page.next_path) if page.next_commit else None
    return page.commits, nxt


class _LastChangeCache:
    """Last-change maps by (repository, commit, directory): a commit never changes, so a
    listing asked again (a page reload, the time slider moving back) costs nothing."""

    def __init__(self, size: int = 128) -> None:
        self._size = size
        self._data: OrderedDict[tuple[str, str, str], dict[str, str]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str, str]) -> dict[str, str] | None:
        with self._lock:
            found = self._data.get(key)
            if found is not None:
                self._data.move_to_end(key)
            return found

    def put(self, key: tuple[str, str, str], value: dict[str, str]) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self._size:
                self._data.popitem(last=False)


_cache = _LastChangeCache()


def tree(repo: Repo, commit: str, directory: str) -> list[TreeEntry]:
    """DIRECTORY's direct children at COMMIT, directories first, each with the commit that
    last changed it; gitsync's own records (``.gitsync``) are left out."""
    entries = [e for e in repo.list_dir(commit, directory)
               if not (directory == "" and e.name == ".gitsync")]
    key = (str(repo.gitdir), commit, directory)
    last = _cache.get(key)
    if last is None:
        last = repo.last_changes(commit, directory, [e.name for e in entries])
        _cache.put(key, last)
    infos: dict[str, CommitInfo] = {}
    out = []
    prefix = f"{directory}/" if directory else ""
    for e in sorted(entries, key=lambda e: (e.kind != "dir", e.name.casefold(), e.name)):
        cid = last.get(e.name)
        info = None
        if cid is not None:
            info = infos.get(cid)
            if info is None:
                info = infos[cid] = repo.commit_info(cid, with_changes=False)
        out.append(TreeEntry(prefix + e.name, "dir" if e.kind == "dir" else "file", e.size,
                             info))
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
