"""Three-way merge of block sequences (body, table cells, notes, headers).

Blocks are matched by a hash of their normalized content, so Word's noise never counts as an
edit and w14:paraId is only a tie-breaking hint. Where the plain three-way merge finds both
sides changing the same stretch, the stretch is refined: each side's blocks are paired with
base blocks by text similarity, so edits to neighbouring paragraphs merge cleanly, a paragraph
edited on both sides is merged word by word, and only real clashes become conflicts.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from difflib import SequenceMatcher

from lxml import etree

from gitsync.merge.base import Conflict
from gitsync.merge.docx.normal import Formatting
from gitsync.merge.docx.ooxml import (
    W14_PARAID,
    W_P,
    W_SDT,
    W_SDTCONTENT,
    W_TBL,
    W_TR,
    block_text,
    empty_like,
    w,
)
from gitsync.merge.docx.runs import canon
from gitsync.merge.docx.tracked import Tracker, conflict_blocks
from gitsync.merge.sequence3 import matching_blocks, merge_chunks

#: Above this many base x side block pairs in one clashing stretch, blocks are paired by a
#: linear method instead of the quadratic similarity alignment.
MAX_ALIGN_CELLS = 10_000
PAIR_THRESHOLD = 0.5
#: How far the linear pairing looks ahead to step over inserted or deleted blocks.
LOOKAHEAD = 4


#: Merges one block both sides edited: ``(base, ours, theirs, ctx, where) -> blocks``.
ItemMerger = Callable[
    [etree._Element, etree._Element, etree._Element, "Ctx", str], list[etree._Element]
]


@dataclass
class Ctx:
    """Per-part merge state: the revision tracker, the conflicts found, and key caches.

    ``goback`` holds each side's _GoBack bookmark ids (base, ours, theirs). ``item_mergers``
    merge a block both sides edited, by its tag (paragraphs, tables, rows): they are handed in
    rather than imported because they merge what they contain with :func:`merge_blocks`.
    """

    tracker: Tracker
    goback: tuple[frozenset[str], frozenset[str], frozenset[str]]
    conflicts: list[Conflict]
    item_mergers: Mapping[str, ItemMerger]
    part: str = "word/document.xml"
    theirs_label: str = "theirs"
    ours_label: str = "ours"
    #: Each side's effective formatting (base, ours, theirs), when the part has styles.
    fmts: tuple[Formatting | None, Formatting | None, Formatting | None] = (None, None, None)
    _keys: dict[tuple[int, bytes], str] = field(default_factory=dict)
    _base_keys: dict[bytes, str] = field(default_factory=dict)

    #: Sides whose formatting is the same share key caches: (base, ours, theirs) -> slot.
    slots: tuple[int, int, int] = (0, 1, 2)

    def key(self, el: etree._Element, side: int) -> str:
        """Normalized content key of a block (cached on its raw serialization).

        A block whose XML is exactly a base block's has that block's key, whatever its
        side's styles say: a style edited on one device changes how its paragraphs look,
        but it is an edit of the style (merged with the styles), not of each paragraph.
        """
        raw = etree.tostring(el, with_tail=False)
        ck = (self.slots[side], raw)
        k = self._keys.get(ck)
        if k is None:
            k = self._base_keys.get(raw) if side else None
            if k is None:
                k = canon(el, self.goback[side], self.fmts[side])
            self._keys[ck] = k
        if side == 0:
            self._base_keys.setdefault(raw, k)
        return k

    def conflict(self, where: str, base: str, ours: str, theirs: str, kind: str) -> None:
        self.conflicts.append(Conflict(where=where, base=base, ours=ours, theirs=theirs,
                                       kind=kind))

    def comment_text(self, base: str) -> str:
        """The comment anchored on a conflict: who changed it, how to settle it, the base."""
        quoted = base if len(base) <= 400 else base[:400] + "…"
        original = f"Original text: “{quoted}”" if quoted else "Both added text here."
        return (f"gitsync merge: {self.ours_label} and {self.theirs_label} both changed this. "
                f"{self.theirs_label}'s version is shown as tracked changes: Accept keeps "
                f"{self.theirs_label}'s, Reject keeps {self.ours_label}'s.\n{original}")


def describe(el: etree._Element) -> str:
    if el.tag == W_TBL:
        return "table"
    if el.tag == W_TR:
        return "row"
    return "paragraph"


def _text(els: Sequence[etree._Element]) -> str:
    return "\n".join(block_text(e) for e in els)


def choose3(b: etree._Element | None, o: etree._Element | None, t: etree._Element | None,
            ctx: Ctx, where: str) -> etree._Element | None:
    """Pick the side that changed an optional properties element; ours when both did."""
    kb = ctx.key(b, 0) if b is not None else None
    ko = ctx.key(o, 1) if o is not None else None
    kt = ctx.key(t, 2) if t is not None else None
    if ko in (kb, kt):
        return t if ko == kb else o
    if kt == kb:
        return o
    ctx.conflict(where, "", "", "", "formatting")
    return o


@dataclass
class _Pending:
    """A block one side deleted here and the other edited: a conflict, unless the deleting
    side moved the block elsewhere unchanged (then the edit follows the move)."""

    base: etree._Element
    base_key: str
    edited: etree._Element
    deleting_side: int
    where: str


def merge_blocks(
    base: list[etree._Element], ours: list[etree._Element], theirs: list[etree._Element],
    ctx: Ctx, prefix: str = "",
) -> list[etree._Element]:
    """Merged list of blocks (the elements themselves for untouched ones, never copies)."""
    kb = [ctx.key(e, 0) for e in base]
    ko = [ctx.key(e, 1) for e in ours]
    kt = [ctx.key(e, 2) for e in theirs]
    out: list[etree._Element | _Pending] = []
    for r in merge_chunks(kb, ko, kt, placement="in_step"):
        if r.kind in ("same", "ours", "both"):
            out.extend(ours[r.ours[0]:r.ours[1]])
        elif r.kind == "theirs":
            out.extend(theirs[r.theirs[0]:r.theirs[1]])
        else:
            _refine(base[r.base[0]:r.base[1]], ours[r.ours[0]:r.ours[1]],
                    theirs[r.theirs[0]:r.theirs[1]], kb[r.base[0]:r.base[1]],
                    ko[r.ours[0]:r.ours[1]], kt[r.theirs[0]:r.theirs[1]], ctx, prefix, out)
    if not any(isinstance(x, _Pending) for x in out):
        return out  # type: ignore[return-value]
    return _settle_moves(out, kb, (ours, ko), (theirs, kt), ctx)


def _settle_moves(out: list[etree._Element | _Pending], kb: list[str],
                  ours: tuple[list[etree._Element], list[str]],
                  theirs: tuple[list[etree._Element], list[str]],
                  ctx: Ctx) -> list[etree._Element]:
    base_count: dict[str, int] = {}
    for k in kb:
        base_count[k] = base_count.get(k, 0) + 1
    position = {id(x): i for i, x in enumerate(out) if not isinstance(x, _Pending)}
    replace: dict[int, etree._Element] = {}
    for x in out:
        if not isinstance(x, _Pending):
            continue
        elems, keys = ours if x.deleting_side == 1 else theirs
        hits = [e for e, k in zip(elems, keys, strict=True) if k == x.base_key]
        moved = (base_count.get(x.base_key) == 1 and len(hits) == 1
                 and block_text(x.base).strip() and id(hits[0]) in position)
        if moved:
            replace[position[id(hits[0])]] = x.edited
    result: list[etree._Element] = []
    for i, x in enumerate(out):
        if isinstance(x, _Pending):
            elems, keys = ours if x.deleting_side == 1 else theirs
            if any(replace.get(position.get(id(e), -1)) is x.edited for e in elems):
                continue
            b_text = block_text(x.base)
            if x.deleting_side == 1:
                ctx.conflict(x.where, b_text, "", block_text(x.edited), "delete/edit")
                result.extend(_render(ctx, [], [x.edited], b_text))
            else:
                ctx.conflict(x.where, b_text, block_text(x.edited), "", "edit/delete")
                result.extend(_render(ctx, [x.edited], [], b_text))
        else:
            result.append(replace.get(i, x))
    return result


def _similarity(a: etree._Element, b: etree._Element, ka: str, kb: str,
                ta: str, tb: str) -> float:
    if a.tag != b.tag:
        return 0.0
    if ka == kb:
        return 2.0
    bonus = 0.3 if a.get(W14_PARAID) and a.get(W14_PARAID) == b.get(W14_PARAID) else 0.0
    if not ta and not tb:
        return 0.6 + bonus
    wa, wb = ta.split(), tb.split()
    sm = SequenceMatcher(None, wa, wb, autojunk=False)
    ratio = sm.ratio() if sm.real_quick_ratio() >= PAIR_THRESHOLD else 0.0
    if ratio < PAIR_THRESHOLD and len(ta) + len(tb) < 400:
        # Short paragraphs ("Two" -> "Two1"): compare characters instead of words.
        cm = SequenceMatcher(None, ta, tb, autojunk=False)
        if cm.quick_ratio() >= PAIR_THRESHOLD:
            ratio = max(ratio, cm.ratio())
    return ratio + bonus


def _align(base: list[etree._Element], other: list[etree._Element], kb: list[str],
           ko: list[str]) -> list[int | None]:
    """For each base block, the index of its counterpart in ``other`` (or None).

    The pairing with the most similarity wins; among equally good ones (runs of identical or
    empty paragraphs), the one leaving fewest blocks unpaired, where a base block and a side
    block left unpaired at the same place count as one change (an edit), not two. So four
    empty paragraphs against ["x", "", "y", ""] pair base 1 and 3, the paragraphs that stayed
    in place, rather than base 0 and 1.
    """
    m, n = len(base), len(other)
    pairs: list[int | None] = [None] * m
    if m == 0 or n == 0:
        return pairs
    tb = [block_text(e) for e in base]
    to = [block_text(e) for e in other]
    if m * n > MAX_ALIGN_CELLS:
        return _align_large(base, other, kb, ko, tb, to)
    # Scores are integers (similarity in millionths, times more than any count of changes,
    # minus the changes) so that ties are exact and similarity always comes first.
    big = m + n + 1
    gain = [[_gain(_similarity(base[i], other[j], kb[i], ko[j], tb[i], to[j]), big)
             for j in range(n)] for i in range(m)]
    score = [list(range(0, -n - 1, -1))]
    for i in range(1, m + 1):
        prev, gains = score[i - 1], gain[i - 1]
        row = [-i]
        for j in range(1, n + 1):
            best = max(prev[j] - 1, row[j - 1] - 1, prev[j - 1] + gains[j - 1])
            row.append(best)
        score.append(row)
    i, j = m, n
    while i > 0 and j > 0:
        g = gain[i - 1][j - 1]
        if score[i][j] == score[i - 1][j - 1] + g:
            if g > 0:
                pairs[i - 1] = j - 1
            i -= 1
            j -= 1
        elif score[i][j] == score[i - 1][j] - 1:
            i -= 1
        else:
            j -= 1
    return pairs


def _gain(sim: float, big: int) -> int:
    """Score of aligning two blocks: a pair when similar enough, else one change."""
    return round(sim * 1_000_000) * big if sim >= PAIR_THRESHOLD else -1


def _align_large(base: list[etree._Element], other: list[etree._Element], kb: list[str],
                 ko: list[str], tb: list[str], to: list[str]) -> list[int | None]:
    """Near-linear pairing for big clashing stretches (say, a find-and-replace on both sides).

    Blocks with the same text anchor the pairing; between anchors, blocks are paired walking
    both sides in step, looking a few blocks ahead on either side to step over insertions
    and deletions.
    """
    pairs: list[int | None] = [None] * len(base)

    def sim(a: int, b: int) -> bool:
        return _similarity(base[a], other[b], kb[a], ko[b], tb[a], to[b]) >= PAIR_THRESHOLD

    pi = pj = 0
    for i, j, n in matching_blocks(tb, to, placement="in_step"):
        a, b = pi, pj
        while a < i and b < j:
            if sim(a, b):
                pairs[a] = b
                a, b = a + 1, b + 1
                continue
            step = next(((da, db) for d in range(1, LOOKAHEAD + 1)
                         for da, db in ((0, d), (d, 0))
                         if a + da < i and b + db < j and sim(a + da, b + db)), None)
            if step is None:
                a, b = a + 1, b + 1
            else:
                a, b = a + step[0], b + step[1]
        for k in range(n):
            if base[i + k].tag == other[j + k].tag:
                pairs[i + k] = j + k
        pi, pj = i + n, j + n
    return pairs


def _gaps(pairs: list[int | None], n: int) -> list[list[int]]:
    """Unpaired side indices grouped by the base gap they sit in (m + 1 gaps)."""
    m = len(pairs)
    gaps: list[list[int]] = [[] for _ in range(m + 1)]
    paired = {j: i for i, j in enumerate(pairs) if j is not None}
    gap = 0
    for j in range(n):
        if j in paired:
            gap = paired[j] + 1
        else:
            gaps[gap].append(j)
    return gaps


def _refine(base: list[etree._Element], ours: list[etree._Element],
            theirs: list[etree._Element], kb: list[str], ko: list[str], kt: list[str],
            ctx: Ctx, prefix: str, out: list[etree._Element | _Pending]) -> None:
    po = _align(base, ours, kb, ko)
    pt = _align(base, theirs, kb, kt)
    go = _gaps(po, len(ours))
    gt = _gaps(pt, len(theirs))
    for g in range(len(base) + 1):
        ins_o = [ours[j] for j in go[g]]
        ins_t = [theirs[j] for j in gt[g]]
        if ins_o and ins_t:
            _merge_inserts(ins_o, ins_t, [ko[j] for j in go[g]], [kt[j] for j in gt[g]],
                           ctx, prefix, out)
        else:
            out.extend(ins_o or ins_t)
        if g == len(base):
            break
        b = base[g]
        jo, jt = po[g], pt[g]
        o = ours[jo] if jo is not None else None
        t = theirs[jt] if jt is not None else None
        where = f"{prefix}{describe(b)} {len(out) + 1}"
        if o is not None and t is not None:
            assert jo is not None and jt is not None
            if ko[jo] == kb[g]:
                out.append(t)
            elif kt[jt] == kb[g] or ko[jo] == kt[jt]:
                out.append(o)
            else:
                out.extend(merge_item(b, o, t, ctx, where))
        elif o is None and t is not None:
            assert jt is not None
            if kt[jt] != kb[g]:
                out.append(_Pending(b, kb[g], t, 1, where))
        elif t is None and o is not None:
            assert jo is not None
            if ko[jo] != kb[g]:
                out.append(_Pending(b, kb[g], o, 2, where))


def _merge_inserts(ins_o: list[etree._Element], ins_t: list[etree._Element], ko: list[str],
                   kt: list[str], ctx: Ctx, prefix: str,
                   out: list[etree._Element | _Pending]) -> None:
    """Both sides inserted at one place: blocks both inserted appear once, and where they
    inserted different blocks between those, that stretch is a conflict."""
    io = it = 0
    for mo, mt, n in matching_blocks(ko, kt, placement="in_step"):
        so, st = ins_o[io:mo], ins_t[it:mt]
        if so and st:
            where = f"{prefix}{describe(so[0])} {len(out) + 1}"
            ctx.conflict(where, "", _text(so), _text(st), "insert/insert")
            out.extend(_render(ctx, so, st, ""))
        else:
            out.extend(so or st)
        out.extend(ins_o[mo:mo + n])
        io, it = mo + n, mt + n


def _render(ctx: Ctx, ours: list[etree._Element], theirs: list[etree._Element],
            base_text: str) -> list[etree._Element]:
    """Tracked-change rendering of a block conflict, or ours alone for unmarkable blocks."""
    markable = (W_P, W_TBL, W_SDT, W_TR)
    if all(e.tag in markable for e in ours + theirs):
        return conflict_blocks(ctx.tracker, ours, theirs, ctx.comment_text(base_text))
    ctx.tracker.unshown += 1
    return list(ours)


def merge_item(b: etree._Element, o: etree._Element, t: etree._Element, ctx: Ctx,
               where: str) -> list[etree._Element]:
    """Merge one block edited on both sides, by kind."""
    if b.tag == o.tag == t.tag:
        item_merger = ctx.item_mergers.get(b.tag)
        if item_merger is not None:
            return item_merger(b, o, t, ctx, where)
        if b.tag == W_SDT:
            merged = _merge_sdt(b, o, t, ctx, where)
            if merged is not None:
                return [merged]
    return block_conflict(b, o, t, ctx, where, "content")


def block_conflict(b: etree._Element, o: etree._Element, t: etree._Element, ctx: Ctx,
                   where: str, kind: str,
                   text: Callable[[etree._Element], str] = block_text) -> list[etree._Element]:
    """A block both sides changed that cannot be merged: recorded as a conflict of ``kind``
    and shown with ours deleted and theirs inserted."""
    base_text = text(b)
    ctx.conflict(where, base_text, text(o), text(t), kind)
    return _render(ctx, [o], [t], base_text)


def _merge_sdt(b: etree._Element, o: etree._Element, t: etree._Element, ctx: Ctx,
               where: str) -> etree._Element | None:
    """A block content control: properties by side, its content as a block sequence."""
    parts = []
    for el in (b, o, t):
        content = el.find(W_SDTCONTENT)
        if content is None:
            return None
        parts.append(content)
    out = empty_like(o)
    for tag in (w("sdtPr"), w("sdtEndPr")):
        chosen = choose3(b.find(tag), o.find(tag), t.find(tag), ctx, where)
        if chosen is not None:
            out.append(copy.deepcopy(chosen))
    content = etree.SubElement(out, W_SDTCONTENT)
    kids = [[c for c in p if isinstance(c.tag, str)] for p in parts]
    content.extend(merge_blocks(kids[0], kids[1], kids[2], ctx, prefix=f"{where}, "))
    return out
