"""A paragraph as a sequence of formatted pieces, and back.

A paragraph's content is read as segments: text with its run properties, run-level objects
(tabs, breaks, drawings, field characters, note references) with theirs, and paragraph-level
elements (hyperlinks, bookmarks, fields, revisions, math) kept whole. Word's noise (proofing
marks, rendered page breaks, the _GoBack bookmark, rsid attributes, run boundaries between
identically formatted runs) is dropped here, so two paragraphs that differ only by noise have
equal segments.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import dataclass

from lxml import etree

from gitsync.merge.docx.ooxml import (
    W_BOOKMARK_END,
    W_BOOKMARK_START,
    W_ID,
    W_LAST_RENDERED,
    W_NAME,
    W_P,
    W_PPR,
    W_PROOF_ERR,
    W_R,
    W_RPR,
    W_T,
    XML_SPACE,
    make,
    visible_text,
)

NOISE_TAGS = frozenset((W_PROOF_ERR, W_LAST_RENDERED))
_WORD_RE = re.compile(r"\w+|\s+|[^\w\s]")
_COMMENT = etree.Comment
_PI = etree.ProcessingInstruction


def is_noise_attr(name: str) -> bool:
    """rsid attributes and Word's paragraph/text ids change on every save."""
    local = name.rpartition("}")[2]
    return local.startswith("rsid") or local in ("paraId", "textId")


def goback_ids(root: etree._Element) -> frozenset[str]:
    """Ids of the _GoBack bookmark (Word's last-cursor-position marker) in a part."""
    return frozenset(
        el.get(W_ID, "")
        for el in root.iter(W_BOOKMARK_START)
        if el.get(W_NAME) == "_GoBack"
    )


def is_noise(el: etree._Element, goback: frozenset[str]) -> bool:
    tag = el.tag
    if not isinstance(tag, str):
        return True  # comments and processing instructions carry no content
    if tag in NOISE_TAGS:
        return True
    if tag in (W_BOOKMARK_START, W_BOOKMARK_END):
        return el.get(W_ID, "") in goback
    return False


def canon(el: etree._Element, goback: frozenset[str]) -> str:
    """A normalized serialization: same content means same string, noise ignored."""
    parts: list[str] = []
    _canon_into(el, goback, parts)
    return "".join(parts)


def _canon_into(el: etree._Element, goback: frozenset[str], out: list[str]) -> None:
    tag = el.tag
    if tag == W_P:
        out.append(paragraph_key(el, goback))
        return
    out.append("<")
    out.append(tag)
    if el.attrib:
        for k, v in sorted(el.attrib.items()):
            if not is_noise_attr(k):
                out.append(f" {k}={v!r}")
    out.append(">")
    if el.text and (tag == W_T or el.text.strip()):
        out.append(el.text)
    for child in el:
        if is_noise(child, goback):
            continue
        _canon_into(child, goback, out)
    out.append("/>")



@dataclass(slots=True)
class Segment:
    """One piece of paragraph content.

    ``kind``: ``t`` text (``text`` set), ``r`` a run child such as a tab or drawing (``el`` is
    the child), ``x`` a paragraph-level element kept whole (``el``). ``rpr`` is the run's
    properties element for ``t``/``r``; ``key`` compares content and formatting.
    """

    kind: str
    key: tuple[str, str, str]
    text: str = ""
    rpr: etree._Element | None = None
    el: etree._Element | None = None


def segments(p: etree._Element, goback: frozenset[str]) -> tuple[etree._Element | None,
                                                                    list[Segment]]:
    """The paragraph's properties and its content segments, text coalesced across runs."""
    ppr: etree._Element | None = None
    out: list[Segment] = []
    for child in p:
        tag = child.tag
        if tag == W_PPR:
            ppr = child
            continue
        if is_noise(child, goback):
            continue
        if tag == W_R:
            _run_segments(child, goback, out)
        else:
            out.append(Segment("x", ("x", "", canon(child, goback)), el=child))
    return ppr, out


def _run_segments(run: etree._Element, goback: frozenset[str], out: list[Segment]) -> None:
    rpr = run.find(W_RPR)
    rkey = canon(rpr, goback) if rpr is not None else ""
    for child in run:
        tag = child.tag
        if tag == W_RPR or is_noise(child, goback):
            continue
        if tag == W_T:
            text = child.text or ""
            if not text:
                continue
            last = out[-1] if out else None
            if last is not None and last.kind == "t" and last.key[1] == rkey:
                last.text += text
                last.key = ("t", rkey, last.text)
            else:
                out.append(Segment("t", ("t", rkey, text), text=text, rpr=rpr))
        else:
            out.append(Segment("r", ("r", rkey, canon(child, goback)), rpr=rpr, el=child))


def paragraph_key(p: etree._Element, goback: frozenset[str]) -> str:
    """Normalized content of a paragraph: properties plus coalesced segments."""
    ppr, segs = segments(p, goback)
    head = canon(ppr, goback) if ppr is not None else ""
    return "<p>" + head + "\x1f".join("\x1e".join(s.key) for s in segs) + "</p>"


def words(segs: list[Segment]) -> list[Segment]:
    """Split text segments into words, spaces and punctuation, one segment each."""
    return _split_text(segs, _WORD_RE.findall)


def chars(segs: list[Segment]) -> list[Segment]:
    """Split text segments into single characters (for the character-level fallback)."""
    return _split_text(segs, list)


def _split_text(segs: list[Segment], pieces: Callable[[str], list[str]]) -> list[Segment]:
    """Text segments cut into ``pieces`` of their text, each keeping the run's formatting."""
    out: list[Segment] = []
    for s in segs:
        if s.kind != "t":
            out.append(s)
            continue
        out.extend(Segment("t", ("t", s.key[1], piece), text=piece, rpr=s.rpr)
                   for piece in pieces(s.text))
    return out


def build_runs(segs: list[Segment]) -> list[etree._Element]:
    """Elements for a segment list: consecutive text of equal formatting becomes one run."""
    out: list[etree._Element] = []
    i = 0
    n = len(segs)
    while i < n:
        s = segs[i]
        if s.kind == "x":
            assert s.el is not None
            out.append(copy.deepcopy(s.el))
            i += 1
            continue
        run = make(W_R)
        if s.rpr is not None:
            run.append(copy.deepcopy(s.rpr))
        if s.kind == "r":
            assert s.el is not None
            run.append(copy.deepcopy(s.el))
            run[-1].tail = None
            i += 1
        else:
            text = []
            rkey = s.key[1]
            while i < n and segs[i].kind == "t" and segs[i].key[1] == rkey:
                text.append(segs[i].text)
                i += 1
            t = etree.SubElement(run, W_T)
            t.text = "".join(text)
            if t.text != t.text.strip() or "  " in t.text:
                t.set(XML_SPACE, "preserve")
        out.append(run)
    return out


def segments_text(segs: list[Segment]) -> str:
    """Readable text of segments (for conflict records)."""
    parts: list[str] = []
    for s in segs:
        if s.kind == "t":
            parts.append(s.text)
        elif s.el is not None:
            parts.append(visible_text(s.el))
    return "".join(parts)
