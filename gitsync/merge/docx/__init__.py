"""Structured three-way merge of Word (.docx) documents.

The body is merged block by block (paragraphs, tables, content controls) and, where both sides
edited the same paragraph, word by word keeping run formatting; the other parts (headers,
footers, notes, comments, styles, numbering, media) are merged by their own keys. True
conflicts are written into the document as tracked changes by the other device, and also
returned as :class:`gitsync.merge.base.Conflict` records. The output is self-checked before it
is returned; a failing check raises :class:`InvalidOutputError`.

Everything here is pure: bytes in, bytes out, no files, clocks or network.
"""

from __future__ import annotations

from gitsync.merge.docx.api import DocxMerger, docx_text, merge_docx
from gitsync.merge.docx.diff import ParagraphChange, WordChange, diff_docx
from gitsync.merge.docx.errors import (
    DocxError,
    EncryptedDocxError,
    InvalidOutputError,
    LimitExceededError,
    MalformedPartError,
    MissingPartError,
    NotAZipError,
)
from gitsync.merge.docx.limits import DEFAULT_LIMITS, DocxLimits

__all__ = [
    "DEFAULT_LIMITS",
    "DocxError",
    "DocxLimits",
    "DocxMerger",
    "EncryptedDocxError",
    "InvalidOutputError",
    "LimitExceededError",
    "MalformedPartError",
    "MissingPartError",
    "NotAZipError",
    "ParagraphChange",
    "WordChange",
    "diff_docx",
    "docx_text",
    "merge_docx",
]
