"""What a version of a file looks like, as data a page can render safely.

Pure: bytes in, a JSON-ready dict out. Text comes back decoded (the page escapes it); a Word
document comes back as simple blocks (headings, paragraphs with bold/italic runs and a list
flag, tables as rows of cell text), read from ``word/document.xml`` with the .docx merger's
safe package reader, so no Word library is needed at run time; anything else is a size.
Costs are bounded (``MAX_TEXT_BYTES``, ``MAX_BLOCKS``) and a cut result says
``"truncated": true``.
"""

from __future__ import annotations

import re
from typing import Any

from gitsync.errors import MergeError
from gitsync.merge.textcodec import decode

MAX_TEXT_BYTES = 2 * 1024 * 1024
MAX_BLOCKS = 5000
DOCX_SUFFIXES = (".docx", ".docm", ".dotx")

_HEADING_STYLE = re.compile(r"^(?:heading|berschrift|titre|titolo|kop)\s*(\d)$", re.I)


def is_docx(path: str, data: bytes | None) -> bool:
    return path.lower().endswith(DOCX_SUFFIXES) and (data is None or data[:2] == b"PK")


def preview(path: str, data: bytes) -> dict[str, Any]:
    """``{"kind": "text", "text"}``, ``{"kind": "docx", "blocks"}`` or ``{"kind": "binary",
    "size"}``; all three carry ``"size"`` and ``"truncated"``."""
    size = len(data)
    if is_docx(path, data):
        try:
            blocks, cut = docx_blocks(data)
            return {"kind": "docx", "blocks": blocks, "size": size, "truncated": cut}
        except MergeError:
            return {"kind": "binary", "size": size, "truncated": False}
    cut = size > MAX_TEXT_BYTES
    head = data[:MAX_TEXT_BYTES] if cut else data
    decoded = decode(head)
    if decoded is None and cut:
        # The cut may have split a multi-byte character: step back a little.
        for back in range(1, 4):
            decoded = decode(head[:-back])
            if decoded is not None:
                break
    if decoded is None:
        return {"kind": "binary", "size": size, "truncated": False}
    return {"kind": "text", "text": decoded.text, "size": size, "truncated": cut}


def docx_blocks(data: bytes) -> tuple[list[dict[str, Any]], bool]:
    """The body of a document as blocks, and whether it was cut at ``MAX_BLOCKS``."""
    from gitsync.merge.docx.limits import DEFAULT_LIMITS
    from gitsync.merge.docx.ooxml import W_BODY, W_P, W_SDT, W_SDTCONTENT, W_TBL
    from gitsync.merge.docx.package import DOCUMENT_PART, parse_xml, read_package
    from gitsync.merge.docx.textconv import unit_text

    pkg = read_package(data, DEFAULT_LIMITS)
    if DOCUMENT_PART not in pkg.parts:
        from gitsync.merge.docx.errors import MissingPartError

        raise MissingPartError("the document has no body", part=DOCUMENT_PART)
    root = parse_xml(pkg.parts[DOCUMENT_PART], DOCUMENT_PART, DEFAULT_LIMITS)
    body = root.find(W_BODY)
    out: list[dict[str, Any]] = []
    if body is None:
        return out, False

    def walk(container: Any) -> bool:
        for child in container:
            if len(out) >= MAX_BLOCKS:
                return True
            if child.tag == W_P:
                out.append(_paragraph(child))
            elif child.tag == W_TBL:
                rows = [unit_text("row", tr).split("\t") for tr in _rows(child)]
                out.append({"type": "table", "rows": rows})
            elif child.tag == W_SDT:
                content = child.find(W_SDTCONTENT)
                if content is not None and walk(content):
                    return True
        return False

    return out, walk(body)


def _rows(tbl: Any) -> list[Any]:
    from gitsync.merge.docx.ooxml import W_TR

    return [tr for tr in tbl if tr.tag == W_TR]


def _on(rpr: Any, name: str) -> bool:
    from gitsync.merge.docx.ooxml import W_VAL, w

    if rpr is None:
        return False
    el = rpr.find(w(name))
    if el is None:
        return False
    return el.get(W_VAL, "true").lower() not in ("0", "false", "off", "none")


def _paragraph(p: Any) -> dict[str, Any]:
    from gitsync.merge.docx.ooxml import (
        W_BR,
        W_CR,
        W_DEL,
        W_PPR,
        W_R,
        W_RPR,
        W_T,
        W_TAB,
        W_VAL,
        w,
    )

    ppr = p.find(W_PPR)
    style = ""
    level: int | None = None
    listed = False
    if ppr is not None:
        ps = ppr.find(w("pStyle"))
        style = ps.get(W_VAL, "") if ps is not None else ""
        m = _HEADING_STYLE.match(style)
        if m:
            level = max(1, min(6, int(m.group(1))))
        elif style.lower() in ("title",):
            level = 1
        elif style.lower() == "subtitle":
            level = 2
        else:
            ol = ppr.find(w("outlineLvl"))
            if ol is not None and (ol.get(W_VAL) or "").isdigit() and int(ol.get(W_VAL)) < 9:
                level = min(6, int(ol.get(W_VAL)) + 1)
        listed = ppr.find(w("numPr")) is not None or style.lower().startswith("list")
    runs: list[dict[str, Any]] = []
    for r in p.iter(W_R):
        if _deleted_or_nested(r, p, W_DEL):
            continue
        text = []
        for node in r:
            if node.tag == W_T:
                text.append(node.text or "")
            elif node.tag == W_TAB:
                text.append("\t")
            elif node.tag in (W_BR, W_CR):
                text.append("\n")
        if not text:
            continue
        rpr = r.find(W_RPR)
        run = {"text": "".join(text), "bold": _on(rpr, "b"), "italic": _on(rpr, "i")}
        if runs and runs[-1]["bold"] == run["bold"] and runs[-1]["italic"] == run["italic"]:
            runs[-1]["text"] += run["text"]
        else:
            runs.append(run)
    if level is not None:
        return {"type": "heading", "level": level, "runs": runs}
    return {"type": "paragraph", "list": listed, "runs": runs}


def _deleted_or_nested(r: Any, p: Any, w_del: str) -> bool:
    """A run inside tracked deleted text, or inside a text box's own paragraph."""
    from gitsync.merge.docx.ooxml import W_P

    node = r.getparent()
    while node is not None and node is not p:
        if node.tag == w_del or node.tag == W_P:
            return True
        node = node.getparent()
    return False
