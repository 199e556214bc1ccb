"""Word-level three-way merge of one paragraph edited on both sides.

The paragraph is read as formatted words (see :mod:`runs`), merged as a sequence, and
rebuilt into runs that keep each word's formatting. Where both sides inserted at different
points inside the same word, a character-level merge settles it; where they changed the same
words differently, ours' words are shown deleted and theirs' inserted, as tracked changes.
Changes separated from such a clash only by white space or punctuation belong to it, so
every clash shows each side's whole passage.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

from lxml import etree

from gitsync.merge.docx.blocks import Ctx, block_conflict, choose3
from gitsync.merge.docx.ooxml import W_BR, W_CR, W_TAB, empty_like, visible_text
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


#: Run objects that read as white space: they may separate the words of one edit.
_SPACE_TAGS = frozenset((W_TAB, W_BR, W_CR))


@dataclass(slots=True)
class _Piece:
    """One stretch of a paragraph's word-level merge.

    ``kind``: ``same`` (untouched), ``clean`` (changed by one side, or merged) or ``clash``.
    ``merged`` is what a same or clean stretch becomes; every piece keeps its three versions
    so that a clean one can still become part of a clash.
    """

    kind: str
    base: list[Segment]
    ours: list[Segment]
    theirs: list[Segment]
    merged: list[Segment]


def _pieces(bw: list[Segment], ow: list[Segment], tw: list[Segment]) -> list[_Piece]:
    out: list[_Piece] = []
    for r in _chunks(bw, ow, tw):
        sb, so, st = bw[r.base[0]:r.base[1]], ow[r.ours[0]:r.ours[1]], tw[r.theirs[0]:r.theirs[1]]
        if r.kind == "conflict":
            merged = _char_merge(sb, so, st)
            kind = "clash" if merged is None else "clean"
        else:
            merged = st if r.kind == "theirs" else so
            kind = "same" if r.kind == "same" else "clean"
        out.append(_Piece(kind, sb, so, st, merged or []))
    return out


def _join_clashes(pieces: list[_Piece]) -> list[_Piece]:
    """Clashes and changes separated only by white space or punctuation become one clash.

    A change next to a clash is part of the same edit: base "hire two engineers", ours "hire
    a designer", theirs "hire three engineers" clash on "two" and ours alone changed
    "engineers"; shown apart, Accept All would read "hire three designer", neither side's
    text. Joined, the clash holds each side's whole passage, so Accept All gives theirs and
    Reject All gives ours. This is git's zealous rule (conflicts separated by lines without
    letters or digits are one conflict) applied to words, and extended to one-sided
    changes, which git's line merge already joins when they touch a conflict.
    """
    out: list[_Piece] = []
    i, n = 0, len(pieces)
    while i < n:
        if pieces[i].kind == "same":
            out.append(pieces[i])
            i += 1
            continue
        j = i
        while j + 2 < n and _is_gap(pieces[j + 1]) and pieces[j + 2].kind != "same":
            j += 2
        group = pieces[i:j + 1]
        if len(group) > 1 and any(p.kind == "clash" for p in group):
            out.append(_Piece("clash", [s for p in group for s in p.base],
                              [s for p in group for s in p.ours],
                              [s for p in group for s in p.theirs], []))
        else:
            out.extend(group)
        i = j + 1
    return out


def _is_gap(piece: _Piece) -> bool:
    """An untouched stretch without letters or digits: white space and punctuation only."""
    if piece.kind != "same":
        return False
    for s in piece.base:
        if s.kind == "t":
            if any(ch.isalnum() for ch in s.text):
                return False
        elif s.kind != "r" or s.el is None or s.el.tag not in _SPACE_TAGS:
            return False
    return True


def merge_paragraph(b: etree._Element, o: etree._Element, t: etree._Element, ctx: Ctx,
                    where: str) -> list[etree._Element]:
    """Merged paragraph(s) for a paragraph both sides edited."""
    if has_revisions(o) or has_revisions(t) or has_revisions(b):
        # Revisions must not nest: keep ours as is and add theirs after it, tracked.
        ctx.conflict(where, visible_text(b), visible_text(o), visible_text(t), "content")
        from gitsync.merge.docx.tracked import conflict_blocks

        return [o, *conflict_blocks(ctx.tracker, [], [t], ctx.comment_text(visible_text(b)))]
    # Words compare by their effective formatting, so a paragraph one editor re-encoded
    # (runs split, defaults written out) merges word by word with another editor's edit.
    bppr, bs = segments(b, ctx.goback[0], ctx.fmts[0])
    oppr, os_ = segments(o, ctx.goback[1], ctx.fmts[1])
    tppr, ts = segments(t, ctx.goback[2], ctx.fmts[2])
    bw, ow, tw = words(bs), words(os_), words(ts)
    pieces = _join_clashes(_pieces(bw, ow, tw))
    if any(s.kind == "x" for p in pieces if p.kind == "clash" for s in p.ours + p.theirs):
        # Whole elements (hyperlinks, fields, math) cannot be split into tracked runs.
        return block_conflict(b, o, t, ctx, where, "content", text=visible_text)
    ppr = choose3(bppr, oppr, tppr, ctx, where)
    p = empty_like(o)
    if ppr is not None:
        p.append(copy.deepcopy(ppr))
    tracker = ctx.tracker
    pending: list[Segment] = []
    for piece in pieces:
        if piece.kind != "clash":
            pending.extend(piece.merged)  # built together so equal formatting joins into one run
            continue
        ob, oo, ot = piece.base, piece.ours, piece.theirs
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
