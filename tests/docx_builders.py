"""Word documents in one line each, edits on them, and checks on merged output.

Builders return .docx bytes made with python-docx (footnotes, which python-docx cannot write,
are added to its package with lxml). ``accept_all`` / ``reject_all`` resolve tracked changes
the way Word's Accept All / Reject All do, for checking conflict rendering (see
tests/docx_review.py). Converting documents with LibreOffice is in tests/libreoffice.py.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from collections.abc import Callable

import docx
from docx.document import Document as DocumentObject
from docx.shared import Inches
from lxml import etree

W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
NS = {"w": W}


def q(tag: str) -> str:
    return f"{{{W}}}{tag}"


def save(d: DocumentObject) -> bytes:
    buf = io.BytesIO()
    d.save(buf)
    return buf.getvalue()


def load(data: bytes) -> DocumentObject:
    return docx.Document(io.BytesIO(data))


def paras(*texts: str) -> bytes:
    """A document with one paragraph per text."""
    d = docx.Document()
    for t in texts:
        d.add_paragraph(t)
    return save(d)


def numbered(n: int, words: int = 6) -> bytes:
    """``n`` distinct paragraphs "Paragraph i: alpha beta ..." (easy to edit and find)."""
    filler = " ".join(["lorem", "ipsum", "dolor", "sit", "amet", "consectetur"][:words])
    return paras(*[f"Paragraph {i}: {filler}." for i in range(n)])


def formatted(*pieces: tuple[str, str]) -> bytes:
    """One paragraph of runs; each piece is (text, "b"/"i"/"") for bold/italic/plain."""
    d = docx.Document()
    p = d.add_paragraph()
    for text, fmt in pieces:
        r = p.add_run(text)
        r.bold = "b" in fmt or None
        r.italic = "i" in fmt or None
    return save(d)


def table(rows: list[list[str]], before: str = "Before the table.",
          after: str = "After the table.") -> bytes:
    d = docx.Document()
    d.add_paragraph(before)
    t = d.add_table(rows=len(rows), cols=len(rows[0]))
    for i, row in enumerate(rows):
        for j, text in enumerate(row):
            t.cell(i, j).text = text
    d.add_paragraph(after)
    return save(d)


def bullet_list(*items: str, intro: str = "A list:") -> bytes:
    d = docx.Document()
    d.add_paragraph(intro)
    for it in items:
        d.add_paragraph(it, style="List Bullet")
    return save(d)


def with_header(header: str, footer: str, *texts: str) -> bytes:
    d = docx.Document()
    d.sections[0].header.paragraphs[0].text = header
    d.sections[0].footer.paragraphs[0].text = footer
    for t in texts:
        d.add_paragraph(t)
    return save(d)


def with_comment(text: str, comment: str, *more: str) -> bytes:
    d = docx.Document()
    p = d.add_paragraph()
    r = p.add_run(text)
    d.add_comment(r, text=comment, author="Reviewer", initials="RV")
    for t in more:
        d.add_paragraph(t)
    return save(d)


def png(color: tuple[int, int, int], size: int = 8) -> bytes:
    """A tiny solid PNG (no imaging library needed)."""
    raw = b"".join(b"\x00" + bytes(color) * size for _ in range(size))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    ihdr = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw))
            + chunk(b"IEND", b""))


def with_image(*texts: str, color: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    d = docx.Document()
    for t in texts:
        d.add_paragraph(t)
    d.add_picture(io.BytesIO(png(color)), width=Inches(0.5))
    return save(d)


def with_style(style_name: str, *texts: str) -> bytes:
    d = docx.Document()
    st = d.styles.add_style(style_name, 1)
    st.font.bold = True
    for t in texts:
        d.add_paragraph(t, style=st)
    return save(d)


def edit(data: bytes, fn: Callable[[DocumentObject], object]) -> bytes:
    """Apply a python-docx edit to a document and return the saved bytes."""
    d = load(data)
    fn(d)
    return save(d)


def set_para(i: int, text: str) -> Callable[[DocumentObject], object]:
    """Edit: replace paragraph i's text (keeps the first run's formatting)."""
    def fn(d: DocumentObject) -> None:
        p = d.paragraphs[i]
        runs = p.runs
        runs[0].text = text
        for r in runs[1:]:
            r._r.getparent().remove(r._r)
    return fn


def replace_in(i: int, old: str, new: str) -> Callable[[DocumentObject], object]:
    """Edit: replace a substring inside one run of paragraph i."""
    def fn(d: DocumentObject) -> None:
        for r in d.paragraphs[i].runs:
            if old in r.text:
                r.text = r.text.replace(old, new, 1)
                return
        raise AssertionError(f"{old!r} not in paragraph {i}")
    return fn


def append_para(text: str) -> Callable[[DocumentObject], object]:
    return lambda d: d.add_paragraph(text)


def insert_before(i: int, text: str, style: str | None = None
                  ) -> Callable[[DocumentObject], object]:
    return lambda d: d.paragraphs[i].insert_paragraph_before(text, style=style)


def delete_para(i: int) -> Callable[[DocumentObject], object]:
    def fn(d: DocumentObject) -> None:
        p = d.paragraphs[i]._p
        p.getparent().remove(p)
    return fn


def add_footnotes(data: bytes, notes: dict[int, str]) -> bytes:
    """Give paragraph i a footnote reference to a note with the given text (ids from 1)."""
    zin = zipfile.ZipFile(io.BytesIO(data))
    parts = {n: zin.read(n) for n in zin.namelist()}
    doc = etree.fromstring(parts["word/document.xml"])
    body_ps = doc.findall(".//w:body/w:p", NS)
    fn_root = etree.Element(q("footnotes"), nsmap={"w": W})
    for sep_id, kind in ((-1, "separator"), (0, "continuationSeparator")):
        f = etree.SubElement(fn_root, q("footnote"), {q("type"): kind, q("id"): str(sep_id)})
        etree.SubElement(etree.SubElement(etree.SubElement(f, q("p")), q("r")), q(kind))
    for n, (i, text) in enumerate(sorted(notes.items()), start=1):
        r = etree.SubElement(body_ps[i], q("r"))
        etree.SubElement(r, q("footnoteReference"), {q("id"): str(n)})
        f = etree.SubElement(fn_root, q("footnote"), {q("id"): str(n)})
        fr = etree.SubElement(etree.SubElement(f, q("p")), q("r"))
        etree.SubElement(fr, q("t")).text = text
    parts["word/document.xml"] = etree.tostring(doc, xml_declaration=True, encoding="UTF-8",
                                                standalone=True)
    parts["word/footnotes.xml"] = etree.tostring(fn_root, xml_declaration=True,
                                                 encoding="UTF-8", standalone=True)
    rels = parts["word/_rels/document.xml.rels"].replace(
        b"</Relationships>",
        b'<Relationship Id="rIdFn1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
        b'relationships/footnotes" Target="footnotes.xml"/></Relationships>')
    parts["word/_rels/document.xml.rels"] = rels
    parts["[Content_Types].xml"] = parts["[Content_Types].xml"].replace(
        b"</Types>",
        b'<Override PartName="/word/footnotes.xml" ContentType="application/vnd.openxmlformats-'
        b'officedocument.wordprocessingml.footnotes+xml"/></Types>')
    return rezip(parts)


def rezip(parts: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for n, data in parts.items():
            z.writestr(n, data)
    return buf.getvalue()


def read_part(data: bytes, name: str) -> bytes:
    return zipfile.ZipFile(io.BytesIO(data)).read(name)


def edit_xml(data: bytes, name: str, fn: Callable[[etree._Element], object]) -> bytes:
    """Edit one XML part with lxml and return the repackaged document."""
    zin = zipfile.ZipFile(io.BytesIO(data))
    parts = {n: zin.read(n) for n in zin.namelist()}
    root = etree.fromstring(parts[name])
    fn(root)
    parts[name] = etree.tostring(root, xml_declaration=True, encoding="UTF-8", standalone=True)
    return rezip(parts)


# -- tracked changes ------------------------------------------------------------------------


def accept_all(data: bytes) -> bytes:
    """Word's Accept All Changes (every part, every author); see tests/docx_review.py."""
    from tests import docx_review

    return docx_review.accept_all(data)


def reject_all(data: bytes) -> bytes:
    """Word's Reject All Changes (every part, every author); see tests/docx_review.py."""
    from tests import docx_review

    return docx_review.reject_all(data)


def revisions(data: bytes) -> list[tuple[str, str, str]]:
    """(kind, author, text) of every w:ins / w:del in the body."""
    root = etree.fromstring(read_part(data, "word/document.xml"))
    out = []
    for el in root.iter(q("ins"), q("del")):
        text = "".join(t.text or "" for t in el.iter(q("t"), q("delText")))
        out.append((etree.QName(el).localname, el.get(q("author"), ""), text))
    return out


def assert_valid(data: bytes) -> DocumentObject:
    """The package passes the merger's self-check and python-docx opens it."""
    from gitsync.merge.docx.limits import DEFAULT_LIMITS
    from gitsync.merge.docx.validate import validate_package

    validate_package(data, DEFAULT_LIMITS)
    return load(data)


def texts(data: bytes) -> list[str]:
    """Body paragraph texts as python-docx sees them (tracked insertions included)."""
    root = etree.fromstring(read_part(data, "word/document.xml"))
    body = root.find(q("body"))
    return ["".join(t.text or "" for t in p.iter(q("t"))) for p in body.iter(q("p"))]
