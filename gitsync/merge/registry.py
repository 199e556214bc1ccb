"""Choosing a merger by file type, so new formats plug in without touching the engine.

:class:`MergerRegistry` holds mergers in priority order. :meth:`MergerRegistry.merge` is the one
call the sync engine and the CLI make: it settles trivial merges itself (byte-identical, no
merger called), asks each merger in turn whether it ``accepts`` the inputs, and turns a
:class:`gitsync.errors.MergeError` from the chosen merger into the binary outcome (ours kept,
one "unmergeable" conflict), so a hostile or broken file never stops a sync.

The .docx merger is registered :class:`Deferred`: its package (and lxml) is imported
only when a file may be a Word document, so ``gitsync merge-file`` on text files, run once per
file as a git merge driver, does not pay for it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from gitsync.errors import MergeError
from gitsync.merge.base import Conflict, Merger, MergeResult
from gitsync.merge.binary import WHOLE_FILE, BinaryMerger, describe, trivial_merge
from gitsync.merge.text import TextMerger

if TYPE_CHECKING:
    from datetime import datetime


class NoMergerError(MergeError):
    """No registered merger accepts the inputs (only possible without the binary merger)."""

    def __init__(self, message: str, *, path: str) -> None:
        super().__init__(message, hint="register a merger that accepts every file last")
        self.path = path


class Deferred:
    """A merger imported the first time a file may be its own.

    ``suffixes`` and ``magic`` are a cheap first filter that must let through everything the
    real merger accepts (a file name ending in one of ``suffixes``, or ours or theirs starting
    with ``magic``); the real merger's ``accepts`` then has the last word.
    """

    def __init__(self, name: str, load: Callable[[], Merger], *, suffixes: tuple[str, ...],
                 magic: bytes = b"") -> None:
        self.name = name
        self._load = load
        self._suffixes = suffixes
        self._magic = magic
        self._merger: Merger | None = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._merger is not None

    def may_accept(self, path: str, ours: bytes, theirs: bytes) -> bool:
        if path.lower().endswith(self._suffixes):
            return True
        return bool(self._magic) and (ours.startswith(self._magic)
                                      or theirs.startswith(self._magic))

    def load(self) -> Merger:
        """The real merger, imported and built on first use (once, even across threads)."""
        with self._lock:
            if self._merger is None:
                self._merger = self._load()
            return self._merger


def _docx_merger() -> Merger:
    from gitsync.merge.docx import DocxMerger

    return DocxMerger()


# Word's file names (as DocxMerger knows them; a test checks they agree) and the zip header
# that every .docx starts with.
DOCX_SUFFIXES = (".docx", ".docm", ".dotx")
ZIP_MAGIC = b"PK\x03\x04"


class MergerRegistry:
    """Mergers in priority order; the first whose ``accepts`` is true handles a file."""

    def __init__(self, mergers: Sequence[Merger | Deferred] | None = None) -> None:
        self._mergers: list[Merger | Deferred] = list(mergers or [])

    @property
    def mergers(self) -> tuple[Merger | Deferred, ...]:
        """The registered mergers, highest priority first."""
        return tuple(self._mergers)

    def register(self, merger: Merger | Deferred, *, first: bool = False) -> None:
        """Add ``merger`` after the others, or before them with ``first=True``."""
        if first:
            self._mergers.insert(0, merger)
        else:
            self._mergers.append(merger)

    def for_path(self, path: str, base: bytes | None, ours: bytes, theirs: bytes) -> Merger:
        """The merger that will handle these inputs; :class:`NoMergerError` if none does."""
        for entry in self._mergers:
            if not isinstance(entry, Deferred):
                merger = entry
            elif entry.may_accept(path, ours, theirs):
                merger = entry.load()
            else:
                continue
            if merger.accepts(path, base, ours, theirs):
                return merger
        raise NoMergerError(f"no merger accepts {path or 'this file'}", path=path)

    def merge(
        self,
        path: str,
        base: bytes | None,
        ours: bytes,
        theirs: bytes,
        *,
        ours_label: str,
        theirs_label: str,
        now: datetime | None = None,
    ) -> MergeResult:
        """Merge three versions of ``path``; never raises :class:`MergeError`.

        ``now`` is the time of the merge, which conflicts shown inside a file (Word's tracked
        changes) carry; the caller reads the clock, so mergers stay pure. Trivial cases (both
        sides equal, or one side unchanged from base) return the winning side's bytes
        unchanged without calling any merger.
        """
        trivial = trivial_merge(base, ours, theirs)
        if trivial is not None:
            return MergeResult(data=trivial)
        try:
            merger = self.for_path(path, base, ours, theirs)
            return merger.merge(
                base, ours, theirs, ours_label=ours_label, theirs_label=theirs_label, path=path,
                now=now,
            )
        except MergeError as e:
            import logging  # only here: a merge driver's start-up stays light

            logging.getLogger(__name__).warning("cannot merge %s, keeping ours: %s", path, e)
            conflict = Conflict(
                where=WHOLE_FILE,
                base=describe(base),
                ours=describe(ours),
                theirs=describe(theirs),
                kind="unmergeable",
            )
            return MergeResult(data=ours, conflicts=(conflict,), notes=(str(e),))


def default_registry() -> MergerRegistry:
    """Word documents, then text, then the binary fallback that accepts everything."""
    docx = Deferred("docx", _docx_merger, suffixes=DOCX_SUFFIXES, magic=ZIP_MAGIC)
    return MergerRegistry([docx, TextMerger(), BinaryMerger()])


def merge_files(
    base: bytes | None,
    ours: bytes,
    theirs: bytes,
    *,
    path: str,
    ours_label: str,
    theirs_label: str,
    registry: MergerRegistry | None = None,
    now: datetime | None = None,
) -> tuple[bytes, int]:
    """What ``gitsync merge-file`` writes and its exit status, as ``git merge-file`` does.

    The bytes are the marked text (conflict markers) when a text merge conflicts, otherwise
    the merged file (formats without markers carry their conflicts inside, or keep ours).
    The status is 0 when clean and 1 when anything conflicts.
    """
    reg = registry if registry is not None else default_registry()
    result = reg.merge(path, base, ours, theirs, ours_label=ours_label, theirs_label=theirs_label,
                       now=now)
    if result.clean:
        return result.data, 0
    return (result.marked if result.marked is not None else result.data), 1
