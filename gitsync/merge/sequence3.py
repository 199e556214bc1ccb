"""Three-way merge of sequences: the one algorithm under the line, word and .docx mergers.

Items are compared as hashable keys only (lines, word tokens, characters, block content
hashes); what an item *is*, and what to do where the two sides clash, is left to the caller.

Each side is diffed against the base; the changed base ranges (:class:`Edit`) of both sides are
then grouped. Following git's xdiff, two edits fall in one group when they overlap *or touch*
(one ends where the other starts, including two insertions at the same place), because the
order of the two edits there is ambiguous. A group changed by one side only takes that side;
a group both sides changed identically takes that change; anything else is a conflict.
The text merger then retries conflicting line groups with the looser rule (only edits that
share an element conflict) and word by word (see ``words.py``), which is how edits on
neighbouring lines, or on different words of one line, both survive.

The two-way diff is patience-style: elements unique on both sides anchor the alignment and the
gaps between anchors are solved recursively, small anchorless gaps with
:class:`difflib.SequenceMatcher` (``autojunk=False``, so blank lines still match). That keeps
the usual case, a large file with a few edits, near linear, and bounds the cost of hostile input
(thousands of identical lines), where an unbounded LCS search takes minutes.

Where equal elements make the alignment ambiguous, ``placement`` decides:

* ``"git"``: pure insertions and deletions slide down over equal elements, as git places them,
  so edits touch, or not, where git's would (the text merger must match git merge-file);
* ``"in_step"``: a match is moved to where it keeps both sides in step, so [a, a, a] against
  [x, a, y] pairs the middle items (repeated and empty paragraphs in documents).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Hashable, Sequence
from difflib import SequenceMatcher
from typing import Literal, NamedTuple, TypeVar

T = TypeVar("T", bound=Hashable)

ChunkKind = Literal["same", "ours", "theirs", "both", "conflict"]
Placement = Literal["git", "in_step"]
#: Matching blocks ``(i, j, n)``: ``a[i:i + n] == b[j:j + n]``.
Block = tuple[int, int, int]


class Edit(NamedTuple):
    """One change of a two-way diff: ``base[base_start:base_end]`` became
    ``side[side_start:side_end]``."""

    base_start: int
    base_end: int
    side_start: int
    side_end: int


class Chunk(NamedTuple):
    """One stretch of the merge, with the half-open range it covers in each version.

    ``same``: untouched by both; ``ours``/``theirs``: changed by that side only; ``both``:
    changed identically by both; ``conflict``: changed differently by both.
    """

    kind: ChunkKind
    base: tuple[int, int]
    ours: tuple[int, int]
    theirs: tuple[int, int]


def merge_chunks(
    base: Sequence[T],
    ours: Sequence[T],
    theirs: Sequence[T],
    *,
    touching_conflicts: bool = True,
    placement: Placement = "git",
) -> list[Chunk]:
    """Split the merge of three sequences into consecutive chunks covering all of each one.

    With ``touching_conflicts`` (git's rule) edits of both sides that touch end to end form one
    group; without it only edits sharing a base element, or two insertions at the same place
    (whose order nobody can tell), do. The text merger uses the second form only inside
    groups the first form found, to let edits of neighbouring lines both through.
    """
    events = sorted(
        [(e.base_start, e.base_end, 0, e) for e in diff_edits(base, ours, placement=placement)]
        + [(e.base_start, e.base_end, 1, e) for e in diff_edits(base, theirs, placement=placement)],
        key=lambda ev: (ev[0], ev[1], ev[2]),
    )
    chunks: list[Chunk] = []
    delta = [0, 0]  # side index minus base index after the edits processed so far
    pos = 0  # base index up to which chunks were emitted
    i = 0
    while i < len(events):
        lo, hi = events[i][0], events[i][1]
        group = [events[i]]
        i += 1
        while i < len(events) and _joins(group, hi, events[i], touching_conflicts):
            hi = max(hi, events[i][1])
            group.append(events[i])
            i += 1
        if pos < lo:
            chunks.append(_same(pos, lo, delta))
        sides = {ev[2] for ev in group}
        ranges: list[tuple[int, int]] = []
        for side in (0, 1):
            start = lo + delta[side]
            for ev in group:
                if ev[2] == side:
                    e = ev[3]
                    delta[side] += (e.side_end - e.side_start) - (e.base_end - e.base_start)
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
    for chunk in merge_chunks(base, ours, theirs):
        if chunk.kind == "conflict":
            return None
        out.extend(take(chunk, base, ours, theirs))
    return out


def take(chunk: Chunk, base: Sequence[T], ours: Sequence[T], theirs: Sequence[T]) -> Sequence[T]:
    """What a non-conflicting chunk resolves to (ours for a conflict)."""
    if chunk.kind == "same":
        return _slice(base, chunk.base)
    if chunk.kind == "theirs":
        return _slice(theirs, chunk.theirs)
    return _slice(ours, chunk.ours)


def _joins(
    group: list[tuple[int, int, int, Edit]],
    hi: int,
    event: tuple[int, int, int, Edit],
    touching_conflicts: bool,
) -> bool:
    """Whether ``event`` belongs to the group of edits ending at base index ``hi``."""
    start, end, side = event[0], event[1], event[2]
    if start != hi:
        return start < hi
    if touching_conflicts:
        return True
    return start == end and any(ev[0] == ev[1] == start and ev[2] != side for ev in group)


def _same(lo: int, hi: int, delta: list[int]) -> Chunk:
    return Chunk("same", (lo, hi), (lo + delta[0], hi + delta[0]), (lo + delta[1], hi + delta[1]))


def _slice(seq: Sequence[T], span: tuple[int, int]) -> Sequence[T]:
    return seq[span[0] : span[1]]


# --- two-way diff -------------------------------------------------------------------------


def diff_edits(a: Sequence[T], b: Sequence[T], *, placement: Placement = "git") -> list[Edit]:
    """The ranges where ``a`` and ``b`` differ, in order; never two touching edits."""
    ai, bi = _interned(a, b)
    blocks = _matches(ai, bi, in_step=placement == "in_step")
    if placement == "in_step":
        return _edits(_in_step(ai, bi, blocks), len(ai), len(bi))
    return _slide_down(_edits(blocks, len(ai), len(bi)), ai, bi)


def matching_blocks(a: Sequence[T], b: Sequence[T], *, placement: Placement = "git") -> list[Block]:
    """Matching ``(i, j, n)`` blocks of ``a`` and ``b``, ending with ``(len(a), len(b), 0)``.

    The same alignment :func:`diff_edits` gives, in :meth:`difflib.SequenceMatcher.
    get_matching_blocks` form, for callers that walk the common stretches.
    """
    out: list[Block] = []
    i = j = 0
    for e in diff_edits(a, b, placement=placement):
        if e.base_start > i:
            out.append((i, j, e.base_start - i))
        i, j = e.base_end, e.side_end
    if i < len(a):
        out.append((i, j, len(a) - i))
    out.append((len(a), len(b), 0))
    return out


def _interned(a: Sequence[T], b: Sequence[T]) -> tuple[list[int], list[int]]:
    """Both sequences as small ints: every later comparison and hash is then a cheap one."""
    ids: dict[T, int] = {}
    return [ids.setdefault(x, len(ids)) for x in a], [ids.setdefault(x, len(ids)) for x in b]


def _edits(blocks: list[Block], len_a: int, len_b: int) -> list[Edit]:
    """The gaps between matching blocks (which must be in order and may be adjacent)."""
    edits: list[Edit] = []
    i = j = 0
    for mi, mj, size in blocks:
        if i < mi or j < mj:
            edits.append(Edit(i, mi, j, mj))
        i, j = mi + size, mj + size
    if i < len_a or j < len_b:
        edits.append(Edit(i, len_a, j, len_b))
    return edits


def _slide_down(edits: list[Edit], a: list[int], b: list[int]) -> list[Edit]:
    """Move pure insertions and deletions as far down as equal lines allow, as git does.

    Deleting one of three equal lines can be reported at any of them; git reports the last,
    and since where an edit sits decides whether it touches the other side's edit, doing the
    same keeps our clean merges equal to git's. An edit that comes to touch the next one is
    joined with it.
    """
    out: list[Edit] = []
    for k, e in enumerate(edits):
        i1, i2, j1, j2 = e.base_start, e.base_end, e.side_start, e.side_end
        limit = edits[k + 1].base_start if k + 1 < len(edits) else len(a)
        if j1 == j2:
            while i2 < limit and a[i1] == a[i2]:
                i1, i2, j1, j2 = i1 + 1, i2 + 1, j1 + 1, j2 + 1
        elif i1 == i2:
            while i1 < limit and b[j1] == b[j2]:
                i1, i2, j1, j2 = i1 + 1, i2 + 1, j1 + 1, j2 + 1
        if out and out[-1].base_end == i1 and out[-1].side_end == j1:
            prev = out.pop()
            i1, j1 = prev.base_start, prev.side_start
        out.append(Edit(i1, i2, j1, j2))
    return out


def _in_step(a: list[int], b: list[int], blocks: list[Block]) -> list[Block]:
    """Re-anchor ambiguous matches so they keep their distance from the previous match.

    With repeated items (empty paragraphs, repeated headings) the matcher pairs the first
    equal item it finds; when the same run also matches at the position that keeps both
    sides in step, that one is meant: [a, a, a] vs [x, a, y] pairs the middle items.
    """
    out: list[Block] = []
    pi = pj = 0
    for k, (i, j, n) in enumerate(blocks):
        ni, nj = blocks[k + 1][:2] if k + 1 < len(blocks) else (len(a), len(b))
        # The common tail stays where it is: it is what both sides kept at the end.
        if i - pi != j - pj and (i + n, j + n) != (len(a), len(b)):
            ti = pi + (j - pj)  # move in a
            tj = pj + (i - pi)  # or move in b
            if pi <= ti and ti + n <= ni and a[ti : ti + n] == b[j : j + n]:
                i = ti
            elif pj <= tj and tj + n <= nj and a[i : i + n] == b[tj : tj + n]:
                j = tj
        out.append((i, j, n))
        pi, pj = i + n, j + n
    return out


def _matches(a: list[int], b: list[int], *, in_step: bool = False) -> list[Block]:
    """Matching blocks ``(i, j, size)`` of ``a`` and ``b``, in order, never adjacent.

    Patience-style: elements unique in both ranges and in increasing order on both sides are
    anchors, and the gaps between anchors are solved the same way; a gap without such anchors
    goes to SequenceMatcher when it is small (its cost grows fast with repeated elements), and
    is otherwise left as one replacement. Common leading and trailing elements of every range
    are matched first, so insertions and deletions land where git puts them.

    With ``in_step``, small anchorless gaps are aligned by :func:`_aligned_in_step` instead:
    SequenceMatcher pairs the first equal items it finds, and among repeated items that can
    skew the whole gap (``[a]*5`` against ``[x, a, y, a, z]`` would pair base 0 with side 1).
    """
    raw: list[Block] = []
    stack = [(0, len(a), 0, len(b))]
    while stack:
        alo, ahi, blo, bhi = stack.pop()
        head = 0
        while alo + head < ahi and blo + head < bhi and a[alo + head] == b[blo + head]:
            head += 1
        if head:
            raw.append((alo, blo, head))
            alo, blo = alo + head, blo + head
        tail = 0
        while alo < ahi - tail and blo < bhi - tail and a[ahi - 1 - tail] == b[bhi - 1 - tail]:
            tail += 1
        if tail:
            raw.append((ahi - tail, bhi - tail, tail))
            ahi, bhi = ahi - tail, bhi - tail
        if alo == ahi or blo == bhi:
            continue
        anchors = _anchors(a, b, alo, ahi, blo, bhi)
        if anchors:
            prev_i, prev_j = alo, blo
            for i, j in anchors:
                raw.append((i, j, 1))
                stack.append((prev_i, i, prev_j, j))
                prev_i, prev_j = i + 1, j + 1
            stack.append((prev_i, ahi, prev_j, bhi))
        elif in_step and (ahi - alo) * (bhi - blo) <= STEP_GAP:
            raw += _aligned_in_step(a, b, alo, ahi, blo, bhi)
        elif (ahi - alo) * (bhi - blo) <= SMALL_GAP:
            matcher = SequenceMatcher(None, a[alo:ahi], b[blo:bhi], autojunk=False)
            raw += [(alo + i, blo + j, n) for i, j, n in matcher.get_matching_blocks() if n]
    raw.sort()
    merged: list[Block] = []
    for i, j, n in raw:
        if merged and merged[-1][0] + merged[-1][2] == i and merged[-1][1] + merged[-1][2] == j:
            merged[-1] = (merged[-1][0], merged[-1][1], merged[-1][2] + n)
        else:
            merged.append((i, j, n))
    return merged


#: Gaps (rows x columns) up to this size without unique anchors use SequenceMatcher (about
#: 10 ms at worst); larger ones, only seen with heavily repeated lines, count as replaced.
SMALL_GAP = 160_000
#: Anchorless gaps up to this size are aligned in step (a pure-Python table, about 10 ms at
#: worst); larger ones go to SequenceMatcher and are re-anchored by :func:`_in_step`.
STEP_GAP = 10_000


def _aligned_in_step(
    a: list[int], b: list[int], alo: int, ahi: int, blo: int, bhi: int
) -> list[Block]:
    """Single-item matches of a gap: as many as possible, and among the alignments with that
    many, the one with fewest insertions and deletions (an item replaced in place counts as
    one change, not two), so changed items pair with the items at their own positions.
    """
    m, n = ahi - alo, bhi - blo
    big = m + n + 1  # one match outweighs any number of changes
    # score[i][j]: best of a[alo:alo + i] against b[blo:blo + j], matches * big - changes.
    score = [[-j for j in range(n + 1)]]
    for i in range(1, m + 1):
        prev = score[-1]
        row = [-i]
        x = a[alo + i - 1]
        for j in range(1, n + 1):
            diag = prev[j - 1] + (big if b[blo + j - 1] == x else -1)
            up, left = prev[j] - 1, row[j - 1] - 1
            row.append(diag if diag >= up and diag >= left else up if up >= left else left)
        score.append(row)
    out: list[Block] = []
    i, j = m, n
    while i > 0 and j > 0:
        same = a[alo + i - 1] == b[blo + j - 1]
        if score[i][j] == score[i - 1][j - 1] + (big if same else -1):
            if same:
                out.append((alo + i - 1, blo + j - 1, 1))
            i, j = i - 1, j - 1
        elif score[i][j] == score[i - 1][j] - 1:
            i -= 1
        else:
            j -= 1
    return out


def _anchors(
    a: list[int], b: list[int], alo: int, ahi: int, blo: int, bhi: int
) -> list[tuple[int, int]]:
    """Pairs (i, j) of elements unique in both ranges, longest run increasing on both sides."""
    count: dict[int, int] = {}
    for x in a[alo:ahi]:
        count[x] = count.get(x, 0) + 1
    in_b: dict[int, int] = {}
    for j in range(blo, bhi):
        x = b[j]
        if count.get(x) == 1:
            in_b[x] = -1 if x in in_b else j
    pairs = [(i, in_b[a[i]]) for i in range(alo, ahi) if in_b.get(a[i], -1) >= 0]
    if not pairs:
        return []
    # Longest increasing subsequence of the b positions (patience sorting).
    tops: list[int] = []  # b position ending the best run of each length
    tops_at: list[int] = []  # index in pairs of that element
    back: list[int] = []
    for k, (_, j) in enumerate(pairs):
        n = bisect_left(tops, j)
        if n == len(tops):
            tops.append(j)
            tops_at.append(k)
        else:
            tops[n] = j
            tops_at[n] = k
        back.append(tops_at[n - 1] if n else -1)
    out: list[tuple[int, int]] = []
    k = tops_at[-1]
    while k >= 0:
        out.append(pairs[k])
        k = back[k]
    return out[::-1]
