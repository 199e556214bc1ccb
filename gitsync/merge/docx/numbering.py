"""Renumbering of list definitions both sides added under the same ids.

Word numbers lists with ``w:abstractNum`` (the definition, by ``w:abstractNumId``) and
``w:num`` (an instance, by ``w:numId``, referenced from paragraphs' ``w:numPr``). When both
sides add a definition under the same id with different content, theirs' gets a fresh id and
every reference in theirs' numbering and body follows, before the keyed merge unions them.
"""

from __future__ import annotations

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


def _fresh(mapping: dict[str, str], clashes: list[str], taken: set[str]) -> None:
    n = max((int(x) for x in taken if x.lstrip("-").isdigit()), default=0) + 1
    for old in clashes:
        while str(n) in taken:
            n += 1
        mapping[old] = str(n)
        taken.add(str(n))


def remap_numbering(base: etree._Element | None, ours: etree._Element | None,
                    theirs: etree._Element, theirs_doc: etree._Element) -> bool:
    """Renumber theirs' clashing new definitions in place; True when anything changed."""
    changed = False
    ab, ao, at = (_defs(r, W_ABSTRACT, W_ABSTRACT_ID) for r in (base, ours, theirs))
    clashes = [i for i, c in at.items() if i not in ab and i in ao and ao[i] != c]
    amap: dict[str, str] = {}
    _fresh(amap, clashes, set(ab) | set(ao) | set(at))
    if amap:
        changed = True
        for el in theirs.iter(W_ABSTRACT):
            if el.get(W_ABSTRACT_ID) in amap:
                el.set(W_ABSTRACT_ID, amap[el.get(W_ABSTRACT_ID, "")])
        for num in theirs.iter(W_NUM):
            ref = num.find(W_ABSTRACT_ID)
            if ref is not None and ref.get(W_VAL) in amap:
                ref.set(W_VAL, amap[ref.get(W_VAL, "")])
    nb, no, nt = (_defs(r, W_NUM, W_NUM_ID) for r in (base, ours, theirs))
    clashes = [i for i, c in nt.items() if i not in nb and i in no and no[i] != c]
    nmap: dict[str, str] = {}
    _fresh(nmap, clashes, set(nb) | set(no) | set(nt))
    if nmap:
        changed = True
        for num in theirs.iter(W_NUM):
            if num.get(W_NUM_ID) in nmap:
                num.set(W_NUM_ID, nmap[num.get(W_NUM_ID, "")])
        for ref in theirs_doc.iter(W_NUM_ID):
            if ref.get(W_VAL) in nmap:
                ref.set(W_VAL, nmap[ref.get(W_VAL, "")])
    return changed
