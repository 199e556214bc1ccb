"""Which paths gitsync never commits: editor and office temp files, plus user patterns.

The repo's own ``.gitignore`` rules are not reimplemented here: the repository adapter asks
libgit2. This module holds the built-in list (documented in the README) and matches it,
together with the ``ignore`` setting's extra patterns, against a path's last component
(patterns containing ``/`` are matched against the whole relative path).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable

BUILTIN_IGNORES: tuple[tuple[str, str], ...] = (
    ("~$*", "Word/Excel/PowerPoint owner (lock) file"),
    ("~WRL*.tmp", "Word temp file written during save"),
    ("~WR*.tmp", "Word temp file"),
    (".~lock.*#", "LibreOffice lock file"),
    ("*.swp", "vim swap file"),
    ("*.swo", "vim swap file"),
    ("*.swx", "vim swap file"),
    ("4913", "vim's probe file for directory permissions"),
    ("#*#", "emacs auto-save file"),
    (".#*", "emacs lock link"),
    ("*~", "backup file (emacs, gedit, many editors)"),
    (".DS_Store", "macOS Finder metadata"),
    ("._*", "macOS resource fork"),
    ("Thumbs.db", "Windows thumbnail cache"),
    ("desktop.ini", "Windows folder settings"),
    ("*.crdownload", "partial download (Chrome)"),
    ("*.part", "partial download (Firefox)"),
    ("*.partial", "partial download"),
    ("*.download", "partial download (Safari)"),
    (".goutputstream-*", "GNOME atomic-save temp file"),
    (".gitsync-tmp-*", "gitsync's own atomic-write temp file"),
)


def exclude_patterns(extra: Iterable[str] = ()) -> list[str]:
    """The built-in list plus the user's patterns, in .gitignore syntax for info/exclude."""
    return [p for p, _ in BUILTIN_IGNORES] + [p if "/" not in p else "/" + p.lstrip("/")
                                              for p in extra]


class IgnoreRules:
    """Built-in patterns plus extra user patterns, compiled once."""

    def __init__(self, extra: Iterable[str] = ()) -> None:
        names: list[str] = [p for p, _ in BUILTIN_IGNORES]
        paths: list[str] = []
        for p in extra:
            (paths if "/" in p.strip("/") else names).append(p.strip("/") if "/" in p else p)
        self._name_re = _compile(names)
        self._path_re = _compile(paths) if paths else None

    def matches(self, relpath: str) -> bool:
        parts = relpath.split("/")
        if ".git" in parts or any(p.lower() == ".git" for p in parts):
            return True
        if any(self._name_re.match(p) for p in parts):
            return True
        return bool(self._path_re and self._path_re.match(relpath))


def _compile(patterns: Iterable[str]) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in patterns) or r"(?!x)x")
