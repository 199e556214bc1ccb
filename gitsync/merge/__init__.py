"""Pure three-way mergers: bytes in, :class:`MergeResult` out.

Nothing in this package opens a repository, a file or a socket, or imports pygit2, watchdog
or fastapi (an import-linter contract enforces it). The registry picks a merger by file type.
"""

from gitsync.merge.base import Conflict, Merger, MergeResult

__all__ = ["Conflict", "MergeResult", "Merger"]
