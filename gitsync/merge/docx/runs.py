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
from typing import TYPE_CHECKING

from lxml import etree

from gitsync.merge.docx.normal import NOTE_REFS, OBJECT_TAGS, TABLE_PROPS
from gitsync.merge.docx.ooxml import (
    R_NS,
    W_BOOKMARK_END,
    W_BOOKMARK_START,
    W_COMMENT_RANGE_END,
    W_COMMENT_RANGE_START,
    W_COMMENT_REFERENCE,
    W_HYPERLINK,
    W_ID,
    W_LAST_RENDERED,
    W_NAME,
    W_NS,
    W_P,
    W_PPR,
    W_PROOF_ERR,
    W_R,
    W_RPR,
    W_SECTPR,
    W_T,
    XML_SPACE,
    make,
    visible_text,
)

if TYPE_CHECKING:
    from gitsync.merge.docx.normal import Formatting, Props

_R_PREFIX = f"{{{R_NS}}}"
#: Attributes that editors write or drop at will (Word's link history flag).
_EDITOR_ATTRS = frozenset((f"{{{W_NS}}}history",))
#: Markers whose ids every editor renumbers on save; what they mark is compared elsewhere.
_RENUMBERED = frozenset((W_BOOKMARK_START, W_BOOKMARK_END, W_COMMENT_RANGE_START,
                         W_COMMENT_RANGE_END, W_COMMENT_REFERENCE))
_RUN_CONTAINERS = frozenset((W_HYPERLINK,))
#: Run content that is a marker, not text: its formatting is invisible (LibreOffice drops it).
_MARKERS = frozenset((W_COMMENT_REFERENCE, f"{{{W_NS}}}annotationRef"))

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


def canon(el: etree._Element, goback: frozenset[str], fmt: Formatting | None = None) -> str:
    """A normalized serialization: same content means same string, noise ignored.

    With FMT (the side's :class:`~gitsync.merge.docx.normal.Formatting`), paragraph, run and
    section properties are compared by their effective values, so a re-save by another
    editor is not an edit.
    """
    parts: list[str] = []
    _canon_into(el, goback, parts, fmt)
    return "".join(parts)


def _canon_into(el: etree._Element, goback: frozenset[str], out: list[str],
                fmt: Formatting | None = None) -> None:
    tag = el.tag
    if tag == W_P:
        out.append(paragraph_key(el, goback, fmt))
        return
    if fmt is not None:
        if tag in OBJECT_TAGS:
            out.append(fmt.object_key(el))
            return
        if tag in NOTE_REFS:
            out.append(fmt.note_key(el))
            return
        if tag in TABLE_PROPS:
            out.append(fmt.table_key(el))
            return
        if tag == W_RPR:
            out.append("<rPr " + fmt.run(el, fmt.paragraph(None)[1]) + "/>")
            return
        if tag == W_PPR:
            out.append("<pPr " + fmt.paragraph(el)[0] + "/>")
            return
        if tag == W_SECTPR:
            out.append("<sectPr " + fmt.section_key(el) + "/>")
            return
    out.append("<")
    out.append(tag)
    if el.attrib:
        for k, v in sorted(el.attrib.items()):
            if is_noise_attr(k):
                continue
            if fmt is not None:
                if k.startswith(_R_PREFIX):
                    v = fmt.targets.get(v, v)
                elif k in _EDITOR_ATTRS or (k == W_ID and tag in _RENUMBERED):
                    continue
            out.append(f" {k}={v!r}")
    out.append(">")
    if fmt is not None and tag in _RUN_CONTAINERS:
        # Runs inside a link read like the paragraph's own: split and joined runs are equal.
        _, segs = segments(el, goback, fmt)
        out.append("\x1f".join("\x1e".join(s.key) for s in segs))
        out.append("/>")
        return
    if el.text and (tag == W_T or el.text.strip()):
        out.append(el.text)
    for child in el:
        if is_noise(child, goback):
            continue
        _canon_into(child, goback, out, fmt)
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


def segments(p: etree._Element, goback: frozenset[str], fmt: Formatting | None = None,
             ) -> tuple[etree._Element | None, list[Segment]]:
    """The paragraph's properties and its content segments, text coalesced across runs.

    With FMT, a segment's formatting key is the run's effective look (see :func:`canon`).
    """
    ppr = p.find(W_PPR)
    para_rp = fmt.paragraph(ppr)[1] if fmt is not None else None
    out: list[Segment] = []
    for child in p:
        tag = child.tag
        if tag == W_PPR or is_noise(child, goback):
            continue
        if tag == W_R:
            _run_segments(child, goback, out, fmt, para_rp)
        else:
            out.append(Segment("x", ("x", "", canon(child, goback, fmt)), el=child))
    return ppr, out


def _run_segments(run: etree._Element, goback: frozenset[str], out: list[Segment],
                  fmt: Formatting | None = None, para_rp: Props | None = None) -> None:
    rpr = run.find(W_RPR)
    if fmt is not None and all(c.tag in _MARKERS for c in run if c.tag != W_RPR):
        rkey = ""
    elif fmt is not None:
        rkey = fmt.run(rpr, para_rp or {})
    else:
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
            out.append(Segment("r", ("r", rkey, canon(child, goback, fmt)), rpr=rpr, el=child))


def paragraph_key(p: etree._Element, goback: frozenset[str],
                  fmt: Formatting | None = None) -> str:
    """Normalized content of a paragraph: properties plus coalesced segments."""
    ppr, segs = segments(p, goback, fmt)
    if fmt is not None:
        head = fmt.paragraph(ppr)[0]
    else:
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
