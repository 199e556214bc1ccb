"""The normalised view of a document: a re-save by another editor is not an edit.

The "other editor" here is an lxml rewrite that does what LibreOffice does to a Word file
(tests/test_merge_docx_crosseditor.py runs the real LibreOffice): it names the default
style on every paragraph, writes out defaults, language tags and complex-script sizes,
splits runs, drops rsids, renumbers relationship ids and rewrites the section properties.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime

from docx_builders import (
    assert_valid,
    delete_para,
    edit,
    edit_xml,
    load,
    paras,
    q,
    read_part,
    replace_in,
    save,
    texts,
    with_image,
)
from lxml import etree

from gitsync.merge.docx import merge_docx
from gitsync.merge.docx.normal import Formatting

NOW = datetime(2026, 11, 30, 12, 0, 0, tzinfo=UTC)
W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"


def el(xml: str) -> etree._Element:
    return etree.fromstring(f'<root xmlns:w="{W}">{xml}</root>')[0]


def styles(xml: str = "") -> etree._Element:
    return etree.fromstring(
        f'<w:styles xmlns:w="{W}"><w:docDefaults><w:rPrDefault><w:rPr>'
        '<w:rFonts w:asciiTheme="minorHAnsi" w:hAnsiTheme="minorHAnsi"/><w:sz w:val="22"/>'
        '<w:lang w:val="en-US"/></w:rPr></w:rPrDefault><w:pPrDefault><w:pPr>'
        '<w:spacing w:after="160" w:line="259" w:lineRule="auto"/></w:pPr></w:pPrDefault>'
        '</w:docDefaults>'
        '<w:style w:type="paragraph" w:default="1" w:styleId="Normal"><w:name w:val="Normal"/>'
        '</w:style>'
        '<w:style w:type="paragraph" w:styleId="Heading1"><w:name w:val="heading 1"/>'
        '<w:basedOn w:val="Normal"/><w:pPr><w:keepNext/><w:outlineLvl w:val="0"/></w:pPr>'
        '<w:rPr><w:b/><w:sz w:val="32"/></w:rPr></w:style>'
        f'{xml}</w:styles>')


THEME = etree.fromstring(
    '<a:theme xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main"><a:themeElements>'
    '<a:fontScheme><a:majorFont><a:latin typeface="Calibri Light"/></a:majorFont>'
    '<a:minorFont><a:latin typeface="Calibri"/></a:minorFont></a:fontScheme>'
    '</a:themeElements></a:theme>')


def test_the_default_style_named_or_not_looks_the_same() -> None:
    fmt = Formatting.read(styles(), THEME)
    implicit = fmt.paragraph(None)[0]
    assert fmt.paragraph(el('<w:pPr><w:pStyle w:val="Normal"/></w:pPr>'))[0] == implicit
    # A style the document does not define falls back to the default, as Word shows it.
    assert fmt.paragraph(el('<w:pPr><w:pStyle w:val="Missing"/></w:pPr>'))[0] == implicit
    # Defaults written out, widow control, an empty mark: still the same look.
    spelled = el('<w:pPr><w:pStyle w:val="Normal"/><w:widowControl/><w:bidi w:val="0"/>'
                 '<w:spacing w:before="0" w:after="160" w:line="259" w:lineRule="auto"/>'
                 '<w:jc w:val="left"/><w:rPr/></w:pPr>')
    assert fmt.paragraph(spelled)[0] == implicit


def test_a_real_paragraph_change_is_seen() -> None:
    fmt = Formatting.read(styles(), THEME)
    plain = fmt.paragraph(None)[0]
    assert fmt.paragraph(el('<w:pPr><w:pStyle w:val="Heading1"/></w:pPr>'))[0] != plain
    assert fmt.paragraph(el('<w:pPr><w:jc w:val="center"/></w:pPr>'))[0] != plain
    assert fmt.paragraph(el('<w:pPr><w:spacing w:after="0"/></w:pPr>'))[0] != plain


def test_runs_compare_by_effective_formatting() -> None:
    fmt = Formatting.read(styles(), THEME)
    para_rp = fmt.paragraph(None)[1]
    plain = fmt.run(None, para_rp)
    # What LibreOffice writes on a plain run: the theme font by name, the default size,
    # a language tag, complex-script size, explicit "off" toggles.
    spelled = el('<w:rPr><w:rFonts w:ascii="Calibri" w:hAnsi="Calibri" w:cs="Arial"/>'
                 '<w:b w:val="false"/><w:i w:val="0"/><w:color w:val="auto"/>'
                 '<w:sz w:val="22"/><w:szCs w:val="22"/><w:lang w:val="de-DE"/></w:rPr>')
    assert fmt.run(spelled, para_rp) == plain
    assert fmt.run(el('<w:rPr><w:b/></w:rPr>'), para_rp) == fmt.run(
        el('<w:rPr><w:b w:val="true"/></w:rPr>'), para_rp)
    for changed in ('<w:rPr><w:b/></w:rPr>', '<w:rPr><w:sz w:val="28"/></w:rPr>',
                    '<w:rPr><w:color w:val="FF0000"/></w:rPr>',
                    '<w:rPr><w:rFonts w:ascii="Arial"/></w:rPr>'):
        assert fmt.run(el(changed), para_rp) != plain, changed
    # Inside a heading, bold and 16 pt come from the style: writing them out is no change.
    head_rp = fmt.paragraph(el('<w:pPr><w:pStyle w:val="Heading1"/></w:pPr>'))[1]
    assert fmt.run(el('<w:rPr><w:b/><w:sz w:val="32"/></w:rPr>'), head_rp) == fmt.run(
        None, head_rp)


def test_styles_are_matched_by_name_not_id() -> None:
    renamed = Formatting.read(styles(
        '<w:style w:type="paragraph" w:styleId="Berschrift1"><w:name w:val="Heading 1"/>'
        '<w:basedOn w:val="Normal"/><w:pPr><w:keepNext/><w:outlineLvl w:val="0"/></w:pPr>'
        '<w:rPr><w:b/><w:sz w:val="32"/></w:rPr></w:style>'), THEME)
    word = Formatting.read(styles(), THEME)
    assert (renamed.paragraph(el('<w:pPr><w:pStyle w:val="Berschrift1"/></w:pPr>'))[0]
            == word.paragraph(el('<w:pPr><w:pStyle w:val="Heading1"/></w:pPr>'))[0])


def test_section_properties_compare_semantically() -> None:
    fmt = Formatting()
    word = el('<w:sectPr w:rsidR="00AB"><w:pgSz w:w="12240" w:h="15840"/>'
              '<w:pgMar w:top="1440" w:right="1440" w:bottom="1440" w:left="1440" '
              'w:header="720" w:footer="720" w:gutter="0"/><w:cols w:space="720"/>'
              '<w:docGrid w:linePitch="360"/></w:sectPr>')
    libre = el('<w:sectPr><w:type w:val="nextPage"/><w:pgSz w:h="15840" w:w="12240" '
               'w:orient="portrait"/><w:pgMar w:left="1440" w:right="1440" w:gutter="0" '
               'w:header="0" w:top="1440" w:footer="0" w:bottom="1440"/>'
               '<w:pgNumType w:fmt="decimal"/><w:formProt w:val="false"/>'
               '<w:textDirection w:val="lrTb"/><w:docGrid w:type="default" '
               'w:linePitch="100" w:charSpace="0"/></w:sectPr>')
    assert fmt.section_key(word) == fmt.section_key(libre)
    landscape = copy.deepcopy(libre)
    landscape.find(q("pgSz")).set(q("orient"), "landscape")
    assert fmt.section_key(landscape) != fmt.section_key(word)


def _resave(data: bytes) -> bytes:
    """What LibreOffice does to a python-docx document, done with lxml."""
    def body(root: etree._Element) -> None:
        for p in root.iter(q("p")):
            for key in list(p.attrib):
                del p.attrib[key]  # no rsids
            ppr = p.find(q("pPr"))
            if ppr is None:
                ppr = etree.SubElement(p, q("pPr"))
                p.insert(0, ppr)
            if ppr.find(q("pStyle")) is None:
                ppr.insert(0, etree.fromstring(f'<w:pStyle xmlns:w="{W}" w:val="Normal"/>'))
            ppr.append(etree.fromstring(f'<w:widowControl xmlns:w="{W}"/>'))
            for r in list(p.iter(q("r"))):
                t = r.find(q("t"))
                rpr = r.find(q("rPr"))
                if rpr is None:
                    rpr = etree.Element(q("rPr"))
                    r.insert(0, rpr)
                rpr.append(etree.fromstring(f'<w:lang xmlns:w="{W}" w:val="en-GB"/>'))
                rpr.append(etree.fromstring(f'<w:szCs xmlns:w="{W}" w:val="22"/>'))
                if t is not None and t.text and " " in t.text:  # one run becomes two
                    head, _, tail = t.text.partition(" ")
                    t.text = head + " "
                    t.set("{http://www.w3.org/XML/1998/namespace}space", "preserve")
                    twin = copy.deepcopy(r)
                    twin.find(q("t")).text = tail
                    r.addnext(twin)
        sect = root.find(f"{q('body')}/{q('sectPr')}")
        if sect is not None:
            for key in list(sect.attrib):
                del sect.attrib[key]
            sect.insert(0, etree.fromstring(f'<w:type xmlns:w="{W}" w:val="nextPage"/>'))
            mar = sect.find(q("pgMar"))
            if mar is not None:
                mar.set(q("header"), "0")
                mar.set(q("footer"), "0")
    return edit_xml(data, "word/document.xml", body)


def test_a_libreoffice_style_resave_merges_with_a_word_edit() -> None:
    base = paras("Alpha paragraph one here.", "Beta paragraph two here.",
                 "Gamma paragraph three here.", "Delta paragraph four here.")
    libre = _resave(edit(base, replace_in(1, "two", "2")))
    word = edit(base, replace_in(3, "four", "4"))
    for ours, theirs in ((libre, word), (word, libre)):
        merged = merge_docx(base, ours, theirs, ours_label="laptop", theirs_label="desktop",
                            now=NOW)
        assert merged.conflicts == ()
        assert_valid(merged.data)
        assert texts(merged.data) == ["Alpha paragraph one here.", "Beta paragraph 2 here.",
                                      "Gamma paragraph three here.", "Delta paragraph 4 here."]
    # Untouched paragraphs keep ours' XML byte for byte: the Word side's when it is ours.
    merged = merge_docx(base, word, libre, ours_label="laptop", theirs_label="desktop", now=NOW)
    body = read_part(merged.data, "word/document.xml")
    assert read_part(word, "word/document.xml").split(b"<w:p>")[1] in body


def test_a_real_formatting_change_in_a_resave_is_kept() -> None:
    base = paras("Alpha paragraph one here.", "Beta paragraph two here.",
                 "Gamma paragraph three here.")

    def colour(root: etree._Element) -> None:
        r = list(root.iter(q("p")))[2].find(q("r"))
        rpr = etree.SubElement(r, q("rPr"))
        r.insert(0, rpr)
        etree.SubElement(rpr, q("color")).set(q("val"), "FF0000")

    libre = _resave(edit_xml(base, "word/document.xml", colour))
    word = edit(base, replace_in(0, "one", "1"))
    merged = merge_docx(base, word, libre, ours_label="laptop", theirs_label="desktop",
                        now=NOW)
    assert merged.conflicts == ()
    root = etree.fromstring(read_part(merged.data, "word/document.xml"))
    third = list(root.iter(q("p")))[2]
    assert third.find(f".//{q('color')}").get(q("val")) == "FF0000"
    assert texts(merged.data)[0] == "Alpha paragraph 1 here."


def test_a_renumbered_image_is_the_same_image() -> None:
    base = with_image("Alpha paragraph one here.", "Beta paragraph two here.",
                      "Gamma paragraph three here.")

    def renumber(data: bytes) -> bytes:
        rels = read_part(data, "word/_rels/document.xml.rels")
        rid = etree.fromstring(read_part(data, "word/document.xml")).find(
            ".//{http://schemas.openxmlformats.org/drawingml/2006/main}blip").get(
            "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}embed")
        data = edit_xml(data, "word/_rels/document.xml.rels",
                        lambda r: [x.set("Id", "rId99") for x in r if x.get("Id") == rid])
        assert rels != read_part(data, "word/_rels/document.xml.rels")
        return edit_xml(data, "word/document.xml", lambda r: [
            b.set("{http://schemas.openxmlformats.org/officeDocument/2006/relationships}embed",
                  "rId99")
            for b in r.iter("{http://schemas.openxmlformats.org/drawingml/2006/main}blip")])

    libre = renumber(edit(base, replace_in(0, "one", "1")))
    word = edit(base, delete_para(3))  # the picture's paragraph
    merged = merge_docx(base, libre, word, ours_label="laptop", theirs_label="desktop",
                        now=NOW)
    assert merged.conflicts == ()
    assert texts(merged.data) == ["Alpha paragraph 1 here.", "Beta paragraph two here.",
                                  "Gamma paragraph three here."]
    assert b"<w:drawing" not in read_part(merged.data, "word/document.xml")
    assert_valid(merged.data)


def _with_section_break(data: bytes, after: int) -> bytes:
    """Word's way: an empty paragraph holding the section break, after paragraph AFTER."""
    def fn(root: etree._Element) -> None:
        p = list(root.iter(q("p")))[after]
        brk = etree.fromstring(
            f'<w:p xmlns:w="{W}"><w:pPr><w:sectPr><w:pgSz w:w="12240" w:h="15840"/>'
            '<w:pgMar w:top="1440" w:right="1440" w:bottom="1440" w:left="1440" '
            'w:header="720" w:footer="720" w:gutter="0"/><w:type w:val="continuous"/>'
            '</w:sectPr></w:pPr></w:p>')
        p.addnext(brk)
    return edit_xml(data, "word/document.xml", fn)


def _libreoffice_moves_break(data: bytes) -> bytes:
    """LibreOffice's way: the break on the paragraph before, the empty paragraph gone."""
    def fn(root: etree._Element) -> None:
        for p in list(root.iter(q("p"))):
            sect = p.find(f"{q('pPr')}/{q('sectPr')}")
            if sect is not None and not p.findall(q("r")):
                prev = p.getprevious()
                ppr = prev.find(q("pPr"))
                if ppr is None:
                    ppr = etree.SubElement(prev, q("pPr"))
                    prev.insert(0, ppr)
                ppr.append(sect)
                p.getparent().remove(p)
    return edit_xml(data, "word/document.xml", fn)


def _breaks(data: bytes) -> list[int]:
    """Indexes of the body paragraphs holding a section break."""
    root = etree.fromstring(read_part(data, "word/document.xml"))
    body = root.find(q("body"))
    return [i for i, p in enumerate(body.findall(q("p")))
            if p.find(f"{q('pPr')}/{q('sectPr')}") is not None]


def test_a_section_break_moved_by_libreoffice_is_not_an_edit() -> None:
    base = _with_section_break(paras("Alpha paragraph one here.", "Beta paragraph two here.",
                                     "Gamma paragraph three here.", "Delta paragraph four."),
                               after=1)
    assert _breaks(base) == [2]
    libre = _libreoffice_moves_break(edit(base, replace_in(4, "four", "4")))
    assert _breaks(libre) == [1]
    word = edit(base, replace_in(1, "two", "2"))  # the paragraph before the break
    for ours, theirs in ((word, libre), (libre, word)):
        merged = merge_docx(base, ours, theirs, ours_label="laptop", theirs_label="desktop",
                            now=NOW)
        assert merged.conflicts == ()
        assert [t for t in texts(merged.data) if t] == [
            "Alpha paragraph one here.", "Beta paragraph 2 here.",
            "Gamma paragraph three here.", "Delta paragraph 4."]
        assert len(_breaks(merged.data)) == 1  # one break, where either editor put it
        assert_valid(merged.data)
    # Word's own edit merged with an untouched side: its XML is kept byte for byte.
    merged = merge_docx(base, word, edit(base, replace_in(4, "four", "4")),
                        ours_label="laptop", theirs_label="desktop", now=NOW)
    assert _breaks(merged.data) == [2]
    assert read_part(word, "word/document.xml").split(b"<w:body>")[1].split(
        b"Gamma")[0] in read_part(merged.data, "word/document.xml")


def test_a_style_edited_on_one_side_is_not_an_edit_of_its_paragraphs() -> None:
    """One device makes Heading 1 red (an edit of the style); the other rewords the heading:
    the merge has both, as it did before formatting was compared by its effect."""
    d = load(paras("Body text before the heading."))
    d.add_heading("Quarterly planning notes", level=1)
    d.add_paragraph("Body text after the heading.")
    base = save(d)

    def red(root: etree._Element) -> None:
        for st in root.iter(q("style")):
            if st.get(q("styleId")) == "Heading1":
                rpr = st.find(q("rPr"))
                color = rpr.find(q("color"))
                if color is None:
                    color = etree.SubElement(rpr, q("color"))
                color.set(q("val"), "FF0000")

    styled = edit_xml(base, "word/styles.xml", red)
    reworded = edit(base, replace_in(1, "planning", "budget"))
    for ours, theirs in ((styled, reworded), (reworded, styled)):
        merged = merge_docx(base, ours, theirs, ours_label="laptop", theirs_label="desktop",
                            now=NOW)
        assert merged.conflicts == ()
        assert texts(merged.data)[1] == "Quarterly budget notes"
        assert b'w:val="FF0000"' in read_part(merged.data, "word/styles.xml")


def test_one_paragraph_edited_by_both_editors_merges_word_by_word() -> None:
    """LibreOffice re-encodes the runs of a paragraph whose first words it changed; Word
    changed its last words: both edits, no conflict."""
    base = paras("Alpha paragraph one here.", "Beta paragraph two has several words in it.",
                 "Gamma paragraph three here.")
    libre = _resave(edit(base, replace_in(1, "Beta", "Bravo")))
    word = edit(base, replace_in(1, "in it", "inside"))
    for ours, theirs in ((libre, word), (word, libre)):
        merged = merge_docx(base, ours, theirs, ours_label="laptop", theirs_label="desktop",
                            now=NOW)
        assert merged.conflicts == ()
        assert texts(merged.data)[1] == "Bravo paragraph two has several words inside."
        assert_valid(merged.data)
