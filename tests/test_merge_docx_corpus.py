"""Merges on real Word documents from the shared corpus (Open-Xml-PowerTools test files).

The true three-way sets are checked paragraph by paragraph; every before/after pair is merged
against a different scripted edit on the other side; every file merged with itself comes
back byte for byte. Each test's outputs are converted by LibreOffice when it ends.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import docx_builders as B
import pytest
from lxml import etree

from gitsync.merge.base import MergeResult
from gitsync.merge.docx import DocxError, docx_text, merge_docx
from tests import docx_review as R
from tests.libreoffice import LibreOffice

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
MARK = "ZQXAPPENDED"


def merge(base: bytes, ours: bytes, theirs: bytes) -> MergeResult:
    r = merge_docx(base, ours, theirs, ours_label="laptop", theirs_label="phone", now=NOW)
    B.assert_valid(r.data)
    R.check_conflicts(r.data, ours, theirs, "phone")
    return r


def lines(data: bytes) -> list[str]:
    return docx_text(data).splitlines()


THREE_WAY = {
    "RC001": ("RC001-Before", "RC001-After1", "RC001-After2",
              ["One", "Another Two1", "Three", "Four", "Another Five", "Six"]),
    "RC004": ("RC004-Before", "RC004-After1", "RC004-After2",
              ["One", "Two1", "Three", "Four", "Five", "Six", "Seven", "Eight", "NINE", "TEN"]),
}


@pytest.mark.parametrize("case", sorted(THREE_WAY))
def test_true_three_way_sets(corpus: Path, lo: LibreOffice, case: str) -> None:
    b, o, t, expected = THREE_WAY[case]
    pt = corpus / "powertools"
    r = merge(*(pt.joinpath(f"{n}.docx").read_bytes() for n in (b, o, t)))
    assert r.clean
    assert lines(r.data) == expected
    lo.add(f"three_way_{case}", r.data, *expected)


def test_twenty_paragraphs_three_way(corpus: Path, lo: LibreOffice) -> None:
    pt = corpus / "powertools"
    base, o, t = (pt.joinpath(f"WC027-Twenty-Paras-{n}.docx").read_bytes()
                  for n in ("Before", "After-1", "After-2"))
    r = merge(base, o, t)
    lb, lo_, lt, lm = lines(base), lines(o), lines(t), lines(r.data)
    # Every paragraph one side changed and the other left alone carries that side's text.
    changed_o = set(lo_) - set(lb)
    changed_t = set(lt) - set(lb)
    for line in changed_o ^ changed_t:
        if r.clean:
            assert line in lm
    # Paragraphs deleted by one side and untouched by the other are gone.
    for line in set(lb) - set(lo_) - set(lt):
        assert line not in lm
    if not r.conflicts:
        lo.add("twenty_paras", r.data, *sorted(changed_o | changed_t)[:5])
    else:
        assert r.conflicts_in_document
        assert [c.kind for c in r.conflicts] == ["delete/edit"]  # "Three": deleted vs THree
        assert "NIneteen" in lm and "19.5" in lm
        B.assert_valid(B.accept_all(r.data))
        B.assert_valid(B.reject_all(r.data))
        lo.add("twenty_paras", r.data)


def _pairs(corpus: Path) -> list[tuple[Path, Path]]:
    pt = corpus / "powertools"
    files = {p.stem: p for p in pt.glob("*.docx")}
    out = []
    for stem, path in sorted(files.items()):
        m = re.match(r"(.*?)(-?(After|Mod|Deleted|Delete)[-\w]*)$", stem)
        if not m:
            continue
        prefix = m.group(1)
        for cand in (f"{prefix}-Before", prefix, f"{prefix}-Unmodified"):
            if cand in files and cand != stem:
                out.append((files[cand], path))
                break
    return out


def _append(data: bytes) -> bytes:
    def fn(root: etree._Element) -> None:
        body = root.find(B.q("body"))
        p = etree.Element(B.q("p"))
        etree.SubElement(etree.SubElement(p, B.q("r")), B.q("t")).text = f"{MARK} by theirs."
        last = body[-1]
        if last.tag == B.q("sectPr"):
            last.addprevious(p)
        else:
            body.append(p)
    return B.edit_xml(data, "word/document.xml", fn)


def _prepend(data: bytes) -> bytes:
    def fn(root: etree._Element) -> None:
        body = root.find(B.q("body"))
        p = etree.Element(B.q("p"))
        etree.SubElement(etree.SubElement(p, B.q("r")), B.q("t")).text = f"{MARK} first."
        body.insert(0, p)
    return B.edit_xml(data, "word/document.xml", fn)


def test_before_after_pairs_against_scripted_edit(corpus: Path, lo: LibreOffice) -> None:
    pairs = _pairs(corpus)
    assert len(pairs) >= 60
    typed_errors = []
    for before, after in pairs:
        base, edited = before.read_bytes(), after.read_bytes()
        for side, other in (("append", _append(base)), ("prepend", _prepend(base))):
            try:
                r = merge(base, edited, other)
            except DocxError as e:  # only a typed error is acceptable, and it is counted
                typed_errors.append((after.name, side, str(e)))
                continue
            got = docx_text(r.data)
            assert MARK in got or r.conflicts_in_document, (after.name, side)
            for line in set(lines(edited)) - set(lines(base)):
                assert line in got or r.conflicts, (after.name, side, line)
            lo.add(f"pair_{after.stem}_{side}", r.data,
                   *([] if r.conflicts_in_document else [MARK]))
        # and the other way round: the scripted edit as ours
        r2 = merge(base, _append(base), edited)
        assert MARK in docx_text(r2.data) or r2.conflicts_in_document
        lo.add(f"pair_{after.stem}_reversed", r2.data,
               *([] if r2.conflicts_in_document else [MARK]))
    assert not typed_errors, typed_errors


def test_every_file_merged_with_itself_is_unchanged(corpus: Path) -> None:
    files = sorted((corpus / "powertools").glob("*.docx")) + sorted(
        (corpus / "python-docx").glob("*.docx"))
    assert files
    for f in files:
        data = f.read_bytes()
        try:
            assert merge_docx(data, data, data, ours_label="a", theirs_label="b").data == data
        except DocxError:
            pytest.fail(f"{f.name}: self-merge raised")
