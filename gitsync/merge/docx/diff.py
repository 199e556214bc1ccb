"""Paragraph-level diff of two documents, for history views."""

from __future__ import annotations

from dataclasses import dataclass

from gitsync.merge.docx.errors import DocxError


@dataclass(frozen=True)
class WordChange:
    """One word-level change inside a changed paragraph (``op``: insert/delete/replace)."""

    op: str
    old: str
    new: str


@dataclass(frozen=True)
class ParagraphChange:
    """One changed block: ``op`` is ``insert``, ``delete`` or ``change``."""

    op: str
    old_index: int | None
    new_index: int | None
    old: str
    new: str
    words: tuple[WordChange, ...] = ()


def diff_docx(old: bytes, new: bytes) -> list[ParagraphChange]:
    """Paragraph-level diff between two documents."""
    raise DocxError("docx diff not implemented yet")
