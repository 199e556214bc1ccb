"""Section breaks held by empty paragraphs, compared as the break of the paragraph before.

Word often ends a section with an empty paragraph that carries only the section break
(``w:pPr/w:sectPr``); LibreOffice, saving the same document, drops that paragraph and puts
the break on the paragraph before it. Compared block by block, that is a deleted paragraph
and an edited one, and an edit from the other device nearby becomes a conflict.

So before the body is merged, each side's empty section-break paragraphs are *folded*: the
break moves into the previous paragraph's properties, marked, and the empty paragraph is set
aside. After the merge, every marked break is *unfolded*: taken out again and its empty
paragraph put back after the paragraph that now holds it. A paragraph no side changed comes
out byte for byte as it went in; whatever merged (a word-level merge copies the
properties, marker included) gets its section break back the same way.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

from lxml import etree

from gitsync.merge.docx.ooxml import W_P, W_PPR, W_SECTPR, make

_MARK = "{urn:gitsync:merge}folded"


@dataclass
class _Folded:
    paragraph: etree._Element  # the empty paragraph, without its break
    index: int  # where the break sat in its properties
    used: bool = False


class SectionFolds:
    """The folds of one merge (all three sides)."""

    def __init__(self) -> None:
        self._folded: dict[str, _Folded] = {}

    def fold(self, blocks: list[etree._Element], side: int) -> list[etree._Element]:
        """BLOCKS with each foldable empty section paragraph folded into the one before."""
        out: list[etree._Element] = []
        for i, el in enumerate(blocks):
            prev = out[-1] if out else None
            if prev is not None and _is_break_only(el) and _foldable_host(prev):
                ppr = el.find(W_PPR)
                assert ppr is not None
                sect = ppr.find(W_SECTPR)
                assert sect is not None
                token = f"{side}:{i}"
                self._folded[token] = _Folded(el, ppr.index(sect))
                ppr.remove(sect)
                sect.set(_MARK, token)
                host = prev.find(W_PPR)
                if host is None:
                    host = make(W_PPR)
                    prev.insert(0, host)
                host.append(sect)
                continue
            out.append(el)
        return out

    def unfold(self, blocks: list[etree._Element]) -> list[etree._Element]:
        """The merged BLOCKS with every folded break back on its own empty paragraph."""
        out: list[etree._Element] = []
        for i, el in enumerate(blocks):
            out.append(el)
            sect = _folded_break(el)
            if sect is None:
                continue
            folded = self._folded.get(sect.get(_MARK, ""))
            del sect.attrib[_MARK]
            etree.cleanup_namespaces(sect)  # the marker's declaration goes too
            ppr = el.find(W_PPR)
            assert ppr is not None
            ppr.remove(sect)
            if len(ppr) == 0 and not ppr.attrib:
                el.remove(ppr)
            if folded is None or (i + 1 < len(blocks) and _folded_break(blocks[i + 1])
                                  is not None):
                # A conflict shows both sides' paragraph one after the other: one break.
                continue
            para = copy.deepcopy(folded.paragraph) if folded.used else folded.paragraph
            folded.used = True
            holder = para.find(W_PPR)
            assert holder is not None
            holder.insert(min(folded.index, len(holder)), sect)
            out.append(para)
        return out


def strip_marks(root: etree._Element) -> None:
    """Remove markers left where a folded break ended up nested (inside a tracked change)."""
    for sect in root.iter(W_SECTPR):
        if sect.get(_MARK) is not None:
            del sect.attrib[_MARK]
            etree.cleanup_namespaces(sect)


def _folded_break(el: etree._Element) -> etree._Element | None:
    if el.tag != W_P:
        return None
    ppr = el.find(W_PPR)
    sect = ppr.find(W_SECTPR) if ppr is not None else None
    return sect if sect is not None and sect.get(_MARK) is not None else None


def _is_break_only(el: etree._Element) -> bool:
    """An empty paragraph whose only property of note is a section break."""
    if el.tag != W_P:
        return False
    ppr = el.find(W_PPR)
    if ppr is None or ppr.find(W_SECTPR) is None:
        return False
    return all(child.tag == W_PPR or not isinstance(child.tag, str) for child in el)


def _foldable_host(el: etree._Element) -> bool:
    if el.tag != W_P:
        return False
    ppr = el.find(W_PPR)
    return ppr is None or ppr.find(W_SECTPR) is None
