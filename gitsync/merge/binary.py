"""The fallback merger: keeps ours and reports the file as one conflict.

Content that no other merger understands cannot be combined safely, so nothing is combined:
``data`` is ours byte for byte (the engine saves theirs as a conflict copy). The only merges
it does are the trivial ones, where one side did not change anything or both sides agree,
so it is a correct merger on its own.
"""

from __future__ import annotations

from gitsync.merge.base import Conflict, Merger, MergeResult, Versions

WHOLE_FILE = "whole file"


def describe(data: bytes | None) -> str:
    """A short label for binary content in a :class:`Conflict` ("" when absent)."""
    if data is None:
        return ""
    import hashlib  # here: it loads OpenSSL (2-3 ms), which a text merge never needs

    return f"{len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()[:12]}"


def whole_file_conflict(base: bytes | None, ours: bytes, theirs: bytes, *, kind: str) -> Conflict:
    """The one conflict of a file that is kept as ours without being merged."""
    return Conflict(
        where=WHOLE_FILE,
        base=describe(base),
        ours=describe(ours),
        theirs=describe(theirs),
        kind=kind,
    )


def trivial_merge(base: bytes | None, ours: bytes, theirs: bytes) -> bytes | None:
    """The merge when at most one side changed, or both made the same change; else None."""
    if ours == theirs or base == theirs:
        return ours
    if base == ours:
        return theirs
    return None


class BinaryMerger(Merger):
    """Accepts everything; merges only trivially, otherwise keeps ours with a "binary" conflict."""

    name = "binary"

    def accepts(self, path: str, base: bytes | None, ours: bytes, theirs: bytes) -> bool:
        """Always true: this is the merger of last resort."""
        return True

    def merge_versions(self, v: Versions) -> MergeResult:
        """Ours, plus one conflict of kind "binary" unless the merge is trivial."""
        merged = trivial_merge(v.base, v.ours, v.theirs)
        if merged is not None:
            return MergeResult(data=merged)
        conflict = whole_file_conflict(v.base, v.ours, v.theirs, kind="binary")
        return MergeResult(data=v.ours, conflicts=(conflict,))
