"""Public entry points of the .docx merger."""

from __future__ import annotations

from datetime import datetime

from gitsync.merge.base import MergeResult
from gitsync.merge.docx.errors import DocxError
from gitsync.merge.docx.limits import DocxLimits

DOCX_SUFFIXES = (".docx", ".docm", ".dotx")


def merge_docx(
    base: bytes | None,
    ours: bytes,
    theirs: bytes,
    *,
    ours_label: str,
    theirs_label: str,
    limits: DocxLimits | None = None,
    now: datetime | None = None,
) -> MergeResult:
    """Merge three versions of a Word document."""
    raise DocxError("docx merge not implemented yet")


def docx_text(data: bytes) -> str:
    """Plain text of a document, one paragraph per line (git textconv)."""
    raise DocxError("docx text not implemented yet")


class DocxMerger:
    """The :class:`gitsync.merge.base.Merger` for Word documents."""

    name = "docx"

    def accepts(self, path: str, base: bytes | None, ours: bytes, theirs: bytes) -> bool:
        """True for Word file names, or zip content holding ``word/document.xml``."""
        if path.lower().endswith(DOCX_SUFFIXES):
            return True
        return all(d[:4] == b"PK\x03\x04" and b"word/document.xml" in d for d in (ours, theirs))

    def merge(
        self,
        base: bytes | None,
        ours: bytes,
        theirs: bytes,
        *,
        ours_label: str,
        theirs_label: str,
        path: str = "",
    ) -> MergeResult:
        """Merge via :func:`merge_docx` with default limits."""
        return merge_docx(base, ours, theirs, ours_label=ours_label, theirs_label=theirs_label)
