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
    """Make bookmark, comment-range and paragraph ids unique again.

    A conflict shows ours' and theirs' copies of the same paragraph side by side, so a
    bookmark or comment range in it appears twice, and two sides that each added a bookmark
    may have numbered them alike; Word requires these to be unique. The first occurrence
    (ours') keeps its id.
    """
    _dedupe_bookmarks(root)
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


def _dedupe_bookmarks(root: etree._Element) -> None:
    """A second bookmark with a used name is dropped; one with a used id is renumbered.

    Each w:bookmarkEnd closes the earliest still-open start with its id, and follows what
    happened to that start.
    """
    starts = list(root.iter(W_BOOKMARK_START))
    ids = [int(b.get(W_ID, "0")) for b in starts if b.get(W_ID, "").isdigit()]
    next_id = max(ids, default=0) + 1
    seen_ids: set[str] = set()
    seen_names: set[str] = set()
    open_starts: dict[str, list[str | None]] = {}  # old id -> new id per open start (None: drop)
    for el in list(root.iter(W_BOOKMARK_START, W_BOOKMARK_END)):
        bid = el.get(W_ID, "")
        if el.tag == W_BOOKMARK_START:
            name = el.get(W_NAME, "")
            new: str | None = bid
            if name and name in seen_names:
                new = None
                _remove(el)
            elif bid in seen_ids:
                new = str(next_id)
                next_id += 1
                el.set(W_ID, new)
            seen_names.add(name)
            if new is not None:
                seen_ids.add(new)
            open_starts.setdefault(bid, []).append(new)
        else:
            pending = open_starts.get(bid)
            if not pending:
                continue
            new = pending.pop(0)
            if new is None:
                _remove(el)
            elif new != bid:
                el.set(W_ID, new)


def _remove(el: etree._Element) -> None:
    parent = el.getparent()
    if parent is not None:
        parent.remove(el)
