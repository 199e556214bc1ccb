"""Three-way merge of sequences (lines or word tokens) with git merge-file's grouping rule.

Each side is diffed against the base; the changed base ranges ("hunks") of both sides are then
grouped. Following git's xdiff, two hunks fall in one group when they overlap *or touch*
(one ends where the other starts, including two insertions at the same place), because the
order of the two edits there is ambiguous. A group changed by one side only takes that side;
a group both sides changed identically takes that change; anything else is a conflict.
The text merger then retries conflicting line groups word by word (see ``words.py``), which is
how edits on neighbouring lines, or on different words of one line, both survive.

Diffs use :class:`difflib.SequenceMatcher` with ``autojunk=False`` (so frequent lines such as
blank ones are still matched) after trimming the common prefix and suffix, which keeps the
usual case, a large file with a few edits, close to linear.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Literal, TypeVar

T = TypeVar("T", bound=Hashable)

ChunkKind = Literal["same", "ours", "theirs", "both", "conflict"]


@dataclass(frozen=True)
class Hunk:
    """``base[base_start:base_end]`` became ``side[side_start:side_end]``."""

    base_start: int
    base_end: int
    side_start: int
    side_end: int


@dataclass(frozen=True)
class Chunk:
    """One stretch of the merge, with the half-open range it covers in each version.

    ``same``: untouched by both; ``ours``/``theirs``: changed by that side only; ``both``:
    changed identically by both; ``conflict``: changed differently by both.
    """

    kind: ChunkKind
    base: tuple[int, int]
    ours: tuple[int, int]
    theirs: tuple[int, int]


def diff_hunks(a: Sequence[T], b: Sequence[T]) -> list[Hunk]:
    """The ranges where ``a`` and ``b`` differ, in order; never two touching hunks."""
    n, m = len(a), len(b)
    limit = min(n, m)
    pre = 0
    while pre < limit and a[pre] == b[pre]:
        pre += 1
    suf = 0
    while suf < limit - pre and a[n - 1 - suf] == b[m - 1 - suf]:
        suf += 1
    a_end, b_end = n - suf, m - suf
    if pre == a_end and pre == b_end:
        return []
    if pre in (a_end, b_end):
        return [Hunk(pre, a_end, pre, b_end)]
    matcher = SequenceMatcher(None, a[pre:a_end], b[pre:b_end], autojunk=False)
    return [
        Hunk(pre + i1, pre + i2, pre + j1, pre + j2)
        for tag, i1, i2, j1, j2 in matcher.get_opcodes()
        if tag != "equal"
    ]


def diff3(base: Sequence[T], ours: Sequence[T], theirs: Sequence[T]) -> list[Chunk]:
    """Split the merge of three sequences into consecutive chunks covering all of each one."""
    events = sorted(
        [(h.base_start, h.base_end, 0, h) for h in diff_hunks(base, ours)]
        + [(h.base_start, h.base_end, 1, h) for h in diff_hunks(base, theirs)],
        key=lambda e: (e[0], e[1], e[2]),
    )
    chunks: list[Chunk] = []
    delta = [0, 0]  # side index minus base index after the hunks processed so far
    pos = 0  # base index up to which chunks were emitted
    i = 0
    while i < len(events):
        lo, hi = events[i][0], events[i][1]
        group = [events[i]]
        i += 1
        while i < len(events) and events[i][0] <= hi:
            hi = max(hi, events[i][1])
            group.append(events[i])
            i += 1
        if pos < lo:
            chunks.append(_same(pos, lo, delta))
        sides = {e[2] for e in group}
        ranges: list[tuple[int, int]] = []
        for side in (0, 1):
            start = lo + delta[side]
            for e in group:
                if e[2] == side:
                    h = e[3]
                    delta[side] += (h.side_end - h.side_start) - (h.base_end - h.base_start)
            ranges.append((start, hi + delta[side]))
        kind: ChunkKind
        if sides == {0}:
            kind = "ours"
        elif sides == {1}:
            kind = "theirs"
        elif _slice(ours, ranges[0]) == _slice(theirs, ranges[1]):
            kind = "both"
        else:
            kind = "conflict"
        chunks.append(Chunk(kind, (lo, hi), ranges[0], ranges[1]))
        pos = hi
    if pos < len(base):
        chunks.append(_same(pos, len(base), delta))
    return chunks


def merge_clean(base: Sequence[T], ours: Sequence[T], theirs: Sequence[T]) -> list[T] | None:
    """The merged sequence, or ``None`` when any chunk conflicts."""
    out: list[T] = []
    for chunk in diff3(base, ours, theirs):
        if chunk.kind == "conflict":
            return None
        out.extend(pick(chunk, base, ours, theirs))
    return out


def pick(chunk: Chunk, base: Sequence[T], ours: Sequence[T], theirs: Sequence[T]) -> Sequence[T]:
    """The content a non-conflicting chunk resolves to (ours for a conflict)."""
    if chunk.kind == "same":
        return _slice(base, chunk.base)
    if chunk.kind == "theirs":
        return _slice(theirs, chunk.theirs)
    return _slice(ours, chunk.ours)


def _same(lo: int, hi: int, delta: list[int]) -> Chunk:
    return Chunk("same", (lo, hi), (lo + delta[0], hi + delta[0]), (lo + delta[1], hi + delta[1]))


def _slice(seq: Sequence[T], span: tuple[int, int]) -> Sequence[T]:
    return seq[span[0] : span[1]]
