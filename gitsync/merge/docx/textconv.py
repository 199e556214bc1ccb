"""Plain text of a document for ``git diff`` (textconv): one paragraph per line.

Tables give one line per row with cells separated by tabs; deleted tracked text is left out,
so the text reads as the document would after accepting all changes.
"""

from __future__ import annotations

from collections.abc import Iterator

from lxml import etree

from gitsync.merge.docx.limits import DEFAULT_LIMITS, DocxLimits
from gitsync.merge.docx.ooxml import (
    W_BODY,
    W_P,
    W_SDT,
    W_SDTCONTENT,
    W_TBL,
    W_TC,
    W_TR,
    visible_text,
)
from gitsync.merge.docx.package import DOCUMENT_PART, parse_xml, read_package


def body_units(body: etree._Element) -> Iterator[tuple[str, etree._Element]]:
    """Lines of a body: ("p", paragraph) and ("row", table row), in reading order."""
    for child in body:
        tag = child.tag
        if tag == W_P:
            yield "p", child
        elif tag == W_TBL:
            for tr in child.iter(W_TR):
                if tr.getparent() is child:
                    yield "row", tr
        elif tag == W_SDT:
            content = child.find(W_SDTCONTENT)
            if content is not None:
                yield from body_units(content)


def unit_text(kind: str, el: etree._Element) -> str:
    if kind == "row":
        cells = [c for c in el if c.tag == W_TC]
        return "\t".join(" ".join(visible_text(p) for p in c.iter(W_P)) for c in cells)
    return visible_text(el).replace("\n", " ")


def document_lines(data: bytes, limits: DocxLimits | None = None) -> list[tuple[str, str]]:
    lim = limits or DEFAULT_LIMITS
    pkg = read_package(data, lim)
    root = parse_xml(pkg.parts[DOCUMENT_PART], DOCUMENT_PART, lim)
    body = root.find(W_BODY)
    if body is None:
        return []
    return [(kind, unit_text(kind, el)) for kind, el in body_units(body)]


def docx_text(data: bytes) -> str:
    """The document's text, one paragraph (or table row) per line, ending with a newline."""
    lines = [text for _, text in document_lines(data)]
    return "".join(line + "\n" for line in lines)
