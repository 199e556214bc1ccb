"""Paragraph-level diff of two documents, for history views.

Units are paragraphs and table rows (as :func:`docx_text` prints them). Changed units carry a
word-level diff of their text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from difflib import SequenceMatcher

from gitsync.merge.docx.textconv import document_lines

_WORDS = re.compile(r"\w+|\s+|[^\w\s]")


@dataclass(frozen=True)
class WordChange:
    """One word-level change inside a changed paragraph (``op``: insert/delete/replace)."""

    op: str
    old: str
    new: str


@dataclass(frozen=True)
class ParagraphChange:
    """One changed unit: ``op`` is ``insert``, ``delete`` or ``change``; ``kind`` is
    ``paragraph`` or ``row``; indexes are 0-based positions in the old and new documents."""

    op: str
    old_index: int | None
    new_index: int | None
    old: str
    new: str
    kind: str = "paragraph"
    words: tuple[WordChange, ...] = ()


def word_changes(old: str, new: str) -> tuple[WordChange, ...]:
    a, b = _WORDS.findall(old), _WORDS.findall(new)
    out: list[WordChange] = []
    for op, i1, i2, j1, j2 in SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op != "equal":
            out.append(WordChange(op, "".join(a[i1:i2]), "".join(b[j1:j2])))
    return tuple(out)


def diff_docx(old: bytes, new: bytes) -> list[ParagraphChange]:
    """Paragraph-level diff; in a replaced stretch, units are paired in order as changes
    when they still read alike, else reported as a deletion and an insertion."""
    lo, ln = document_lines(old), document_lines(new)
    sm = SequenceMatcher(None, lo, ln, autojunk=False)
    out: list[ParagraphChange] = []
    for op, i1, i2, j1, j2 in sm.get_opcodes():
        if op == "equal":
            continue
        pairs = min(i2 - i1, j2 - j1) if op == "replace" else 0
        for k in range(pairs):
            (ko, to), (kn, tn) = lo[i1 + k], ln[j1 + k]
            if ko == kn and _similar(to, tn):
                out.append(ParagraphChange("change", i1 + k, j1 + k, to, tn,
                                           _kind(ko), word_changes(to, tn)))
            else:
                out.append(ParagraphChange("delete", i1 + k, None, to, "", _kind(ko)))
                out.append(ParagraphChange("insert", None, j1 + k, "", tn, _kind(kn)))
        for i in range(i1 + pairs, i2):
            out.append(ParagraphChange("delete", i, None, lo[i][1], "", _kind(lo[i][0])))
        for j in range(j1 + pairs, j2):
            out.append(ParagraphChange("insert", None, j, "", ln[j][1], _kind(ln[j][0])))
    return out


def _similar(a: str, b: str) -> bool:
    """Whether a replaced unit reads as an edit of the old one rather than a new one."""
    wa, wb = re.findall(r"\w+", a), re.findall(r"\w+", b)
    if not wa and not wb:
        return True
    return SequenceMatcher(None, wa, wb, autojunk=False).ratio() >= 0.4


def _kind(k: str) -> str:
    return "row" if k == "row" else "paragraph"
