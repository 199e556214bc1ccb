"""Three-way merge of text files: line-level (sequence3), then word-level inside conflicting groups.

What :class:`TextMerger` promises:

* Where git merge-file merges cleanly, the result is the same as git's (same diff3 grouping;
  alignment of ambiguous diffs may differ on files with many repeated lines).
* Where git would conflict, conflicting line groups are retried word by word, so edits to
  neighbouring lines or to different words of one line both survive. What still conflicts is
  reported as a :class:`Conflict` (``where`` = "line N" / "lines A-B" / "after line N" of
  ``data``) and resolved to ours in ``data``, while ``marked`` carries git-style markers.
* Identical changes on both sides are not a conflict.
* Bytes round-trip: the encoding (UTF-8 with/without BOM, UTF-16 with BOM, or an 8-bit code
  page, see ``textcodec``), the line-ending style and the presence of a final newline come out as
  the sides had them. Line endings are merged separately from content: lines are compared with
  LF, and the result uses CRLF when the sides do (if one side switched style, the switch wins,
  like any other one-sided change). A side with mixed endings turns normalisation off.
* It never decodes what is not text: :meth:`TextMerger.accepts` is false for NUL bytes, invalid
  encodings and incompatible encodings, and :meth:`TextMerger.merge` raises
  :class:`NotTextError` for them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, NamedTuple, TypeVar

from gitsync.errors import MergeError
from gitsync.merge.base import Conflict, Merger, MergeResult, Versions
from gitsync.merge.sequence3 import Chunk, merge_chunks, take
from gitsync.merge.textcodec import (
    Decoded,
    Encoding,
    EolStyle,
    decode,
    encode,
    encodings_for,
    eol_style,
    split_lines,
)
from gitsync.merge.words import MAX_TOKENS, merge_words

ConflictStyle = Literal["merge", "diff3"]
MARKER_SIZE = 7
#: Larger sides are not merged as text (the diff would take seconds and the result be unreadable).
MAX_BYTES = 32 * 1024 * 1024

V = TypeVar("V")


class TextTooLargeError(MergeError):
    """A side is larger than the text merger's limit (``max_bytes``)."""

    def __init__(self, message: str, *, path: str = "", limit: int) -> None:
        super().__init__(message, hint="the file is kept as ours and theirs saved as a copy")
        self.path = path
        self.limit = limit


class NotTextError(MergeError):
    """The inputs are not text this merger can decode (binary, or mixed encodings)."""

    def __init__(self, message: str, *, path: str = "") -> None:
        super().__init__(message, hint="the file is kept as ours and theirs saved as a copy")
        self.path = path


class _Prepared(NamedTuple):
    """The three sides decoded, normalised and split, plus how to write the result back."""

    lines: tuple[list[str], list[str], list[str]]
    normalised: bool
    eol: EolStyle
    encoding: Encoding
    notes: tuple[str, ...]


class _Merged:
    """The merge being built: lines of ``data`` (ours in conflicts) and of ``marked``."""

    # A plain class, not a dataclass: the merge driver's start-up cannot afford
    # dataclasses' import (it pulls in inspect).
    def __init__(self, ours_label: str, theirs_label: str) -> None:
        self.ours_label = ours_label
        self.theirs_label = theirs_label
        self.data: list[str] = []
        self.marked: list[str] = []
        self.conflicts: list[Conflict] = []
        self.refined = 0  # conflicting groups (by git's rule) that merged after all

    def keep(self, lines: Sequence[str]) -> None:
        """Lines that are the same in both outputs."""
        self.data.extend(lines)
        self.marked.extend(lines)


class TextMerger(Merger):
    """Line- then word-level three-way merge of text (see the module docstring)."""

    name = "text"

    def __init__(
        self,
        *,
        conflict_style: ConflictStyle = "merge",
        refine: bool = True,
        max_tokens: int = MAX_TOKENS,
        max_bytes: int = MAX_BYTES,
    ) -> None:
        """``conflict_style="diff3"`` adds the ``||||||| base`` section to ``marked``;
        ``refine=False`` gives git's plain line-level result (touching edits conflict);
        sides over ``max_bytes`` are refused with :class:`TextTooLargeError`."""
        self.conflict_style = conflict_style
        self.refine = refine
        self.max_tokens = max_tokens
        self.max_bytes = max_bytes

    def accepts(self, path: str, base: bytes | None, ours: bytes, theirs: bytes) -> bool:
        """True when all present sides are text in compatible encodings."""
        return _prepare(base, ours, theirs) is not None

    def merge_versions(self, v: Versions) -> MergeResult:
        """Merge three versions of a text file; ``base=None`` merges two added files."""
        name = v.path or "file"
        if max(len(v.base or b""), len(v.ours), len(v.theirs)) > self.max_bytes:
            raise TextTooLargeError(
                f"{name} is over {self.max_bytes} bytes, too large to merge as text",
                path=v.path,
                limit=self.max_bytes,
            )
        prepared = _prepare(v.base, v.ours, v.theirs)
        if prepared is None:
            raise NotTextError(f"{name} is not text in one encoding", path=v.path)
        out = _Merged(v.ours_label, v.theirs_label)
        if prepared.encoding.codec == "latin-1":
            # 8-bit files: labels go in as their UTF-8 bytes, as git writes them.
            out.ours_label = v.ours_label.encode("utf-8").decode("latin-1")
            out.theirs_label = v.theirs_label.encode("utf-8").decode("latin-1")
        base, ours, theirs = prepared.lines
        self._emit(out, merge_chunks(base, ours, theirs), base, ours, theirs, retry=self.refine)
        data, marked = "".join(out.data), "".join(out.marked)
        if prepared.normalised and prepared.eol == "crlf":
            data = data.replace("\n", "\r\n")
            marked = marked.replace("\n", "\r\n")
        notes = prepared.notes
        if out.refined:
            notes += (f"merged {out.refined} place(s) where both sides edited neighbouring text",)
        data_bytes = encode(data, prepared.encoding)
        return MergeResult(
            data=data_bytes,
            conflicts=tuple(out.conflicts),
            marked=encode(marked, prepared.encoding) if out.conflicts else data_bytes,
            notes=notes,
        )

    def _emit(
        self,
        out: _Merged,
        chunks: list[Chunk],
        base: list[str],
        ours: list[str],
        theirs: list[str],
        *,
        retry: bool,
    ) -> None:
        """Add the chunks of one merge to ``out``; with ``retry``, conflicting groups are merged
        again with the looser rule before they count as conflicts."""
        for chunk in chunks:
            if chunk.kind != "conflict":
                out.keep(take(chunk, base, ours, theirs))
                continue
            b_part, o_part, t_part = (
                base[chunk.base[0] : chunk.base[1]],
                ours[chunk.ours[0] : chunk.ours[1]],
                theirs[chunk.theirs[0] : chunk.theirs[1]],
            )
            if not retry:
                self._conflict(out, b_part, o_part, t_part)
                continue
            # Git's rule made this one group; only edits that share a line (or insert at
            # the same place) really collide, the rest merge line by line here.
            conflicts_before = len(out.conflicts)
            regroup = merge_chunks(b_part, o_part, t_part, touching_conflicts=False)
            self._emit(out, regroup, b_part, o_part, t_part, retry=False)
            if len(out.conflicts) == conflicts_before:
                out.refined += 1

    def _conflict(
        self, out: _Merged, b_part: list[str], o_part: list[str], t_part: list[str]
    ) -> None:
        """A group both sides changed: merged word by word if that works, else a conflict."""
        b_text, o_text, t_text = "".join(b_part), "".join(o_part), "".join(t_part)
        if self.refine:
            merged = merge_words(b_text, o_text, t_text, max_tokens=self.max_tokens)
            if merged is not None:
                out.keep(split_lines(merged))
                return
        first = len(out.data) + 1
        out.data.extend(o_part)
        out.conflicts.append(
            Conflict(
                where=_where(first, len(o_part)),
                base=b_text,
                ours=o_text,
                theirs=t_text,
                kind="content",
            )
        )
        out.marked.extend(self._markers(b_part, o_part, t_part, out.ours_label, out.theirs_label))

    def _markers(
        self,
        b_part: list[str],
        o_part: list[str],
        t_part: list[str],
        ours_label: str,
        theirs_label: str,
    ) -> list[str]:
        """One conflict as git prints it; lines both sides share at its edges stay outside."""
        prefix: list[str] = []
        suffix: list[str] = []
        if self.conflict_style == "merge":
            # As git's "zealous" level: common leading/trailing lines are not part of the
            # conflict. (diff3 style keeps them, since the base section covers the whole group.)
            head = _common_prefix(o_part, t_part)
            tail = _common_prefix(o_part[head:][::-1], t_part[head:][::-1])
            prefix = o_part[:head]
            suffix = o_part[len(o_part) - tail :]
            o_part = o_part[head : len(o_part) - tail]
            t_part = t_part[head : len(t_part) - tail]
        out = [*prefix, _marker("<", ours_label), *_terminated(o_part)]
        if self.conflict_style == "diff3":
            out += [_marker("|", "base"), *_terminated(b_part)]
        out += ["=" * MARKER_SIZE + "\n", *_terminated(t_part), _marker(">", theirs_label)]
        return out + suffix


def _prepare(base: bytes | None, ours: bytes, theirs: bytes) -> _Prepared | None:
    decoded: list[Decoded | None] = [None if base is None else decode(base)]
    decoded += [decode(ours), decode(theirs)]
    if (base is not None and decoded[0] is None) or decoded[1] is None or decoded[2] is None:
        return None
    encodings = encodings_for(decoded)
    if encodings is None:
        return None
    encoding = _three_way(*encodings)
    assert encoding is not None  # ours is always present
    texts = [d.text if d is not None else "" for d in decoded]
    styles: list[EolStyle] = [eol_style(d.text) if d is not None else "none" for d in decoded]
    normalised = "mixed" not in styles
    if normalised:
        texts = [t.replace("\r\n", "\n") for t in texts]
    known: list[EolStyle | None] = [None if s == "none" else s for s in styles]
    eol: EolStyle = (
        _three_way(known[0], known[1], known[2]) or known[1] or known[2] or known[0] or "lf"
    )
    lines = (split_lines(texts[0]), split_lines(texts[1]), split_lines(texts[2]))
    notes: tuple[str, ...] = ()
    if _clash(*encodings):
        notes += (f"both sides changed the encoding; kept ours ({encoding.codec})",)
    return _Prepared(lines, normalised, eol, encoding, notes)


def _three_way(base: V | None, ours: V | None, theirs: V | None) -> V | None:
    """Merge one property (encoding, line ending): a change on one side wins, else ours."""
    if ours == theirs or base != ours:
        return ours
    return theirs


def _clash(base: V | None, ours: V | None, theirs: V | None) -> bool:
    """Whether both sides changed a property to different values."""
    return None not in (ours, theirs) and len({base, ours, theirs}) == 3


def _where(first: int, count: int) -> str:
    if count == 0:
        return f"after line {first - 1}" if first > 1 else "before line 1"
    if count == 1:
        return f"line {first}"
    return f"lines {first}-{first + count - 1}"


def _marker(kind: str, label: str) -> str:
    return kind * MARKER_SIZE + (f" {label}" if label else "") + "\n"


def _terminated(lines: Sequence[str]) -> list[str]:
    """Lines with a newline added to the last one if it lacks it, so a marker can follow."""
    out = list(lines)
    if out and not out[-1].endswith("\n"):
        out[-1] += "\n"
    return out


def _common_prefix(a: Sequence[str], b: Sequence[str]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n
