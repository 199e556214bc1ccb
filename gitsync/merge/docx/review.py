"""Settling a merged document's conflicts: accept or reject the tracked changes one author
made, as Word's "Accept/Reject All Changes by this reviewer" does.

The merger writes each true conflict as tracked changes by the other device (ours' text
deleted, theirs' inserted, see :mod:`tracked`) plus a comment quoting the base. Accepting
that device's changes yields theirs at every conflict, rejecting them yields ours; in both
cases everything that merged cleanly stays, revisions by anyone else stay untouched, and
the merger's own comments go. Pure: bytes in, bytes out.
"""

from __future__ import annotations

from lxml import etree

from gitsync.merge.docx.limits import DEFAULT_LIMITS, DocxLimits
from gitsync.merge.docx.ooxml import (
    W_AUTHOR,
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
from gitsync.merge.docx.package import parse_xml, read_package, serialize_xml, write_package

MERGER_COMMENT = "gitsync merge:"


def settle_revisions(data: bytes, author: str, *, accept: bool,
                     limits: DocxLimits | None = None) -> bytes:
    """DATA with every tracked change by AUTHOR accepted (or rejected) and the merger's
    comments on them removed."""
    lim = limits or DEFAULT_LIMITS
    pkg = read_package(data, lim)
    out = pkg.copy()
    comments_part = "word/comments.xml"
    dropped: set[str] = set()
    if comments_part in pkg.parts:
        root = parse_xml(pkg.parts[comments_part], comments_part, lim)
        for c in list(root.iter(W_COMMENT)):
            text = "".join(t.text or "" for t in c.iter(W_T))
            if c.get(W_AUTHOR) == author and text.startswith(MERGER_COMMENT):
                dropped.add(c.get(W_ID, ""))
                _remove(c)
        if dropped:
            out.parts[comments_part] = serialize_xml(root)
    for name, raw in pkg.parts.items():
        if not (name.startswith("word/") and name.endswith(".xml")) or name == comments_part:
            continue
        if b"w:author" not in raw and not dropped:
            continue
        root = parse_xml(raw, name, lim)
        if _settle(root, author, accept, dropped):
            out.parts[name] = serialize_xml(root)
    return write_package(out, [pkg])


def _settle(root: etree._Element, author: str, accept: bool, dropped: set[str]) -> bool:
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
        if holder.tag == W_RPR and block is not None and block.tag == W_PPR:
            block = block.getparent()
        elif holder.tag == W_RPR:
            continue  # a run property change, not a paragraph mark
        changed = True
        goes = (mark.tag == W_INS) != accept  # rejected insertion, accepted deletion
        _remove(mark)
        if goes and block is not None and block.tag in (W_P, W_TR):
            _remove(block)
    for wrapper in list(root.iter(W_INS, W_DEL)):
        if wrapper.get(W_AUTHOR) != author or wrapper.getparent() is None:
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
