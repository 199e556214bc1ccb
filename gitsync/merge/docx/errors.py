"""Typed errors raised by the .docx merger.

All derive from :class:`gitsync.errors.MergeError`, so the engine's fallback (keep ours, write
theirs as a conflict copy) applies to every one of them. Each carries the offending ``part``
(zip entry name) when there is one.
"""

from __future__ import annotations

from gitsync.errors import MergeError


class DocxError(MergeError):
    """A .docx input could not be merged, or the merged output failed its self-check."""

    def __init__(self, message: str, *, part: str | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.part = part


class NotAZipError(DocxError):
    """The bytes are not a readable zip archive (truncated, or another format)."""


class EncryptedDocxError(DocxError):
    """The file is password-protected (an OLE compound file, or encrypted zip entries)."""


class MissingPartError(DocxError):
    """A part the merger needs (``word/document.xml``, ``[Content_Types].xml``) is absent."""


class LimitExceededError(DocxError):
    """The package is over one of :class:`DocxLimits` (entries, sizes, ratio, paragraphs)."""

    def __init__(
        self, message: str, *, limit: str, part: str | None = None, hint: str | None = None
    ) -> None:
        super().__init__(message, part=part, hint=hint)
        self.limit = limit


class MalformedPartError(DocxError):
    """A part is not well-formed XML, uses a DTD/entities, or has duplicate zip names."""


class InvalidOutputError(DocxError):
    """The merged package failed the self-check; nothing is returned, ours is kept."""
