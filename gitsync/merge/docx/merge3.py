"""Three-way merge of two edited sequences against their common base.

Items are compared by hashable keys only. Regions are found the classic diff3 way: base
stretches kept by both sides are sync points; between them, a stretch changed on one side
takes that side, the same change on both sides is taken once, and different changes are a
conflict for the caller to refine (the caller knows what the items are).
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher


@dataclass(frozen=True, slots=True)
class Region:
    """One stretch of the merge: ``kind`` is ``same``, ``ours``, ``theirs``, ``both`` or
    ``conflict``; the three half-open ranges index base, ours and theirs."""

    kind: str
    base: tuple[int, int]
    ours: tuple[int, int]
    theirs: tuple[int, int]


def matching_blocks(a: Sequence[Hashable], b: Sequence[Hashable]) -> list[tuple[int, int, int]]:
    """Matching (i, j, n) triples of two key lists, ending with the (len, len, 0) sentinel.

    The common prefix and suffix are matched directly first: documents mostly stay the same,
    and that keeps the matcher's work to the edited middle.
    """
    la, lb = len(a), len(b)
    pre = 0
    while pre < la and pre < lb and a[pre] == b[pre]:
        pre += 1
    suf = 0
    while suf < la - pre and suf < lb - pre and a[la - 1 - suf] == b[lb - 1 - suf]:
        suf += 1
    out: list[tuple[int, int, int]] = []
    if pre:
        out.append((0, 0, pre))
    mid_a, mid_b = a[pre:la - suf], b[pre:lb - suf]
    if mid_a and mid_b:
        blocks = _anchored(mid_a, mid_b)
        out.extend((i + pre, j + pre, n) for i, j, n in _toward_diagonal(mid_a, mid_b, blocks))
    if suf:
        out.append((la - suf, lb - suf, suf))
    out.append((la, lb, 0))
    return out


#: Below this many items on each side a gap goes straight to difflib.
SMALL = 64


def _anchored(a: Sequence[Hashable], b: Sequence[Hashable]) -> list[tuple[int, int, int]]:
    """Matching blocks anchored on items that occur once on each side (patience diff).

    Paragraphs are mostly unique, so the longest increasing run of unique common items
    fixes the alignment in O(n log n); only the gaps between anchors go to difflib, whose
    cost grows with the product of the lengths it compares.
    """
    if len(a) < SMALL or len(b) < SMALL:
        return _difflib(a, b, 0, 0)
    count_a = Counter(a)
    count_b = Counter(b)
    pos_b = {k: j for j, k in enumerate(b) if count_b[k] == 1}
    cand = [(i, pos_b[k]) for i, k in enumerate(a) if count_a[k] == 1 and k in pos_b]
    anchors = _increasing(cand)
    if not anchors:
        return _difflib(a, b, 0, 0)
    out: list[tuple[int, int, int]] = []
    pi = pj = 0
    for i, j in [*anchors, (len(a), len(b))]:
        if i > pi and j > pj:
            out.extend(_difflib(a[pi:i], b[pj:j], pi, pj))
        if i < len(a):
            out.append((i, j, 1))
        pi, pj = i + 1, j + 1
    return _coalesce(out)


def _difflib(a: Sequence[Hashable], b: Sequence[Hashable], da: int,
             db: int) -> list[tuple[int, int, int]]:
    sm = SequenceMatcher(None, a, b, autojunk=False)
    return [(i + da, j + db, n) for i, j, n in sm.get_matching_blocks() if n]


def _increasing(pairs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Longest subsequence of (i, j) pairs (sorted by i) whose j also increases."""
    tails: list[int] = []  # index into pairs of the smallest tail of each length
    tail_j: list[int] = []
    prev: list[int] = [-1] * len(pairs)
    for k, (_, j) in enumerate(pairs):
        pos = bisect_left(tail_j, j)
        if pos:
            prev[k] = tails[pos - 1]
        if pos == len(tails):
            tails.append(k)
            tail_j.append(j)
        else:
            tails[pos] = k
            tail_j[pos] = j
    out: list[tuple[int, int]] = []
    k = tails[-1] if tails else -1
    while k >= 0:
        out.append(pairs[k])
        k = prev[k]
    return out[::-1]


def _coalesce(blocks: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    out: list[tuple[int, int, int]] = []
    for i, j, n in blocks:
        if out and out[-1][0] + out[-1][2] == i and out[-1][1] + out[-1][2] == j:
            pi, pj, pn = out[-1]
            out[-1] = (pi, pj, pn + n)
        else:
            out.append((i, j, n))
    return out


def _toward_diagonal(a: Sequence[Hashable], b: Sequence[Hashable],
                     blocks: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    """Re-anchor ambiguous matches so they keep their distance from the previous match.

    With repeated items (empty paragraphs, repeated headings) the matcher pairs the first
    equal item it finds; when the same run also matches at the position that keeps both
    sides in step, that one is meant: [a, a, a] vs [x, a, y] pairs the middle items.
    """
    out: list[tuple[int, int, int]] = []
    pi = pj = 0
    for k, (i, j, n) in enumerate(blocks):
        ni, nj = blocks[k + 1][:2] if k + 1 < len(blocks) else (len(a), len(b))
        if i - pi != j - pj:
            ti = pi + (j - pj)  # move in a
            tj = pj + (i - pi)  # or move in b
            if pi <= ti and ti + n <= ni and list(a[ti:ti + n]) == list(b[j:j + n]):
                i = ti
            elif pj <= tj and tj + n <= nj and list(a[i:i + n]) == list(b[tj:tj + n]):
                j = tj
        out.append((i, j, n))
        pi, pj = i + n, j + n
    return out


def _sync_regions(
    base: Sequence[Hashable], ours: Sequence[Hashable], theirs: Sequence[Hashable]
) -> list[tuple[int, int, int, int, int, int]]:
    """Base ranges kept unchanged by both sides, with where they sit in ours and theirs."""
    ma = matching_blocks(base, ours)
    mb = matching_blocks(base, theirs)
    ia = ib = 0
    sl: list[tuple[int, int, int, int, int, int]] = []
    while ia < len(ma) and ib < len(mb):
        abase, amatch, alen = ma[ia]
        bbase, bmatch, blen = mb[ib]
        lo = max(abase, bbase)
        hi = min(abase + alen, bbase + blen)
        if lo < hi:
            asub = amatch + (lo - abase)
            bsub = bmatch + (lo - bbase)
            sl.append((lo, hi, asub, asub + hi - lo, bsub, bsub + hi - lo))
        if abase + alen < bbase + blen:
            ia += 1
        else:
            ib += 1
    nb, no, nt = len(base), len(ours), len(theirs)
    sl.append((nb, nb, no, no, nt, nt))
    return sl


def merge3(
    base: Sequence[Hashable], ours: Sequence[Hashable], theirs: Sequence[Hashable]
) -> list[Region]:
    """Regions of the three-way merge of ``ours`` and ``theirs`` against ``base``."""
    regions: list[Region] = []
    iz = io = it = 0
    for zmatch, zend, omatch, oend, tmatch, tend in _sync_regions(base, ours, theirs):
        if zmatch > iz or omatch > io or tmatch > it:
            b = base[iz:zmatch]
            o = ours[io:omatch]
            t = theirs[it:tmatch]
            rng = ((iz, zmatch), (io, omatch), (it, tmatch))
            if list(o) == list(b):
                kind = "theirs"
            elif list(t) == list(b):
                kind = "ours"
            elif list(o) == list(t):
                kind = "both"
            else:
                kind = "conflict"
            regions.append(Region(kind, *rng))
        if zend > zmatch:
            regions.append(Region("same", (zmatch, zend), (omatch, oend), (tmatch, tend)))
        iz, io, it = zend, oend, tend
    return regions
