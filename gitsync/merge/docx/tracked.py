"""Writing conflicts into the document as Word tracked changes.

A conflict keeps ours' content and shows theirs' as revisions by the other device: ours'
conflicting content inside ``w:del`` (text as ``w:delText``) and theirs' inside ``w:ins``,
both authored by ``theirs_label`` and dated ``date``. Accept All therefore yields theirs and
Reject All yields ours. A comment quoting the base text is anchored on the change when the
part can hold comments (the body, tables, text boxes; not headers or notes).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable

from lxml import etree

from gitsync.merge.docx.ooxml import (
    W_AUTHOR,
    W_COMMENT,
    W_COMMENT_RANGE_END,
    W_COMMENT_RANGE_START,
    W_COMMENT_REFERENCE,
    W_CUSTOMXML,
    W_DATE,
    W_DEL,
    W_DELINSTRTEXT,
    W_DELTEXT,
    W_HYPERLINK,
    W_ID,
    W_INS,
    W_INSTRTEXT,
    W_P,
    W_PPR,
    W_R,
    W_RPR,
    W_SDT,
    W_SDTCONTENT,
    W_SMARTTAG,
    W_T,
    W_TBL,
    W_TR,
    W_TRPR,
    XML_SPACE,
    make,
    w,
)

_RUN_CONTAINERS = frozenset((W_HYPERLINK, W_SMARTTAG, W_CUSTOMXML, w("fldSimple")))
_REVISION_WRAPPERS = frozenset((W_INS, W_DEL, w("moveFrom"), w("moveTo")))
_PPR_AFTER_RPR = frozenset((w("sectPr"), w("pPrChange")))
_TRPR_LAST = w("trPrChange")


class Tracker:
    """Makes revision and comment elements with unique ids for one merge.

    Revisions, comments and renumbered notes draw from one counter that starts above every
    id in the inputs, so no new id can clash with an existing one. ``comments`` is the
    ``w:comments`` root new comments go to, or None where the part cannot hold comments
    (headers, footers, notes); then :meth:`new_comment` makes none.
    """

    def __init__(self, author: str, date: str, next_id: int,
                 comments: etree._Element | None = None) -> None:
        self.author = author
        self.date = date
        self._next = next_id
        self.comments = comments
        self.used = False
        self.unshown = 0  # conflicts kept as ours because their blocks cannot be marked

    def reserve(self, n: int) -> int:
        """Take ``n`` fresh ids; returns the first."""
        first = self._next
        self._next += n
        return first

    def _rev(self, tag: str) -> etree._Element:
        self.used = True
        el = make(tag, {W_ID: str(self._next), W_AUTHOR: self.author, W_DATE: self.date})
        self._next += 1
        return el

    def ins(self) -> etree._Element:
        return self._rev(W_INS)

    def dele(self) -> etree._Element:
        return self._rev(W_DEL)

    # -- comments ---------------------------------------------------------------------------

    def new_comment(self, text: str) -> str | None:
        """Append a comment holding ``text``; its id, or None when comments are off."""
        if self.comments is None:
            return None
        cid = str(self.reserve(1))
        c = etree.SubElement(self.comments, W_COMMENT, {
            W_ID: cid, W_AUTHOR: self.author, W_DATE: self.date, w("initials"): "gs"})
        for line in text.split("\n"):
            p = etree.SubElement(c, W_P)
            r = etree.SubElement(p, W_R)
            t = etree.SubElement(r, W_T)
            t.text = line
            t.set(XML_SPACE, "preserve")
        return cid

    @staticmethod
    def range_start(cid: str) -> etree._Element:
        return make(W_COMMENT_RANGE_START, {W_ID: cid})

    @staticmethod
    def range_end(cid: str) -> etree._Element:
        return make(W_COMMENT_RANGE_END, {W_ID: cid})

    @staticmethod
    def reference_run(cid: str) -> etree._Element:
        r = make(W_R)
        etree.SubElement(r, W_COMMENT_REFERENCE, {W_ID: cid})
        return r

    # -- marking whole blocks ---------------------------------------------------------------

    def mark_block(self, block: etree._Element, deleted: bool) -> None:
        """Mark a paragraph, table or content control (in place) as inserted or deleted."""
        tag = block.tag
        if tag == W_P:
            self._mark_paragraph(block, deleted)
        elif tag in (W_TBL, W_TR):
            rows = [block] if tag == W_TR else list(block.iter(W_TR))
            for tr in rows:
                self._mark_row(tr, deleted)
            for p in list(block.iter(W_P)):
                self._mark_paragraph(p, deleted)
        elif tag == W_SDT:
            content = block.find(W_SDTCONTENT)
            if content is not None:
                for child in list(content):
                    self.mark_block(child, deleted)
        # Anything else (bookmarks, permission marks) carries no text: left as is.

    def _mark_row(self, tr: etree._Element, deleted: bool) -> None:
        trpr = tr.find(W_TRPR)
        if trpr is None:
            trpr = make(W_TRPR)
            idx = 1 if len(tr) and tr[0].tag == w("tblPrEx") else 0
            tr.insert(idx, trpr)
        if trpr.find(W_INS) is not None or trpr.find(W_DEL) is not None:
            return
        mark = self.dele() if deleted else self.ins()
        last = trpr.find(_TRPR_LAST)
        if last is not None:
            last.addprevious(mark)
        else:
            trpr.append(mark)

    def _mark_paragraph(self, p: etree._Element, deleted: bool) -> None:
        self.wrap_runs(p, deleted)
        ppr = p.find(W_PPR)
        if ppr is None:
            ppr = make(W_PPR)
            p.insert(0, ppr)
        rpr = ppr.find(W_RPR)
        if rpr is None:
            rpr = make(W_RPR)
            after = next((c for c in ppr if c.tag in _PPR_AFTER_RPR), None)
            if after is not None:
                after.addprevious(rpr)
            else:
                ppr.append(rpr)
        if rpr.find(W_INS) is not None or rpr.find(W_DEL) is not None:
            return
        rpr.insert(0, self.dele() if deleted else self.ins())

    def wrap_runs(self, container: etree._Element, deleted: bool) -> None:
        """Wrap each stretch of plain runs in ``container`` in one w:ins / w:del."""
        group: list[etree._Element] = []

        def flush() -> None:
            if not group:
                return
            wrapper = self.dele() if deleted else self.ins()
            group[0].addprevious(wrapper)
            for r in group:
                wrapper.append(r)
                if deleted:
                    to_deleted(r)
            group.clear()

        for child in list(container):
            tag = child.tag
            if tag == W_R:
                group.append(child)
                continue
            flush()
            if tag in _RUN_CONTAINERS:
                self.wrap_runs(child, deleted)
        flush()

    def wrapped(self, runs: Iterable[etree._Element], deleted: bool) -> etree._Element:
        """A new w:ins / w:del holding ``runs`` (converted to deleted text when deleting)."""
        wrapper = self.dele() if deleted else self.ins()
        for r in runs:
            if r.tag in _RUN_CONTAINERS:
                self.wrap_runs(r, deleted)
                wrapper.append(r)
                continue
            wrapper.append(r)
            if deleted:
                to_deleted(r)
        return wrapper


def to_deleted(run: etree._Element) -> None:
    """Turn a run's text into deleted text (w:t -> w:delText, instrText -> delInstrText)."""
    for el in run.iter(W_T, W_INSTRTEXT):
        if _inside_textbox(el, run):
            continue
        el.tag = W_DELTEXT if el.tag == W_T else W_DELINSTRTEXT


def _inside_textbox(el: etree._Element, stop: etree._Element) -> bool:
    node = el.getparent()
    while node is not None and node is not stop:
        if node.tag == W_P:
            return True
        node = node.getparent()
    return False


def has_revisions(el: etree._Element) -> bool:
    """Whether an element already holds tracked changes (which must not be nested)."""
    return any(True for _ in el.iter(*_REVISION_WRAPPERS, w("rPrChange"), w("pPrChange")))


def conflict_blocks(
    tracker: Tracker,
    ours: list[etree._Element],
    theirs: list[etree._Element],
    comment: str | None,
    *,
    keep_ours_plain: bool = False,
) -> list[etree._Element]:
    """Blocks showing a block-level conflict: ours deleted-tracked, theirs inserted-tracked.

    With ``keep_ours_plain`` (ours already holds revisions, which must not be nested), ours is
    kept as is and theirs follows as a tracked insertion.
    """
    out_ours = [copy.deepcopy(b) for b in ours]
    out_theirs = [copy.deepcopy(b) for b in theirs]
    cid = tracker.new_comment(comment) if comment else None
    anchor = out_theirs or out_ours
    if cid is not None:
        _anchor_comment(tracker, anchor, cid)
    if not keep_ours_plain:
        for b in out_ours:
            tracker.mark_block(b, deleted=True)
    for b in out_theirs:
        tracker.mark_block(b, deleted=False)
    return out_ours + out_theirs


def _anchor_comment(tracker: Tracker, blocks: list[etree._Element], cid: str) -> None:
    paras = [p for b in blocks for p in ([b] if b.tag == W_P else b.iter(W_P))]
    if not paras:
        return
    first, last = paras[0], paras[-1]
    ppr = first.find(W_PPR)
    if ppr is not None:
        ppr.addnext(tracker.range_start(cid))
    else:
        first.insert(0, tracker.range_start(cid))
    last.append(tracker.range_end(cid))
    last.append(tracker.reference_run(cid))
