"""Three-way merge of two edited sequences against their common base.

Items are compared by hashable keys only. Regions are found the classic diff3 way: base
stretches kept by both sides are sync points; between them, a stretch changed on one side
takes that side, the same change on both sides is taken once, and different changes are a
conflict for the caller to refine (the caller knows what the items are).
"""

from __future__ import annotations

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
    and that keeps the quadratic worst case of the matcher to the edited middle.
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
        sm = SequenceMatcher(None, mid_a, mid_b, autojunk=False)
        blocks = [(i, j, n) for i, j, n in sm.get_matching_blocks() if n]
        out.extend((i + pre, j + pre, n) for i, j, n in _toward_diagonal(mid_a, mid_b, blocks))
    if suf:
        out.append((la - suf, lb - suf, suf))
    out.append((la, lb, 0))
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
