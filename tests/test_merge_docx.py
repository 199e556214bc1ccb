"""Three-way merge of generated Word documents: each kind of content, and identities.

Every merge output here is self-checked, opened with python-docx, and converted by
LibreOffice at the end of the test that made it; the text must hold both sides' edits.
"""

from __future__ import annotations

import io
import zipfile
import zlib
from datetime import UTC, datetime

import docx_builders as B
import pytest
from lxml import etree

from gitsync.merge.base import MergeResult
from gitsync.merge.docx import DocxMerger, merge_docx
from tests import docx_review as R
from tests.libreoffice import MERGE_OUTPUTS, LibreOffice

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


# Every merge output of a test is converted by LibreOffice when the test ends.
pytestmark = pytest.mark.usefixtures("outputs_open_in_libreoffice")


def merge(base: bytes | None, ours: bytes, theirs: bytes) -> MergeResult:
    r = merge_docx(base, ours, theirs, ours_label="laptop", theirs_label="phone", now=NOW)
    B.assert_valid(r.data)
    R.check_conflicts(r.data, ours, theirs, "phone")
    MERGE_OUTPUTS.append(r.data)
    return r


def test_different_paragraphs_both_survive(lo: LibreOffice) -> None:
    base = B.numbered(8)
    ours = B.edit(base, B.replace_in(2, "lorem", "OURSWORD"))
    theirs = B.edit(base, B.replace_in(6, "dolor", "THEIRSWORD"))
    r = merge(base, ours, theirs)
    assert r.clean and not r.conflicts_in_document
    t = B.texts(r.data)
    assert "OURSWORD" in t[2] and "THEIRSWORD" in t[6]
    lo.add("different_paragraphs", r.data, "OURSWORD", "THEIRSWORD")


def test_neighbouring_paragraphs_are_not_a_conflict(lo: LibreOffice) -> None:
    base = B.numbered(5)
    ours = B.edit(base, B.set_para(2, "Ours rewrote paragraph two entirely."))
    theirs = B.edit(base, B.set_para(3, "Theirs rewrote paragraph three entirely."))
    r = merge(base, ours, theirs)
    assert r.clean
    t = B.texts(r.data)
    assert t[2] == "Ours rewrote paragraph two entirely."
    assert t[3] == "Theirs rewrote paragraph three entirely."
    assert len(t) == 5
    lo.add("neighbours", r.data, "Ours rewrote", "Theirs rewrote")


def test_inserts_deletes_and_edits_combine(lo: LibreOffice) -> None:
    base = B.numbered(10)
    ours = B.edit(B.edit(base, B.insert_before(3, "Inserted by ours.")), B.delete_para(8))
    theirs = B.edit(B.edit(base, B.append_para("Appended by theirs.")),
                    B.replace_in(5, "amet", "AMET"))
    r = merge(base, ours, theirs)
    assert r.clean
    t = B.texts(r.data)
    assert t[3] == "Inserted by ours."
    assert t[-1] == "Appended by theirs."
    assert not any(x.startswith("Paragraph 7:") for x in t)
    assert any("AMET" in x for x in t)
    assert len(t) == 11
    lo.add("insert_delete_edit", r.data, "Inserted by ours.", "Appended by theirs.", "AMET")


@pytest.mark.parametrize("n", [40, 300])
def test_find_and_replace_on_both_sides(n: int) -> None:
    """Every paragraph edited on both sides (small and large clashing stretches)."""
    base = [f"Item {i} alpha beta gamma delta" for i in range(n)]
    ours = [p.replace("alpha", "ALPHA") for p in base]
    theirs = [p.replace("delta", "DELTA") for p in base]
    theirs.insert(n // 2, "Inserted by theirs.")
    r = merge(B.paras(*base), B.paras(*ours), B.paras(*theirs))
    assert r.clean
    expected = [p.replace("alpha", "ALPHA").replace("delta", "DELTA") for p in base]
    expected.insert(n // 2, "Inserted by theirs.")
    assert B.texts(r.data) == expected


def test_same_paragraph_different_words_merge(lo: LibreOffice) -> None:
    base = B.paras("The quick brown fox jumps over the lazy dog.", "Second.")
    ours = B.edit(base, B.replace_in(0, "quick", "swift"))
    theirs = B.edit(base, B.replace_in(0, "lazy", "sleepy"))
    r = merge(base, ours, theirs)
    assert r.clean
    assert B.texts(r.data)[0] == "The swift brown fox jumps over the sleepy dog."
    lo.add("same_paragraph_words", r.data, "The swift brown fox jumps over the sleepy dog.")


def test_word_merge_keeps_run_formatting() -> None:
    base = B.formatted(("Plain start ", ""), ("bold middle", "b"), (" italic end", "i"))
    ours = B.edit(base, lambda d: setattr(d.paragraphs[0].runs[0], "text", "Plain begin "))
    theirs = B.edit(base, lambda d: setattr(d.paragraphs[0].runs[2], "text", " italic finish"))
    r = merge(base, ours, theirs)
    assert r.clean
    p = B.load(r.data).paragraphs[0]
    assert p.text == "Plain begin bold middle italic finish"
    by_fmt = {(bool(run.bold), bool(run.italic)): run.text for run in p.runs}
    assert "bold middle" in by_fmt[(True, False)]
    assert "italic finish" in by_fmt[(False, True)]


def test_character_level_when_both_insert_in_one_word() -> None:
    base = B.paras("colour")
    r = merge(base, B.paras("colours"), B.paras("Xcolour"))
    assert r.clean
    assert B.texts(r.data)[0] == "Xcolours"


def test_edit_follows_a_paragraph_the_other_side_moved(lo: LibreOffice) -> None:
    base = B.paras("Alpha one.", "Beta two.", "Gamma three.", "Delta four.")

    def move_first_to_end(d):
        p = d.paragraphs[0]._p
        body = p.getparent()
        body.remove(p)
        d.paragraphs[-1]._p.addnext(p)

    ours = B.edit(base, move_first_to_end)
    theirs = B.edit(base, B.replace_in(0, "one", "ONE"))
    r = merge(base, ours, theirs)
    assert r.clean
    assert B.texts(r.data) == ["Beta two.", "Gamma three.", "Delta four.", "Alpha ONE."]
    r2 = merge(base, theirs, ours)
    assert r2.clean and B.texts(r2.data) == B.texts(r.data)
    lo.add("moved", r.data, "Alpha ONE.")


def test_same_insertion_on_both_sides_once() -> None:
    base = B.paras("First.", "Last.")
    both = B.edit(base, B.insert_before(1, "Same middle."))
    r = merge(base, both, B.edit(base, B.insert_before(1, "Same middle.")))
    assert r.clean and B.texts(r.data) == ["First.", "Same middle.", "Last."]


def _sdt_doc(*texts: str) -> bytes:
    """A document whose body holds one block content control with the given paragraphs."""
    def fn(root: etree._Element) -> None:
        body = root.find(B.q("body"))
        sdt = etree.Element(B.q("sdt"))
        etree.SubElement(etree.SubElement(sdt, B.q("sdtPr")), B.q("alias"), {B.q("val"): "Box"})
        content = etree.SubElement(sdt, B.q("sdtContent"))
        for t in texts:
            p = etree.SubElement(content, B.q("p"))
            etree.SubElement(etree.SubElement(p, B.q("r")), B.q("t")).text = t
        body.insert(0, sdt)
    return B.edit_xml(B.paras("After the box."), "word/document.xml", fn)


def test_content_control_merges_inside(lo: LibreOffice) -> None:
    base = _sdt_doc("Box one.", "Box two.", "Box three.")
    ours = _sdt_doc("Box ONE.", "Box two.", "Box three.")
    theirs = _sdt_doc("Box one.", "Box two.", "Box THREE.")
    r = merge(base, ours, theirs)
    assert r.clean
    assert B.texts(r.data)[:3] == ["Box ONE.", "Box two.", "Box THREE."]
    lo.add("sdt", r.data, "Box ONE.", "Box THREE.")


def test_table_cells_merge(lo: LibreOffice) -> None:
    base = B.table([["a1", "b1"], ["a2", "b2"], ["a3", "b3"]])

    def cell(i: int, j: int, text: str):
        return lambda d: setattr(d.tables[0].cell(i, j), "text", text)

    ours = B.edit(base, cell(0, 1, "OURS-B1"))
    theirs = B.edit(B.edit(base, cell(2, 0, "THEIRS-A3")), lambda d: d.tables[0].add_row())
    r = merge(base, ours, theirs)
    assert r.clean
    t = B.load(r.data).tables[0]
    assert t.cell(0, 1).text == "OURS-B1" and t.cell(2, 0).text == "THEIRS-A3"
    assert len(t.rows) == 4
    lo.add("table", r.data, "OURS-B1", "THEIRS-A3")


def test_lists_merge(lo: LibreOffice) -> None:
    base = B.bullet_list("apples", "pears", "plums")
    ours = B.edit(base, B.insert_before(2, "OURS-cherries", "List Bullet"))
    theirs = B.edit(base, B.replace_in(3, "plums", "THEIRS-figs"))
    r = merge(base, ours, theirs)
    assert r.clean
    d = B.load(r.data)
    assert [p.text for p in d.paragraphs] == ["A list:", "apples", "OURS-cherries", "pears",
                                              "THEIRS-figs"]
    assert all(p.style.name == "List Bullet" for p in d.paragraphs[1:])
    lo.add("lists", r.data, "OURS-cherries", "THEIRS-figs")


def _add_list(data: bytes, num_id: str, fmt: str, text: str, at_start: bool = False) -> bytes:
    """Add a numbering definition (abstractNum 10 / num ``num_id``) and a paragraph using it."""
    def numbering(root: etree._Element) -> None:
        a = etree.Element(B.q("abstractNum"), {B.q("abstractNumId"): "10"})
        lvl = etree.SubElement(a, B.q("lvl"), {B.q("ilvl"): "0"})
        etree.SubElement(lvl, B.q("numFmt"), {B.q("val"): fmt})
        etree.SubElement(lvl, B.q("lvlText"), {B.q("val"): "%1."})
        first_num = root.find(B.q("num"))
        if first_num is not None:
            first_num.addprevious(a)
        else:
            root.append(a)
        n = etree.SubElement(root, B.q("num"), {B.q("numId"): num_id})
        etree.SubElement(n, B.q("abstractNumId"), {B.q("val"): "10"})

    def document(root: etree._Element) -> None:
        body = root.find(B.q("body"))
        p = etree.Element(B.q("p"))
        numpr = etree.SubElement(etree.SubElement(p, B.q("pPr")), B.q("numPr"))
        etree.SubElement(numpr, B.q("ilvl"), {B.q("val"): "0"})
        etree.SubElement(numpr, B.q("numId"), {B.q("val"): num_id})
        etree.SubElement(etree.SubElement(p, B.q("r")), B.q("t")).text = text
        if at_start:
            body.insert(0, p)
        else:
            body[-1].addprevious(p)

    return B.edit_xml(B.edit_xml(data, "word/numbering.xml", numbering), "word/document.xml",
                      document)


def test_numbering_added_on_both_sides_renumbered(lo: LibreOffice) -> None:
    base = B.paras("Intro.")
    ours = _add_list(base, "50", "decimal", "Ours numbered item", at_start=True)
    theirs = _add_list(B.edit(base, B.append_para("Theirs last.")), "50", "upperRoman",
                       "Theirs numbered item")
    r = merge(base, ours, theirs)
    numbering = etree.fromstring(B.read_part(r.data, "word/numbering.xml"))
    abstract = [a.get(B.q("abstractNumId")) for a in numbering.iter(B.q("abstractNum"))]
    nums = {n.get(B.q("numId")): n.find(B.q("abstractNumId")).get(B.q("val"))
            for n in numbering.iter(B.q("num"))}
    assert len(abstract) == len(set(abstract))
    fmts = {a.get(B.q("abstractNumId")): a.find(".//w:numFmt", B.NS).get(B.q("val"))
            for a in numbering.iter(B.q("abstractNum"))}
    doc = etree.fromstring(B.read_part(r.data, "word/document.xml"))
    used = {"".join(t.text for t in p.iter(B.q("t"))):
            p.find(".//w:numId", B.NS).get(B.q("val"))
            for p in doc.iter(B.q("p")) if p.find(".//w:numId", B.NS) is not None}
    assert fmts[nums[used["Ours numbered item"]]] == "decimal"
    assert fmts[nums[used["Theirs numbered item"]]] == "upperRoman"
    assert r.clean
    lo.add("numbering", r.data, "Theirs last.", "Ours numbered item", "Theirs numbered item")


def test_headers_and_footers_merge(lo: LibreOffice) -> None:
    base = B.with_header("Header text", "Footer text", "Body.")

    def header(text: str):
        return lambda d: setattr(d.sections[0].header.paragraphs[0], "text", text)

    ours = B.edit(B.edit(base, header("OURS header")), B.append_para("OURS body"))
    theirs = B.edit(base, lambda d: setattr(d.sections[0].footer.paragraphs[0], "text",
                                            "THEIRS footer"))
    r = merge(base, ours, theirs)
    assert r.clean
    d = B.load(r.data)
    assert d.sections[0].header.paragraphs[0].text == "OURS header"
    assert d.sections[0].footer.paragraphs[0].text == "THEIRS footer"
    lo.add("headers", r.data, "OURS body")


def test_header_both_edited_merges_by_paragraph() -> None:
    base = B.with_header("Header words here", "Footer", "Body.")

    def header(old: str, new: str):
        def fn(d):
            p = d.sections[0].header.paragraphs[0]
            p.text = p.text.replace(old, new)
        return fn

    r = merge(base, B.edit(base, header("Header", "HEAD")), B.edit(base, header("here", "HERE")))
    assert r.clean
    assert B.load(r.data).sections[0].header.paragraphs[0].text == "HEAD words HERE"


def test_footnotes_from_both_sides_kept(lo: LibreOffice) -> None:
    base = B.add_footnotes(B.paras("Alpha.", "Beta.", "Gamma."), {0: "Note on alpha."})
    ours = B.edit_xml(base, "word/footnotes.xml", lambda r: _set_note(r, "1", "OURS note."))
    theirs = B.edit(base, B.append_para("THEIRS appended."))
    r = merge(base, ours, theirs)
    assert r.clean
    assert b"OURS note." in B.read_part(r.data, "word/footnotes.xml")
    assert "THEIRS appended." in B.texts(r.data)
    lo.add("footnotes", r.data, "THEIRS appended.")


def test_footnotes_added_on_both_sides_get_distinct_ids() -> None:
    base = B.paras("Alpha.", "Beta.", "Gamma.")
    ours = B.add_footnotes(base, {0: "Ours note."})
    theirs = B.add_footnotes(base, {2: "Theirs note."})
    r = merge(base, ours, theirs)
    B.assert_valid(r.data)
    notes = etree.fromstring(B.read_part(r.data, "word/footnotes.xml"))
    ids = [n.get(B.q("id")) for n in notes.iter(B.q("footnote"))]
    assert len(ids) == len(set(ids))
    text = etree.tostring(notes).decode()
    assert "Ours note." in text and "Theirs note." in text
    doc = etree.fromstring(B.read_part(r.data, "word/document.xml"))
    refs = [el.get(B.q("id")) for el in doc.iter(B.q("footnoteReference"))]
    assert len(refs) == 2 and len(set(refs)) == 2


def test_footnote_deleted_by_one_side_kept_while_referenced() -> None:
    base = B.add_footnotes(B.paras("Alpha here.", "Beta."), {0: "Note on alpha."})

    def drop_note(data: bytes) -> bytes:
        def notes(root: etree._Element) -> None:
            for n in list(root.iter(B.q("footnote"))):
                if n.get(B.q("id")) == "1":
                    root.remove(n)

        def refs(root: etree._Element) -> None:
            for r in list(root.iter(B.q("footnoteReference"))):
                run = r.getparent()
                run.getparent().remove(run)
        return B.edit_xml(B.edit_xml(data, "word/footnotes.xml", notes), "word/document.xml",
                          refs)

    ours = B.edit(base, B.replace_in(0, "Alpha", "ALPHA"))  # keeps the reference
    theirs = B.edit(drop_note(base), B.delete_para(0))
    r = merge(base, ours, theirs)
    assert [c.kind for c in r.conflicts] == ["edit/delete"]
    assert b"Note on alpha." in B.read_part(r.data, "word/footnotes.xml")


def _set_note(root: etree._Element, nid: str, text: str) -> None:
    for n in root.iter(B.q("footnote")):
        if n.get(B.q("id")) == nid:
            next(n.iter(B.q("t"))).text = text


def test_comments_kept_and_merged(lo: LibreOffice) -> None:
    base = B.with_comment("Commented text.", "Base comment", "Second para.")
    ours = B.edit(base, B.append_para("OURS para."))
    theirs = B.edit(base, lambda d: d.add_comment(d.paragraphs[1].runs[0], text="THEIRS note",
                                                  author="T"))
    r = merge(base, ours, theirs)
    assert r.clean
    comments = B.read_part(r.data, "word/comments.xml").decode()
    assert "Base comment" in comments and "THEIRS note" in comments
    d = B.load(r.data)
    assert {c.text for c in d.comments} == {"Base comment", "THEIRS note"}
    lo.add("comments", r.data, "OURS para.", "Commented text.")


def test_comments_added_on_both_sides_renumbered() -> None:
    base = B.paras("One.", "Two.")
    ours = B.edit(base, lambda d: d.add_comment(d.paragraphs[0].runs[0], text="Ours c"))
    theirs = B.edit(base, lambda d: d.add_comment(d.paragraphs[1].runs[0], text="Theirs c"))
    r = merge(base, ours, theirs)
    d = B.load(r.data)
    assert sorted(c.text for c in d.comments) == ["Ours c", "Theirs c"]


def test_images_from_both_sides_kept_with_renamed_clash(lo: LibreOffice) -> None:
    base = B.paras("Text only.")
    ours = B.edit(base, lambda d: d.add_picture(B.io.BytesIO(B.png((255, 0, 0)))))
    theirs = B.edit(base, lambda d: d.add_picture(B.io.BytesIO(B.png((0, 0, 255)))))
    r = merge(base, ours, theirs)
    B.assert_valid(r.data)
    media = [n for n in B.zipfile.ZipFile(B.io.BytesIO(r.data)).namelist() if "media/" in n]
    images = {B.read_part(r.data, n) for n in media}
    assert B.png((255, 0, 0)) in images and B.png((0, 0, 255)) in images
    accepted = B.accept_all(r.data)
    B.assert_valid(accepted)
    lo.add("images", r.data, "Text only.")


def test_image_added_by_one_side(lo: LibreOffice) -> None:
    base = B.paras("Alpha.", "Beta.")
    ours = B.edit(base, lambda d: d.add_picture(B.io.BytesIO(B.png((0, 255, 0)))))
    theirs = B.edit(base, B.replace_in(0, "Alpha", "THEIRS-alpha"))
    r = merge(base, ours, theirs)
    assert r.clean
    assert len(B.load(r.data).inline_shapes) == 1
    lo.add("image_one_side", r.data, "THEIRS-alpha")


def _hyperlink(i: int, url: str, text: str):
    """Edit (python-docx): append a hyperlink to paragraph i; python-docx numbers the rId."""
    def fn(d):
        rid = d.part.relate_to(url, "http://schemas.openxmlformats.org/officeDocument/2006/"
                                    "relationships/hyperlink", is_external=True)
        link = etree.SubElement(d.paragraphs[i]._p, B.q("hyperlink"),
                                {"{http://schemas.openxmlformats.org/officeDocument/2006/"
                                 "relationships}id": rid})
        etree.SubElement(etree.SubElement(link, B.q("r")), B.q("t")).text = text
    return fn


def test_hyperlinks_added_on_both_sides_get_distinct_ids(lo: LibreOffice) -> None:
    base = B.paras("First.", "Second.", "Third.")
    ours = B.edit(base, _hyperlink(0, "https://ours.example/", " ours-link"))
    theirs = B.edit(base, _hyperlink(2, "https://theirs.example/", " theirs-link"))
    r = merge(base, ours, theirs)
    assert r.clean
    d = B.load(r.data)
    targets = {}
    for p in d.paragraphs:
        for link in p._p.iter(B.q("hyperlink")):
            rid = link.get("{http://schemas.openxmlformats.org/officeDocument/2006/"
                           "relationships}id")
            targets["".join(t.text for t in link.iter(B.q("t")))] = d.part.rels[rid].target_ref
    assert targets == {" ours-link": "https://ours.example/",
                       " theirs-link": "https://theirs.example/"}
    lo.add("hyperlinks", r.data, "ours-link", "theirs-link")


def test_styles_added_on_both_sides_union(lo: LibreOffice) -> None:
    base = B.paras("Plain.")

    def styled(name: str):
        def fn(d):
            st = d.styles.add_style(name, 1)
            st.font.italic = True
            d.add_paragraph(f"{name} text", style=st)
        return fn

    r = merge(base, B.edit(base, styled("OursStyle")), B.edit(base, styled("TheirsStyle")))
    names = {s.name for s in B.load(r.data).styles}
    assert {"OursStyle", "TheirsStyle"} <= names
    lo.add("styles", r.data, "Plain.")


def _bookmark(i: int, name: str):
    """Edit: wrap paragraph i's runs in a bookmark with id 1 (as each side numbers its own)."""
    def fn(root: etree._Element) -> None:
        p = root.findall(".//w:body/w:p", B.NS)[i]
        p.insert(0, etree.Element(B.q("bookmarkStart"), {B.q("id"): "1", B.q("name"): name}))
        p.append(etree.Element(B.q("bookmarkEnd"), {B.q("id"): "1"}))
    return fn


def test_bookmarks_added_on_both_sides_stay_unique() -> None:
    base = B.paras("First.", "Second.", "Third.")
    ours = B.edit_xml(base, "word/document.xml", _bookmark(0, "ours_mark"))
    theirs = B.edit_xml(base, "word/document.xml", _bookmark(2, "theirs_mark"))
    r = merge(base, ours, theirs)
    assert r.clean
    doc = etree.fromstring(B.read_part(r.data, "word/document.xml"))
    starts = {b.get(B.q("name")): b.get(B.q("id")) for b in doc.iter(B.q("bookmarkStart"))}
    ends = [e.get(B.q("id")) for e in doc.iter(B.q("bookmarkEnd"))]
    assert set(starts) == {"ours_mark", "theirs_mark"}
    assert len(set(starts.values())) == 2 and sorted(ends) == sorted(starts.values())


def test_identities_are_byte_exact() -> None:
    base = B.numbered(4)
    other = B.edit(base, B.append_para("x"))
    assert merge(base, base, base).data == base
    assert merge(base, base, other).data == other
    assert merge(base, other, base).data == other
    assert merge(base, other, other).data == other


def test_unchanged_parts_keep_their_compressed_data() -> None:
    # Parts copied from ours are written with ours' compressed bytes, not deflated again;
    # a part ours stored with another method (bzip2 here) is deflated like a new one.
    base = B.numbered(4)
    zin = zipfile.ZipFile(io.BytesIO(base))
    parts = {n: zin.read(n) for n in zin.namelist()}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for n, data in parts.items():
            z.writestr(n, data, zipfile.ZIP_BZIP2 if n == "word/settings.xml"
                       else zipfile.ZIP_DEFLATED, compresslevel=1)
    ours = buf.getvalue()
    theirs = B.edit(base, B.set_para(2, "Theirs changed this."))
    out = merge(base, ours, theirs).data
    zo, zm = zipfile.ZipFile(io.BytesIO(ours)), zipfile.ZipFile(io.BytesIO(out))
    assert zm.testzip() is None
    assert {n: zm.read(n) for n in zm.namelist()} == {
        **parts, "word/document.xml": zm.read("word/document.xml")}
    styles_o, styles_m = zo.getinfo("word/styles.xml"), zm.getinfo("word/styles.xml")
    assert styles_m.compress_size == styles_o.compress_size  # level 1, as ours had it
    assert styles_m.compress_size > len(zlib_deflate(parts["word/styles.xml"]))
    assert zm.getinfo("word/settings.xml").compress_type == zipfile.ZIP_DEFLATED
    assert B.texts(out)[2] == "Theirs changed this."


def zlib_deflate(data: bytes) -> bytes:
    c = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush()


def test_untouched_paragraphs_serialize_as_they_were() -> None:
    base = B.numbered(6)
    ours = B.edit(base, B.replace_in(1, "lorem", "L1"))
    theirs = B.edit(base, B.replace_in(4, "lorem", "L4"))
    r = merge(base, ours, theirs)
    src = etree.fromstring(B.read_part(ours, "word/document.xml")).find(B.q("body"))
    out = etree.fromstring(B.read_part(r.data, "word/document.xml")).find(B.q("body"))
    for i in (0, 2, 3, 5):
        assert etree.tostring(out[i]) == etree.tostring(src[i])


def test_noise_is_not_an_edit() -> None:
    base = B.paras("Alpha beta gamma.", "Delta.")

    def noisy(root: etree._Element) -> None:
        p = root.find(".//w:body/w:p", B.NS)
        p.set(B.q("rsidR"), "00AB12CD")
        r = p.find(B.q("r"))
        t = r.find(B.q("t"))
        # Split the run in two identical-format runs, add proofing marks and _GoBack.
        r2 = etree.Element(B.q("r"))
        t2 = etree.SubElement(r2, B.q("t"))
        t.text, t2.text = "Alpha be", "ta gamma."
        r.addnext(r2)
        r.addprevious(etree.Element(B.q("proofErr"), {B.q("type"): "spellStart"}))
        r2.addnext(etree.Element(B.q("bookmarkStart"), {B.q("id"): "0", B.q("name"): "_GoBack"}))
        p.append(etree.Element(B.q("bookmarkEnd"), {B.q("id"): "0"}))

    ours = B.edit_xml(base, "word/document.xml", noisy)
    theirs = B.edit(base, B.replace_in(0, "gamma", "GAMMA"))
    r = merge(base, ours, theirs)
    assert r.clean
    assert B.texts(r.data)[0] == "Alpha beta GAMMA."


def test_merger_protocol() -> None:
    m = DocxMerger()
    base = B.paras("On Monday.")
    ours, theirs = B.paras("On Tuesday."), B.paras("On Friday.")
    assert m.name == "docx"
    assert m.accepts("Report.DOCX", None, b"", b"")
    assert m.accepts("noext", base, ours, theirs)
    assert not m.accepts("notes.txt", b"a", b"b", b"c")
    r = m.merge(base, ours, theirs, ours_label="laptop", theirs_label="phone", path="r.docx")
    assert r.conflicts_in_document
