"""Repairs after merging: ids that must stay unique once both sides' blocks sit together."""

from __future__ import annotations

from lxml import etree

from gitsync.merge.docx.ooxml import (
    W14_PARAID,
    W14_TEXTID,
    W_BOOKMARK_END,
    W_BOOKMARK_START,
    W_COMMENT_RANGE_END,
    W_COMMENT_RANGE_START,
    W_ID,
    W_NAME,
    W_P,
)


def dedupe_ids(root: etree._Element) -> None:
    """Drop later duplicates of bookmarks, comment ranges and paragraph ids.

    A conflict shows ours' and theirs' copies of the same paragraph side by side, so a
    bookmark or comment range in it appears twice; Word requires these to be unique. The
    first occurrence (ours') keeps its role.
    """
    seen_ids: set[str] = set()
    seen_names: set[str] = set()
    dropped: dict[str, int] = {}
    for el in list(root.iter(W_BOOKMARK_START, W_BOOKMARK_END)):
        bid = el.get(W_ID, "")
        if el.tag == W_BOOKMARK_START:
            name = el.get(W_NAME, "")
            if bid in seen_ids or (name and name in seen_names):
                dropped[bid] = dropped.get(bid, 0) + 1
                _remove(el)
            else:
                seen_ids.add(bid)
                seen_names.add(name)
        elif dropped.get(bid):
            dropped[bid] -= 1
            _remove(el)
    for tag in (W_COMMENT_RANGE_START, W_COMMENT_RANGE_END):
        seen: set[str] = set()
        for el in list(root.iter(tag)):
            cid = el.get(W_ID, "")
            if cid in seen:
                _remove(el)
            seen.add(cid)
    para_ids: set[str] = set()
    for p in root.iter(W_P):
        pid = p.get(W14_PARAID)
        if pid is None:
            continue
        if pid in para_ids:
            del p.attrib[W14_PARAID]
            if W14_TEXTID in p.attrib:
                del p.attrib[W14_TEXTID]
        else:
            para_ids.add(pid)


def _remove(el: etree._Element) -> None:
    parent = el.getparent()
    if parent is not None:
        parent.remove(el)
