"""Which relative paths gitsync will read or write inside a folder.

Paths come from other devices (incoming commits) and from users (the web API, the CLI) and
are hostile until checked: one rule for both, so the two never drift apart. A path is
refused when it is absolute, holds ``..``/``.``/empty components, a backslash or a NUL, a
name longer than a filesystem allows, or
names or aliases ``.git`` in any component (``.GIT``, ``.git.``, ``git~1``: case-folded,
trailing dots and spaces dropped, as Windows and macOS filesystems treat them).
"""

from __future__ import annotations

import os
from pathlib import Path

from gitsync.errors import PathError

MAX_PATH = 4096
MAX_NAME = 255  # bytes per component: what Linux, macOS and Windows filesystems allow


def unsafe_reason(path: str) -> str | None:
    """Why PATH (slash-separated, relative) must not be used, or None when it may."""
    if not path:
        return "the path is empty"
    if len(path) > MAX_PATH:
        return "the path is too long"
    if "\0" in path:
        return "the path holds a NUL character"
    if "\\" in path:
        return "the path holds a backslash"
    if path.startswith("/"):
        return "the path is absolute"
    for comp in path.split("/"):
        if comp in ("", ".", ".."):
            return "the path holds an empty, '.' or '..' component"
        if comp.casefold().rstrip(". ") in (".git", "git~1"):
            return "the path is inside .git"
        if len(os.fsencode(comp)) > MAX_NAME:
            return f"a name in the path is longer than {MAX_NAME} bytes"
    return None


def check_user_path(root: Path, path: str, *, allow_root: bool = False) -> str:
    """PATH made canonical (no trailing slash), after refusing anything that could reach
    outside ROOT or into its ``.git``, on paper and on disk; raises :class:`PathError`.

    ALLOW_ROOT accepts ``""`` (and ``"/"``-free spellings of it) for the folder itself. A
    symlink on the way (or at the end) is followed on disk: it must stay inside ROOT and
    out of ``.git``, or the path is refused, since reading or writing through it would.
    """
    if not isinstance(path, str):
        raise PathError("the path must be text", path=repr(path))
    rel = path[:-1] if path.endswith("/") and len(path) > 1 else path
    if rel == "" and allow_root:
        return ""
    why = unsafe_reason(rel)
    if why is not None:
        raise PathError(f"refusing path {path!r}: {why}", path=path,
                        hint="give a path inside the folder, like 'notes/todo.txt'")
    base = root.resolve()
    full = base / rel
    if _has_symlink(base, rel):
        try:
            target = Path(os.path.realpath(full))
            inside = target.relative_to(base)
        except (OSError, ValueError):
            raise PathError(f"refusing path {path!r}: a symlink leads outside the folder",
                            path=path) from None
        parts = inside.parts
        if parts and parts[0].casefold().rstrip(". ") in (".git", "git~1"):
            raise PathError(f"refusing path {path!r}: a symlink leads into .git", path=path)
    return rel


def _has_symlink(base: Path, rel: str) -> bool:
    d = base
    for comp in rel.split("/"):
        d = d / comp
        try:
            if d.is_symlink():
                return True
        except OSError:
            return False
    return False
