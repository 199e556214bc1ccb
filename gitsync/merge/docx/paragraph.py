"""Word-level three-way merge of one paragraph edited on both sides.

The paragraph is read as formatted words (see :mod:`runs`), merged as a sequence, and
rebuilt into runs that keep each word's formatting. Where both sides inserted at different
points inside the same word, a character-level merge settles it; where they changed the same
words differently, ours' words are shown deleted and theirs' inserted, as tracked changes.
"""

from __future__ import annotations

import copy

from lxml import etree

from gitsync.merge.docx.blocks import Ctx, block_conflict, choose3
from gitsync.merge.docx.ooxml import empty_like, visible_text
from gitsync.merge.docx.runs import Segment, build_runs, chars, segments, segments_text, words
from gitsync.merge.docx.tracked import has_revisions
from gitsync.merge.sequence3 import Chunk, merge_chunks


def _chunks(b: list[Segment], o: list[Segment], t: list[Segment]) -> list[Chunk]:
    """The three-way merge of segment lists, by their keys (text and formatting)."""
    return merge_chunks([s.key for s in b], [s.key for s in o], [s.key for s in t],
                        placement="in_step")


def _char_merge(cb: list[Segment], co: list[Segment], ct: list[Segment]) -> list[Segment] | None:
    """Character-level merge when both sides only inserted text, at different points."""
    if any(s.kind != "t" for s in cb + co + ct):
        return None
    bc, oc, tc = chars(cb), chars(co), chars(ct)
    out: list[Segment] = []
    for r in _chunks(bc, oc, tc):
        if r.kind == "conflict" or (r.kind != "same" and r.base[0] != r.base[1]):
            return None
        if r.kind == "theirs":
            out.extend(tc[r.theirs[0]:r.theirs[1]])
        else:
            out.extend(oc[r.ours[0]:r.ours[1]])
    return out


def merge_paragraph(b: etree._Element, o: etree._Element, t: etree._Element, ctx: Ctx,
                    where: str) -> list[etree._Element]:
    """Merged paragraph(s) for a paragraph both sides edited."""
    if has_revisions(o) or has_revisions(t) or has_revisions(b):
        # Revisions must not nest: keep ours as is and add theirs after it, tracked.
        ctx.conflict(where, visible_text(b), visible_text(o), visible_text(t), "content")
        from gitsync.merge.docx.tracked import conflict_blocks

        return [o, *conflict_blocks(ctx.tracker, [], [t], ctx.comment_text(visible_text(b)))]
    bppr, bs = segments(b, ctx.goback[0])
    oppr, os_ = segments(o, ctx.goback[1])
    tppr, ts = segments(t, ctx.goback[2])
    bw, ow, tw = words(bs), words(os_), words(ts)
    pieces: list[tuple[bool, list[Segment], list[Segment], list[Segment]]] = []
    for r in _chunks(bw, ow, tw):
        ob, oo, ot = bw[r.base[0]:r.base[1]], ow[r.ours[0]:r.ours[1]], tw[r.theirs[0]:r.theirs[1]]
        if r.kind == "theirs":
            pieces.append((False, ot, [], []))
        elif r.kind != "conflict":
            pieces.append((False, oo, [], []))
        else:
            merged = _char_merge(ob, oo, ot)
            if merged is not None:
                pieces.append((False, merged, [], []))
            else:
                pieces.append((True, ob, oo, ot))
    clashes = [p for p in pieces if p[0]]
    if any(s.kind == "x" for _, _, oo, ot in clashes for s in oo + ot):
        # Whole elements (hyperlinks, fields, math) cannot be split into tracked runs.
        return block_conflict(b, o, t, ctx, where, "content", text=visible_text)
    ppr = choose3(bppr, oppr, tppr, ctx, where)
    p = empty_like(o)
    if ppr is not None:
        p.append(copy.deepcopy(ppr))
    tracker = ctx.tracker
    pending: list[Segment] = []
    for clash, ob, oo, ot in pieces:
        if not clash:
            pending.extend(ob)  # built together so equal formatting joins into one run
            continue
        p.extend(build_runs(pending))
        pending = []
        base_text = segments_text(ob)
        ctx.conflict(where, base_text, segments_text(oo), segments_text(ot), "content")
        cid = tracker.new_comment(ctx.comment_text(base_text))
        if cid is not None:
            p.append(tracker.range_start(cid))
        if oo:
            p.append(tracker.wrapped(build_runs(oo), deleted=True))
        if ot:
            p.append(tracker.wrapped(build_runs(ot), deleted=False))
        if cid is not None:
            p.append(tracker.range_end(cid))
            p.append(tracker.reference_run(cid))
    p.extend(build_runs(pending))
    return [p]
