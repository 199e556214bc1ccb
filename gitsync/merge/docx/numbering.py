"""Renumbering of list definitions both sides added under the same ids.

Word numbers lists with ``w:abstractNum`` (the definition, by ``w:abstractNumId``) and
``w:num`` (an instance, by ``w:numId``, referenced from paragraphs' ``w:numPr``). When both
sides add a definition under the same id with different content, theirs' gets a fresh id and
every reference in theirs' numbering and body follows, before the keyed merge unions them.
"""

from __future__ import annotations

from collections.abc import Iterable

from lxml import etree

from gitsync.merge.docx.ooxml import W_VAL, w
from gitsync.merge.docx.runs import canon

W_ABSTRACT = w("abstractNum")
W_ABSTRACT_ID = w("abstractNumId")
W_NUM = w("num")
W_NUM_ID = w("numId")
_NOGB: frozenset[str] = frozenset()


def _defs(root: etree._Element | None, tag: str, attr: str) -> dict[str, str]:
    if root is None:
        return {}
    return {el.get(attr, ""): canon(el, _NOGB) for el in root.iter(tag)}


def _fresh(clashes: list[str], taken: set[str]) -> dict[str, str]:
    """New ids for ``clashes``: numbers above every id in ``taken``."""
    mapping: dict[str, str] = {}
    n = max((int(x) for x in taken if x.lstrip("-").isdigit()), default=0) + 1
    for old in clashes:
        while str(n) in taken:
            n += 1
        mapping[old] = str(n)
        taken.add(str(n))
    return mapping


def _renumber(base: etree._Element | None, ours: etree._Element | None,
              theirs: etree._Element, tag: str, attr: str,
              refs: Iterable[etree._Element | None]) -> bool:
    """Give theirs' new ``tag`` definitions that clash with ours' a fresh ``attr`` id, and
    point the ``refs`` (elements whose ``w:val`` names such an id) at it."""
    db, do, dt = (_defs(r, tag, attr) for r in (base, ours, theirs))
    clashes = [i for i, c in dt.items() if i not in db and i in do and do[i] != c]
    if not clashes:
        return False
    mapping = _fresh(clashes, set(db) | set(do) | set(dt))
    for el in theirs.iter(tag):
        if el.get(attr) in mapping:
            el.set(attr, mapping[el.get(attr, "")])
    for ref in refs:
        if ref is not None and ref.get(W_VAL) in mapping:
            ref.set(W_VAL, mapping[ref.get(W_VAL, "")])
    return True


def remap_numbering(base: etree._Element | None, ours: etree._Element | None,
                    theirs: etree._Element, theirs_doc: etree._Element) -> bool:
    """Renumber theirs' clashing new definitions in place; True when anything changed."""
    # Definitions first: an instance's content (compared next) includes its definition's id.
    definitions = _renumber(base, ours, theirs, W_ABSTRACT, W_ABSTRACT_ID,
                            (num.find(W_ABSTRACT_ID) for num in theirs.iter(W_NUM)))
    instances = _renumber(base, ours, theirs, W_NUM, W_NUM_ID, theirs_doc.iter(W_NUM_ID))
    return definitions or instances
