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


# ------------------------------------------------------------------ structured, for pages
#: Sides larger than this are compared by size only.
MAX_DIFF_BYTES = 8 * 1024 * 1024
#: Lines of hunks returned at most; the rest is cut and the result says "truncated".
MAX_HUNK_LINES = 5000
#: Lines longer than this (in tokens) get no word-level marks.
MAX_LINE_TOKENS = 2000
CONTEXT = 3


def diff_data(path: str, old: bytes | None, new: bytes | None, *,
              max_lines: int = MAX_HUNK_LINES, max_bytes: int = MAX_DIFF_BYTES
              ) -> dict[str, object]:
    """What changed from OLD to NEW (None: absent), as data for a page.

    ``{"kind": "text", "hunks": [{"old_start", "old_lines", "new_start", "new_lines",
    "lines": [{"op": " "|"-"|"+", "text", "words": [{"op": "="|"-"|"+", "text"}]}]}]}``;
    ``{"kind": "docx", "hunks": [{"op": "insert"|"delete"|"change", "kind": "paragraph"|
    "table row", "old", "new", "words"}]}``; ``{"kind": "binary", "hunks": []}``. Every
    result carries ``old_size``/``new_size`` (None when absent) and ``truncated``.
    """
    sizes: dict[str, object] = {"old_size": None if old is None else len(old),
                                "new_size": None if new is None else len(new)}
    if max(len(old or b""), len(new or b"")) > max_bytes:
        return {"kind": "binary", "hunks": [], "truncated": True, **sizes}
    if _is_docx(path, old) and _is_docx(path, new) and (old is not None or new is not None):
        try:
            return {"kind": "docx", **_docx_hunks(old, new, max_lines), **sizes}
        except MergeError:
            return {"kind": "binary", "hunks": [], "truncated": False, **sizes}
    a, b = _text(old), _text(new)
    if a is None or b is None:
        return {"kind": "binary", "hunks": [], "truncated": False, **sizes}
    return {"kind": "text", **_text_hunks(a, b, max_lines), **sizes}


def word_ops(old: str, new: str) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """Word-level marks of a changed line: the old line as "="/"-" pieces and the new line
    as "="/"+" pieces (each joins back to its line)."""
    from gitsync.merge.words import tokenize

    a, b = tokenize(old), tokenize(new)
    if max(len(a), len(b)) > MAX_LINE_TOKENS:
        return [{"op": "-", "text": old}], [{"op": "+", "text": new}]
    left: list[dict[str, str]] = []
    right: list[dict[str, str]] = []

    def put(out: list[dict[str, str]], op: str, text: str) -> None:
        if not text:
            return
        if out and out[-1]["op"] == op:
            out[-1]["text"] += text
        else:
            out.append({"op": op, "text": text})

    sm = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for op, i1, i2, j1, j2 in sm.get_opcodes():
        if op == "equal":
            put(left, "=", "".join(a[i1:i2]))
            put(right, "=", "".join(b[j1:j2]))
        else:
            put(left, "-", "".join(a[i1:i2]))
            put(right, "+", "".join(b[j1:j2]))
    return left, right


def _text_hunks(a: str, b: str, max_lines: int) -> dict[str, object]:
    from gitsync.merge.sequence3 import diff_edits
    from gitsync.merge.textcodec import split_lines

    la = [x.rstrip("\r\n") for x in split_lines(a)]
    lb = [x.rstrip("\r\n") for x in split_lines(b)]
    edits = diff_edits(la, lb)
    groups: list[list[tuple[int, int, int, int]]] = []
    for e in edits:
        if groups and e.base_start - groups[-1][-1][1] <= 2 * CONTEXT:
            groups[-1].append(tuple(e))  # type: ignore[arg-type]
        else:
            groups.append([tuple(e)])  # type: ignore[list-item]
    hunks: list[dict[str, object]] = []
    emitted = 0
    truncated = False
    for group in groups:
        if emitted >= max_lines:
            truncated = True
            break
        first, last = group[0], group[-1]
        a0 = max(0, first[0] - CONTEXT)
        b0 = first[2] - (first[0] - a0)
        a1 = min(len(la), last[1] + CONTEXT)
        b1 = last[3] + (a1 - last[1])
        lines: list[dict[str, object]] = []
        i = a0
        for i1, i2, j1, j2 in group:
            lines += [{"op": " ", "text": la[k], "words": []} for k in range(i, i1)]
            olds, news = la[i1:i2], lb[j1:j2]
            marks_old: list[list[dict[str, str]]] = [[] for _ in olds]
            marks_new: list[list[dict[str, str]]] = [[] for _ in news]
            for k in range(min(len(olds), len(news))):
                marks_old[k], marks_new[k] = word_ops(olds[k], news[k])
            lines += [{"op": "-", "text": t, "words": m} for t, m in zip(olds, marks_old,
                                                                            strict=True)]
            lines += [{"op": "+", "text": t, "words": m} for t, m in zip(news, marks_new,
                                                                            strict=True)]
            i = i2
        lines += [{"op": " ", "text": la[k], "words": []} for k in range(i, a1)]
        if emitted + len(lines) > max_lines:
            lines = lines[:max(0, max_lines - emitted)]
            truncated = True
        emitted += len(lines)
        hunks.append({"old_start": a0 + 1, "old_lines": a1 - a0, "new_start": b0 + 1,
                      "new_lines": b1 - b0, "lines": lines})
    return {"hunks": hunks, "truncated": truncated}


def _docx_hunks(old: bytes | None, new: bytes | None, max_lines: int) -> dict[str, object]:
    from gitsync.merge.docx import diff_docx
    from gitsync.samples import docx_bytes

    empty = docx_bytes([])
    hunks: list[dict[str, object]] = []
    changes = diff_docx(old or empty, new or empty)
    for ch in changes[:max_lines]:
        words: list[dict[str, str]] = []
        if ch.op == "change":
            left, right = word_ops(ch.old, ch.new)
            words = _interleave(left, right)
        hunks.append({"op": ch.op, "kind": "table row" if ch.kind == "row" else ch.kind,
                      "old": ch.old, "new": ch.new, "old_index": ch.old_index,
                      "new_index": ch.new_index, "words": words})
    return {"hunks": hunks, "truncated": len(changes) > max_lines}


def _interleave(left: list[dict[str, str]], right: list[dict[str, str]]
                ) -> list[dict[str, str]]:
    """One stream of "=", "-" and "+" pieces reading through the changed paragraph."""
    out: list[dict[str, str]] = []
    i = j = 0
    while i < len(left) or j < len(right):
        if i < len(left) and left[i]["op"] == "-":
            out.append(left[i])
            i += 1
        elif j < len(right) and right[j]["op"] == "+":
            out.append(right[j])
            j += 1
        else:
            if i < len(left):
                out.append(left[i])
            i += 1
            j += 1
    return out
