"""Rendering what changed in one file between two versions, as text for `gitsync log -p`.

Pure: bytes in, text out. Text files get a unified diff; Word documents a paragraph-level
diff with the changed words marked ``[-old-]{+new+}``; other files a one-line summary.
"""

from __future__ import annotations

import difflib

from gitsync.errors import MergeError
from gitsync.merge.textcodec import decode

MAX_LINES = 2000  # of diff output per file


def _is_docx(path: str, data: bytes | None) -> bool:
    return path.lower().endswith((".docx", ".docm", ".dotx")) and (
        data is None or data[:2] == b"PK")


def render_diff(path: str, old: bytes | None, new: bytes | None) -> str:
    if _is_docx(path, old) and _is_docx(path, new):
        try:
            return _docx_patch(old, new)
        except MergeError as e:
            return f"  (cannot read the document: {e})\n"
    a = _text(old)
    b = _text(new)
    if a is None or b is None:
        size = lambda d: "absent" if d is None else f"{len(d)} bytes"  # noqa: E731
        return f"  binary file: {size(old)} -> {size(new)}\n"
    lines = list(difflib.unified_diff(a.splitlines(keepends=True), b.splitlines(keepends=True),
                                      fromfile=f"a/{path}", tofile=f"b/{path}", n=2))
    if len(lines) > MAX_LINES:
        lines = [*lines[:MAX_LINES], f"... ({len(lines) - MAX_LINES} more lines)\n"]
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def _text(data: bytes | None) -> str | None:
    if data is None:
        return ""
    decoded = decode(data)
    return None if decoded is None else decoded.text


def _docx_patch(old: bytes | None, new: bytes | None) -> str:
    from gitsync.merge.docx import diff_docx  # only when a Word document is shown
    from gitsync.samples import docx_bytes

    empty = docx_bytes([])
    out = []
    for ch in diff_docx(old or empty, new or empty):
        index = ch.new_index if ch.new_index is not None else ch.old_index
        where = f"{ch.kind} {(index or 0) + 1}"
        if ch.op == "insert":
            out.append(f"+ {where}: {ch.new}\n")
        elif ch.op == "delete":
            out.append(f"- {where}: {ch.old}\n")
        else:
            marked = ", ".join(
                f"[-{w.old}-]" * bool(w.old) + f"{{+{w.new}+}}" * bool(w.new)
                for w in ch.words)
            out.append(f"~ {where}: {ch.new}\n")
            if marked:
                out.append(f"    words: {marked}\n")
    return "".join(out) or "  (no text changes)\n"
