"""Types shared by every merger."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:  # callers that pass a time import datetime; a text merge need not
    from datetime import datetime


class Conflict(NamedTuple):
    """One place where the two sides changed the same thing differently.

    ``where`` is a human description ("line 12", "paragraph 4", "word/footer1.xml");
    ``base``/``ours``/``theirs`` are the texts each version had there (empty when absent).
    """

    where: str
    base: str
    ours: str
    theirs: str
    kind: str = "content"


class MergeResult(NamedTuple):
    """Result of a three-way merge.

    ``data`` is always a valid file of the merged type. Where sides conflicted, mergers whose
    format cannot show a conflict (text) put ours' version there, so ``data`` can be written to
    the user's folder as is; mergers that can show conflicts inside the file (.docx tracked
    changes) do so and set ``conflicts_in_document``. ``marked`` is the git-style version with
    conflict markers, for ``gitsync merge-file`` and the git merge driver (text only).
    """

    data: bytes
    conflicts: tuple[Conflict, ...] = ()
    marked: bytes | None = None
    conflicts_in_document: bool = False
    notes: tuple[str, ...] = ()

    @property
    def clean(self) -> bool:
        return not self.conflicts


class Versions(NamedTuple):
    """What a merger merges: the three versions of one file, the names of its two sides (for
    conflict markers and tracked changes), its path (for messages and sniffing) and the time
    of the merge (what conflicts shown inside the file are dated; None: the merger picks a
    time that does not depend on the clock)."""

    base: bytes | None
    ours: bytes
    theirs: bytes
    ours_label: str
    theirs_label: str
    path: str = ""
    now: datetime | None = None


class Merger(ABC):
    """A three-way merger for one family of file types.

    Callers (the registry, the CLI) call :meth:`merge`; a merger subclasses this and defines
    ``accepts`` and :meth:`merge_versions`, which gets the inputs as one :class:`Versions`.
    """

    name: str

    @abstractmethod
    def accepts(self, path: str, base: bytes | None, ours: bytes, theirs: bytes) -> bool:
        """Whether this merger can handle these inputs (by name and content sniffing)."""

    def merge(
        self,
        base: bytes | None,
        ours: bytes,
        theirs: bytes,
        *,
        ours_label: str,
        theirs_label: str,
        path: str = "",
        now: datetime | None = None,
    ) -> MergeResult:
        """Merge three versions; raise :class:`gitsync.errors.MergeError` when it cannot."""
        return self.merge_versions(
            Versions(base, ours, theirs, ours_label, theirs_label, path, now))

    @abstractmethod
    def merge_versions(self, v: Versions) -> MergeResult:
        """Merge three versions; raise :class:`gitsync.errors.MergeError` when it cannot."""
