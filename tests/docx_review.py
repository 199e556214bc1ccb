"""Accept All / Reject All on a Word document with lxml, as OOXML defines them, and the check
that every conflict the merger wrote reads as the other device's text when accepted and as
this device's when rejected.

Written from the OOXML rules, independently of the merger's own settling code
(``gitsync.merge.docx.review``), so the two can check each other:

- ``w:ins`` / ``w:moveTo`` (around runs): accepting keeps their content, rejecting drops it;
  ``w:del`` / ``w:moveFrom``: the opposite, deleted text turning back into text.
- A paragraph mark inserted (``w:pPr/w:rPr/w:ins``) and rejected, or deleted and accepted,
  goes: what is left of the paragraph joins the next one; an empty paragraph just goes.
- Table rows marked in ``w:trPr`` go or stay the same way; a table left with no row goes.
- Formatting changes (``w:rPrChange``, ``w:pPrChange``, and the table ones): accepting drops
  the record of the old formatting; rejecting puts the old formatting back.

With ``author`` only that author's revisions are settled, as Word's "by this reviewer".
"""

from __future__ import annotations

import copy
import io
import zipfile
from difflib import SequenceMatcher

from lxml import etree

W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
W14 = "http://schemas.microsoft.com/office/word/2010/wordml"
MARK = "{urn:gitsync-test}conflict"
FOREIGN = "{urn:gitsync-test}foreign"


def q(tag: str) -> str:
    return f"{{{W}}}{tag}"


INS, DEL, MOVE_FROM, MOVE_TO = q("ins"), q("del"), q("moveFrom"), q("moveTo")
WRAPPERS = (INS, DEL, MOVE_FROM, MOVE_TO)
KEPT_ON_ACCEPT = (INS, MOVE_TO)
PROP_CHANGES = tuple(q(t) for t in ("pPrChange", "rPrChange", "tblPrChange", "trPrChange",
                                    "tcPrChange", "sectPrChange", "tblPrExChange",
                                    "tblGridChange"))
#: Children a properties element keeps when its old formatting is put back.
STRUCTURAL = {q("pPr"): (q("rPr"), q("sectPr")), q("rPr"): WRAPPERS, q("trPr"): (INS, DEL),
              q("tcPr"): (q("cellIns"), q("cellDel"), q("cellMerge"))}
RANGE_MARKS = tuple(q(t) for t in ("moveFromRangeStart", "moveFromRangeEnd",
                                   "moveToRangeStart", "moveToRangeEnd"))
#: Paragraph children that are not content: a paragraph holding only these is empty.
NOT_CONTENT = (q("pPr"), q("bookmarkStart"), q("bookmarkEnd"), q("commentRangeStart"),
               q("commentRangeEnd"), q("proofErr"), q("permStart"), q("permEnd"))


# -- reading and writing packages ------------------------------------------------------------


def _parts(data: bytes) -> dict[str, bytes]:
    z = zipfile.ZipFile(io.BytesIO(data))
    return {n: z.read(n) for n in z.namelist()}


def _zip(parts: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for n, d in parts.items():
            z.writestr(n, d)
    return buf.getvalue()


def _xml(root: etree._Element) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", standalone=True)


def story_parts(data: bytes) -> list[str]:
    """The parts holding text: the body, headers, footers, footnotes and endnotes."""
    return sorted(n for n in zipfile.ZipFile(io.BytesIO(data)).namelist()
                  if n == "word/document.xml" or (
                      n.startswith(("word/header", "word/footer", "word/footnotes",
                                    "word/endnotes")) and n.endswith(".xml")))


# -- accept / reject ---------------------------------------------------------------------------


def accept_all(data: bytes, author: str | None = None) -> bytes:
    return settle(data, accept=True, author=author)


def reject_all(data: bytes, author: str | None = None) -> bytes:
    return settle(data, accept=False, author=author)


def settle(data: bytes, *, accept: bool, author: str | None = None) -> bytes:
    parts = _parts(data)
    for name, raw in parts.items():
        if name.startswith("word/") and name.endswith(".xml") and b"w:author" in raw:
            root = etree.fromstring(raw)
            settle_root(root, accept=accept, author=author)
            parts[name] = _xml(root)
    return _zip(parts)


def _mine(el: etree._Element, author: str | None) -> bool:
    return author is None or el.get(q("author")) == author


def _attached(el: etree._Element, root: etree._Element) -> bool:
    node: etree._Element | None = el
    while node is not None:
        if node is root:
            return True
        node = node.getparent()
    return False


def _unwrap(el: etree._Element) -> None:
    parent = el.getparent()
    assert parent is not None
    idx = parent.index(el)
    for i, child in enumerate(list(el)):
        parent.insert(idx + i, child)
    parent.remove(el)


def _drop(el: etree._Element) -> None:
    parent = el.getparent()
    if parent is not None:
        parent.remove(el)


def settle_root(root: etree._Element, *, accept: bool, author: str | None = None) -> None:
    """Accept or reject (AUTHOR's) revisions in one XML part, in place."""
    for change in list(root.iter(*PROP_CHANGES)):
        if not _mine(change, author) or not _attached(change, root):
            continue
        holder = change.getparent()
        assert holder is not None
        if accept:
            holder.remove(change)
            continue
        old = [copy.deepcopy(c) for c in (change[0] if len(change) else [])]
        keep = [c for c in holder if c.tag in STRUCTURAL.get(holder.tag, ())]
        holder[:] = keep + old if holder.tag == q("rPr") else old + keep
    # Run-level wrappers, outermost first: an inner one may go with its outer one.
    for el in list(root.iter(*WRAPPERS)):
        parent = el.getparent()
        if parent is None or parent.tag in (q("rPr"), q("trPr")) or not _mine(el, author):
            continue
        if not _attached(el, root):
            continue
        if (el.tag in KEPT_ON_ACCEPT) == accept:
            if el.tag in (DEL, MOVE_FROM):
                for t in el.iter(q("delText"), q("delInstrText")):
                    t.tag = q("t") if t.tag == q("delText") else q("instrText")
            _unwrap(el)
        else:
            parent.remove(el)
    going: list[etree._Element] = []
    for mark in list(root.iter(*WRAPPERS)):
        holder = mark.getparent()
        if holder is None or holder.tag != q("rPr") or not _mine(mark, author):
            continue
        ppr = holder.getparent()
        if ppr is None or ppr.tag != q("pPr"):
            continue
        holder.remove(mark)
        if (mark.tag in KEPT_ON_ACCEPT) != accept:
            going.append(ppr.getparent())
    for p in reversed(going):
        _remove_paragraph_mark(p)
    for tr in list(root.iter(q("tr"))):
        trpr = tr.find(q("trPr"))
        marks = [m for m in (trpr if trpr is not None else []) if m.tag in (INS, DEL)
                 and _mine(m, author)]
        for m in marks:
            trpr.remove(m)
            if (m.tag == INS) != accept:
                _drop(tr)
    for tbl in list(root.iter(q("tbl"))):
        if tbl.find(q("tr")) is None:
            _drop(tbl)
    for el in list(root.iter(*RANGE_MARKS)):
        if _mine(el, author):
            _drop(el)


def _remove_paragraph_mark(p: etree._Element) -> None:
    """The paragraph's mark goes: its content joins the next paragraph, or it goes."""
    content = [c for c in p if c.tag not in NOT_CONTENT]
    nxt = p.getnext()
    while nxt is not None and nxt.tag in NOT_CONTENT:
        nxt = nxt.getnext()
    if content and nxt is not None and nxt.tag == q("p"):
        ppr = nxt.find(q("pPr"))
        at = 1 if ppr is not None and nxt.index(ppr) == 0 else 0
        for i, c in enumerate(content):
            nxt.insert(at + i, c)
        if p.get(MARK):
            nxt.set(MARK, p.get(MARK))
        _drop(p)
    elif not content:
        _drop(p)
    # else: nothing to join with (last paragraph of a cell or story): the text stays.


# -- comparing paragraphs --------------------------------------------------------------------


def _clean_props(el: etree._Element | None) -> str:
    """Formatting as a string, without revision ids, rsids and empty containers."""
    if el is None:
        return ""
    el = copy.deepcopy(el)
    for child in list(el):
        if child.tag in WRAPPERS or child.tag in PROP_CHANGES:
            el.remove(child)
    for node in el.iter():
        for k in list(node.attrib):
            local = etree.QName(k).localname
            if local.startswith("rsid") or k.startswith(f"{{{W14}}}"):
                del node.attrib[k]
    for child in list(el):
        if child.tag in (q("rPr"), q("pPr")) and len(child) == 0 and not child.attrib:
            el.remove(child)
    if len(el) == 0 and not el.attrib:
        return ""
    return "".join(etree.tostring(c, method="c14n").decode() for c in el)


def paragraph_signature(p: etree._Element, formatting: bool) -> str:
    """What a reader sees of a paragraph: its text, and with FORMATTING its properties and
    each stretch of text with its run properties (run splits and comment anchors ignored)."""
    pieces: list[tuple[str, str]] = []
    for r in p.iter(q("r")):
        if r.find(q("commentReference")) is not None:
            continue
        anc = r.getparent()
        while anc is not None and anc is not p and anc.tag != q("p"):
            anc = anc.getparent()
        if anc is not p:
            continue  # a run of a paragraph nested in a text box
        rpr = _clean_props(r.find(q("rPr"))) if formatting else ""
        for c in r:
            if c.tag == q("t"):
                text = c.text or ""
            elif c.tag == q("tab"):
                text = "\t"
            elif c.tag in (q("br"), q("cr")):
                text = "\n"
            elif c.tag in (q("rPr"), q("lastRenderedPageBreak"), q("delText")):
                continue
            else:
                text = f"<{etree.QName(c).localname}>"
            if pieces and pieces[-1][0] == rpr:
                pieces[-1] = (rpr, pieces[-1][1] + text)
            else:
                pieces.append((rpr, text))
    if not formatting:
        return "".join(t for _, t in pieces)
    return repr((_clean_props(p.find(q("pPr"))), [x for x in pieces if x[1]]))


def paragraphs(data: bytes, part: str = "word/document.xml", *,
               formatting: bool = False) -> list[str]:
    root = etree.fromstring(_parts(data)[part])
    return [paragraph_signature(p, formatting) for p in root.iter(q("p"))]


# -- checking conflicts ----------------------------------------------------------------------


def _revision_ids(data: bytes) -> set[str]:
    ids: set[str] = set()
    parts = _parts(data)
    for name in story_parts(data):
        root = etree.fromstring(parts[name])
        ids.update(r.get(q("id"), "") for r in root.iter(*WRAPPERS, *PROP_CHANGES))
    return ids


def _mark_conflicts(data: bytes, author: str, old_ids: set[str]) -> bytes:
    """Tag each paragraph holding AUTHOR's new revisions (ids not in OLD_IDS), and the
    paragraphs of rows AUTHOR marked. Paragraphs that also hold revisions the inputs already
    had (someone's earlier review, or an earlier merge) are tagged foreign: the merger cannot
    nest its changes in those, so it keeps ours and adds theirs."""
    parts = _parts(data)
    for name in story_parts(data):
        root = etree.fromstring(parts[name])
        for p in root.iter(q("p")):
            revs = list(p.iter(*WRAPPERS, *PROP_CHANGES))
            if any(r.get(q("author")) == author and r.get(q("id")) not in old_ids
                   for r in revs):
                p.set(MARK, "1")
            if any(r.get(q("author")) != author or r.get(q("id")) in old_ids for r in revs):
                p.set(FOREIGN, "1")
        for tr in root.iter(q("tr")):
            trpr = tr.find(q("trPr"))
            if trpr is not None and any(m.get(q("author")) == author for m in trpr
                                        if m.tag in (INS, DEL)):
                for p in tr.iter(q("p")):
                    p.set(MARK, "1")
        parts[name] = _xml(root)
    return _zip(parts)


def _unmatched(settled: bytes, side: bytes, part: str, formatting: bool) -> list[str]:
    """Tagged paragraphs of SETTLED that do not line up with an equal paragraph of SIDE."""
    root = etree.fromstring(_parts(settled)[part])
    ps = list(root.iter(q("p")))
    mine = [paragraph_signature(p, formatting) for p in ps]
    theirs = paragraphs(side, part, formatting=formatting)
    matched: set[int] = set()
    sm = SequenceMatcher(None, mine, theirs, autojunk=False)
    for i, _j, n in sm.get_matching_blocks():
        matched.update(range(i, i + n))
    return [mine[k] for k, p in enumerate(ps)
            if p.get(MARK) and not p.get(FOREIGN) and k not in matched]


def check_conflicts(merged: bytes, ours: bytes, theirs: bytes, author: str, *,
                    formatting: bool = False) -> int:
    """Assert that, at every paragraph holding the tracked changes the merge wrote as AUTHOR,
    accepting them reads as THEIRS and rejecting them as OURS (paragraph text, and with
    FORMATTING paragraph and run properties too). A paragraph lines up with the side's when
    the two documents' paragraph lists, compared in order, match there. Returns how many
    conflict paragraphs were checked."""
    old_ids = _revision_ids(ours) | _revision_ids(theirs)
    marked = _mark_conflicts(merged, author, old_ids)
    accepted = settle(marked, accept=True, author=author)
    rejected = settle(marked, accept=False, author=author)
    # The sides' own revisions by AUTHOR (from an earlier merge) are settled alike.
    theirs = settle(theirs, accept=True, author=author)
    ours = settle(ours, accept=False, author=author)
    checked = 0
    side_parts = set(story_parts(ours)) & set(story_parts(theirs))
    for part in story_parts(merged):
        if part not in side_parts:
            continue
        root = etree.fromstring(_parts(marked)[part])
        checked += sum(1 for p in root.iter(q("p")) if p.get(MARK) and not p.get(FOREIGN))
        for label, settled, side in (("accepted", accepted, theirs),
                                     ("rejected", rejected, ours)):
            bad = _unmatched(settled, side, part, formatting)
            assert not bad, f"{part}: {label} conflict paragraphs differ from that side: {bad}"
    return checked
