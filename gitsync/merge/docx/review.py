"""Settling a merged document's conflicts: accept or reject the tracked changes one author
made, as Word's "Accept/Reject All Changes by this reviewer" does.

The merger writes each true conflict as tracked changes by the other device (ours' text
deleted, theirs' inserted, see :mod:`tracked`) plus a comment quoting the base. Accepting
that device's changes yields theirs at every conflict, rejecting them yields ours; in both
cases everything that merged cleanly stays, revisions by anyone else stay untouched, and
the merger's own comments go. Pure: bytes in, bytes out.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterator

from lxml import etree

from gitsync.merge.docx.limits import DEFAULT_LIMITS, DocxLimits
from gitsync.merge.docx.ooxml import (
    W_AUTHOR,
    W_BOOKMARK_END,
    W_BOOKMARK_START,
    W_COMMENT,
    W_COMMENT_RANGE_END,
    W_COMMENT_RANGE_START,
    W_COMMENT_REFERENCE,
    W_DEL,
    W_DELINSTRTEXT,
    W_DELTEXT,
    W_ID,
    W_INS,
    W_INSTRTEXT,
    W_P,
    W_PPR,
    W_R,
    W_RPR,
    W_T,
    W_TBL,
    W_TR,
    W_TRPR,
)
from gitsync.merge.docx.package import (
    Package,
    parse_xml,
    read_package,
    serialize_xml,
    write_package,
)

MERGER_COMMENT = "gitsync merge:"
COMMENTS_PART = "word/comments.xml"

#: For one revision element: True accepts it, False rejects it, None leaves it tracked.
Decide = Callable[[etree._Element], bool | None]


def settle_revisions(data: bytes, author: str, *, accept: bool,
                     limits: DocxLimits | None = None) -> bytes:
    """DATA with every tracked change by AUTHOR accepted (or rejected) and the merger's
    comments on them removed."""
    return _settled(data, author, lambda _el: accept, lambda _cid: True, limits)


def settle_each(data: bytes, author: str, choices: list[str],
                limits: DocxLimits | None = None) -> bytes | None:
    """DATA with conflict K settled by CHOICES[K]: "theirs" accepts AUTHOR's tracked
    changes of that conflict, "ours" rejects them, "both" leaves them (and their comment)
    for Word.

    Conflicts are told apart by ids: a merge numbers each conflict's comment, then its
    revisions, from one counter, conflict after conflict (see :class:`tracked.Tracker`).
    So this holds only for a document exactly as the merger wrote it, every conflict with
    its comment; None when the document does not fit that (the caller falls back).
    """
    lim = limits or DEFAULT_LIMITS
    pkg = read_package(data, lim)
    starts = sorted(int(c) for c in _merger_comments(pkg, author, lim) if c.isdigit())
    if len(starts) != len(choices):
        return None
    ids = [_num(el.get(W_ID, "")) for _name, root in _parts(pkg, lim)
           for el in root.iter(W_INS, W_DEL) if el.get(W_AUTHOR) == author]
    if not starts or any(i <= starts[0] for i in ids):  # also unnumbered (-1) ones
        return None

    def group(i: int) -> int:
        return bisect_right(starts, i) - 1

    def decide(el: etree._Element) -> bool | None:
        choice = choices[group(_num(el.get(W_ID, "")))]
        return None if choice == "both" else choice == "theirs"

    def drop_comment(cid: str) -> bool:
        return cid.isdigit() and choices[group(int(cid))] != "both"

    return _settled(data, author, decide, drop_comment, limits)


def _num(text: str) -> int:
    return int(text) if text.isdigit() and len(text) < 12 else -1


def _merger_comments(pkg: Package, author: str, lim: DocxLimits) -> list[str]:
    if COMMENTS_PART not in pkg.parts:
        return []
    root = parse_xml(pkg.parts[COMMENTS_PART], COMMENTS_PART, lim)
    return [c.get(W_ID, "") for c in root.iter(W_COMMENT) if _is_merger_comment(c, author)]


def _is_merger_comment(c: etree._Element, author: str) -> bool:
    text = "".join(t.text or "" for t in c.iter(W_T))
    return c.get(W_AUTHOR) == author and text.startswith(MERGER_COMMENT)


def _parts(pkg: Package, lim: DocxLimits) -> Iterator[tuple[str, etree._Element]]:
    for name, raw in pkg.parts.items():
        if name.startswith("word/") and name.endswith(".xml") and name != COMMENTS_PART \
                and b"w:author" in raw:
            yield name, parse_xml(raw, name, lim)


def _settled(data: bytes, author: str, decide: Decide, drop_comment: Callable[[str], bool],
             limits: DocxLimits | None) -> bytes:
    lim = limits or DEFAULT_LIMITS
    pkg = read_package(data, lim)
    out = pkg.copy()
    dropped: set[str] = set()
    if COMMENTS_PART in pkg.parts:
        root = parse_xml(pkg.parts[COMMENTS_PART], COMMENTS_PART, lim)
        for c in list(root.iter(W_COMMENT)):
            cid = c.get(W_ID, "")
            if _is_merger_comment(c, author) and drop_comment(cid):
                dropped.add(cid)
                _remove(c)
        if dropped:
            out.parts[COMMENTS_PART] = serialize_xml(root)
    for name, raw in pkg.parts.items():
        if not (name.startswith("word/") and name.endswith(".xml")) or name == COMMENTS_PART:
            continue
        if b"w:author" not in raw and not dropped:
            continue
        root = parse_xml(raw, name, lim)
        if _settle(root, author, decide, dropped):
            out.parts[name] = serialize_xml(root)
    return write_package(out, [pkg])


def _settle(root: etree._Element, author: str, decide: Decide, dropped: set[str]) -> bool:
    changed = False
    for el in list(root.iter(W_COMMENT_RANGE_START, W_COMMENT_RANGE_END, W_COMMENT_REFERENCE)):
        if el.get(W_ID) in dropped:
            changed = True
            parent = el.getparent()
            if el.tag == W_COMMENT_REFERENCE and parent is not None and parent.tag == W_R:
                _remove(parent)
            else:
                _remove(el)
    # Marks on paragraph ends and table rows first: they decide whether a whole paragraph
    # or row goes.
    for mark in list(root.iter(W_INS, W_DEL)):
        if mark.get(W_AUTHOR) != author:
            continue
        holder = mark.getparent()
        if holder is None or holder.tag not in (W_RPR, W_TRPR):
            continue
        block = holder.getparent()
        if holder.tag == W_RPR:
            if block is None or block.tag != W_PPR:
                continue  # a run's own properties, not a paragraph mark
            block = block.getparent()
        accept = decide(mark)
        if accept is None:
            continue
        changed = True
        goes = (mark.tag == W_INS) != accept  # a rejected insertion, an accepted deletion
        _remove(mark)
        if not goes or block is None:
            continue
        if block.tag == W_TR or (block.tag == W_P and
                                 _all_dropped(block, author, accept, decide)):
            _remove(block)
    for wrapper in list(root.iter(W_INS, W_DEL)):
        if wrapper.get(W_AUTHOR) != author or wrapper.getparent() is None:
            continue
        if wrapper.getparent().tag in (W_RPR, W_TRPR):
            continue  # a mark left for Word
        accept = decide(wrapper)
        if accept is None:
            continue
        changed = True
        keep = (wrapper.tag == W_INS) == accept
        if keep:
            if wrapper.tag == W_DEL:
                for el in wrapper.iter(W_DELTEXT, W_DELINSTRTEXT):
                    el.tag = W_T if el.tag == W_DELTEXT else W_INSTRTEXT
            _unwrap(wrapper)
        else:
            _remove(wrapper)
    for tbl in list(root.iter(W_TBL)):
        if not any(c.tag == W_TR for c in tbl) and tbl.getparent() is not None:
            _remove(tbl)
    return changed


def _all_dropped(p: etree._Element, author: str, accept: bool, decide: Decide) -> bool:
    """Whether everything in paragraph P goes with AUTHOR's changes (so the paragraph
    goes too, rather than joining the next one as Word would with leftover text)."""
    dropped = W_DEL if accept else W_INS
    for c in p:
        if c.tag == W_PPR or c.tag in (W_COMMENT_RANGE_START, W_COMMENT_RANGE_END):
            continue
        if c.tag == dropped and c.get(W_AUTHOR) == author and decide(c) == accept:
            continue
        if c.tag == W_R and c.find(W_COMMENT_REFERENCE) is not None:
            continue
        if c.tag in (W_BOOKMARK_START, W_BOOKMARK_END):
            continue
        return False
    return True


def _unwrap(el: etree._Element) -> None:
    parent = el.getparent()
    assert parent is not None
    idx = parent.index(el)
    for i, child in enumerate(list(el)):
        parent.insert(idx + i, child)
    _remove(el)


def _remove(el: etree._Element) -> None:
    parent = el.getparent()
    if parent is not None:
        parent.remove(el)
