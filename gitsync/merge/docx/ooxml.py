"""WordprocessingML namespaces, qualified names and small element helpers."""

from __future__ import annotations

from lxml import etree

W_NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
R_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
W14_NS = "http://schemas.microsoft.com/office/word/2010/wordml"
W15_NS = "http://schemas.microsoft.com/office/word/2012/wordml"
PKG_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
CT_NS = "http://schemas.openxmlformats.org/package/2006/content-types"
CP_NS = "http://schemas.openxmlformats.org/package/2006/metadata/core-properties"
DCTERMS_NS = "http://purl.org/dc/terms/"
XML_NS = "http://www.w3.org/XML/1998/namespace"

REL_TYPE_COMMENTS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/comments"
CT_COMMENTS = "application/vnd.openxmlformats-officedocument.wordprocessingml.comments+xml"


def w(local: str) -> str:
    """Clark name of a ``w:`` element or attribute."""
    return f"{{{W_NS}}}{local}"


W_P = w("p")
W_R = w("r")
W_T = w("t")
W_TBL = w("tbl")
W_TR = w("tr")
W_TC = w("tc")
W_SDT = w("sdt")
W_PPR = w("pPr")
W_RPR = w("rPr")
W_TRPR = w("trPr")
W_TCPR = w("tcPr")
W_TBLPR = w("tblPr")
W_TBLGRID = w("tblGrid")
W_SECTPR = w("sectPr")
W_BODY = w("body")
W_INS = w("ins")
W_DEL = w("del")
W_DELTEXT = w("delText")
W_INSTRTEXT = w("instrText")
W_DELINSTRTEXT = w("delInstrText")
W_ID = w("id")
W_VAL = w("val")
W_NAME = w("name")
W_AUTHOR = w("author")
W_DATE = w("date")
W_TAB = w("tab")
W_BR = w("br")
W_CR = w("cr")
W_BOOKMARK_START = w("bookmarkStart")
W_BOOKMARK_END = w("bookmarkEnd")
W_PROOF_ERR = w("proofErr")
W_LAST_RENDERED = w("lastRenderedPageBreak")
W_COMMENT = w("comment")
W_COMMENT_RANGE_START = w("commentRangeStart")
W_COMMENT_RANGE_END = w("commentRangeEnd")
W_COMMENT_REFERENCE = w("commentReference")
W_HYPERLINK = w("hyperlink")
W_SMARTTAG = w("smartTag")
W_CUSTOMXML = w("customXml")
W_SDTCONTENT = w("sdtContent")
W14_PARAID = f"{{{W14_NS}}}paraId"
W14_TEXTID = f"{{{W14_NS}}}textId"
XML_SPACE = f"{{{XML_NS}}}space"


def make(tag: str, attrib: dict[str, str] | None = None, text: str | None = None) -> etree._Element:
    """A new element with the ``w`` prefix kept (lxml picks prefixes from the nsmap)."""
    el = etree.Element(tag, attrib=attrib or {}, nsmap={"w": W_NS})
    if text is not None:
        el.text = text
    return el


def empty_like(el: etree._Element) -> etree._Element:
    """A new element with ``el``'s tag, attributes and namespaces, without its content."""
    return etree.Element(el.tag, attrib=dict(el.attrib), nsmap=el.nsmap)


def visible_text(el: etree._Element) -> str:
    """Text as it reads after accepting all changes: w:t only, no deleted text."""
    parts: list[str] = []
    for node in el.iter(W_T, W_TAB, W_BR, W_CR):
        if node.tag == W_T:
            parts.append(node.text or "")
        elif node.tag == W_TAB:
            if node.getparent() is not None and node.getparent().tag == W_R:
                parts.append("\t")
        else:
            parts.append(" ")
    return "".join(parts)


def block_text(el: etree._Element) -> str:
    """Readable text of a block for conflict records: table rows on lines, cells by tabs."""
    tag = el.tag
    if tag == W_P:
        return visible_text(el)
    if tag == W_TBL:
        return "\n".join(block_text(tr) for tr in el if tr.tag == W_TR)
    if tag == W_TR:
        return "\t".join(" ".join(visible_text(p) for p in tc.iter(W_P))
                         for tc in el if tc.tag == W_TC)
    paras = [visible_text(p) for p in el.iter(W_P)]
    return "\n".join(paras) if paras else visible_text(el)
