"""Conflicts in merged Word documents: tracked changes, comments, Accept/Reject results.

A true conflict keeps ours and shows theirs as tracked changes by the other device, so Accept
All gives theirs and Reject All gives ours. Every output (and its accepted and rejected forms)
is self-checked, opened with python-docx and converted by LibreOffice when its test ends.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import docx_builders as B
import pytest
from lxml import etree

from gitsync.merge.base import MergeResult
from gitsync.merge.docx import docx_text, merge_docx
from tests.libreoffice import MERGE_OUTPUTS, LibreOffice

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


# Every merge output of a test is converted by LibreOffice when the test ends.
pytestmark = pytest.mark.usefixtures("outputs_open_in_libreoffice")


def merge(base: bytes | None, ours: bytes, theirs: bytes) -> MergeResult:
    r = merge_docx(base, ours, theirs, ours_label="laptop", theirs_label="phone", now=NOW)
    B.assert_valid(r.data)
    MERGE_OUTPUTS.append(r.data)
    return r


def _conflict_case() -> tuple[bytes, bytes, bytes]:
    base = B.paras("Intro stays.", "The meeting is on Monday at noon.", "Outro stays.")
    ours = B.edit(base, B.replace_in(1, "Monday", "Tuesday"))
    theirs = B.edit(base, B.replace_in(1, "Monday", "Friday"))
    return base, ours, theirs


def test_true_conflict_becomes_tracked_change(lo: LibreOffice) -> None:
    base, ours, theirs = _conflict_case()
    r = merge(base, ours, theirs)
    assert r.conflicts_in_document
    assert len(r.conflicts) == 1
    c = r.conflicts[0]
    assert (c.base, c.ours, c.theirs) == ("Monday", "Tuesday", "Friday")
    assert c.where == "paragraph 2"
    revs = B.revisions(r.data)
    assert ("del", "phone", "Tuesday") in revs
    assert ("ins", "phone", "Friday") in revs
    root = etree.fromstring(B.read_part(r.data, "word/document.xml"))
    dates = {el.get(B.q("date")) for el in root.iter(B.q("ins"), B.q("del"))}
    assert dates == {"2026-01-02T03:04:05Z"}
    comments = B.read_part(r.data, "word/comments.xml").decode()
    assert "Monday" in comments
    accepted, rejected = B.accept_all(r.data), B.reject_all(r.data)
    B.assert_valid(accepted)
    B.assert_valid(rejected)
    assert docx_text(accepted) == docx_text(theirs)
    assert docx_text(rejected) == docx_text(ours)
    lo.add("conflict", r.data, "Intro stays.", "Outro stays.")
    lo.add("conflict_accepted", accepted, "Friday")
    lo.add("conflict_rejected", rejected, "Tuesday")


def test_delete_versus_edit_is_a_conflict() -> None:
    base = B.paras("Keep one.", "Disputed paragraph here.", "Keep two.")
    ours = B.edit(base, B.delete_para(1))
    theirs = B.edit(base, B.replace_in(1, "Disputed", "Edited"))
    r = merge(base, ours, theirs)
    assert r.conflicts_in_document and r.conflicts[0].kind == "delete/edit"
    assert docx_text(B.accept_all(r.data)) == docx_text(theirs)
    assert docx_text(B.reject_all(r.data)) == docx_text(ours)
    r2 = merge(base, theirs, ours)
    assert r2.conflicts[0].kind == "edit/delete"
    assert docx_text(B.accept_all(r2.data)) == docx_text(ours)
    assert docx_text(B.reject_all(r2.data)) == docx_text(theirs)


def test_different_insertions_at_same_place_conflict() -> None:
    base = B.paras("First.", "Last.")
    ours = B.edit(base, B.insert_before(1, "Ours in the middle."))
    theirs = B.edit(base, B.insert_before(1, "Theirs in the middle."))
    r = merge(base, ours, theirs)
    assert r.conflicts and r.conflicts[0].kind == "insert/insert"
    assert docx_text(B.accept_all(r.data)) == docx_text(theirs)
    assert docx_text(B.reject_all(r.data)) == docx_text(ours)


def test_existing_tracked_changes_are_not_nested() -> None:
    base, ours, theirs = _conflict_case()
    first = merge(base, ours, theirs).data
    # Ours now holds revisions; theirs edits the same paragraph again.
    again = B.edit(theirs, B.replace_in(1, "noon", "midnight"))
    r = merge(theirs, first, again)
    B.assert_valid(r.data)
    root = etree.fromstring(B.read_part(r.data, "word/document.xml"))
    for outer in root.iter(B.q("ins"), B.q("del")):
        assert not list(outer.iter(B.q("ins"), B.q("del")))[1:], "nested revisions"
    assert any("midnight" in t for t in B.texts(r.data))


def test_existing_tracked_changes_and_comments_kept(lo: LibreOffice) -> None:
    base, ours, theirs = _conflict_case()
    tracked = merge(base, ours, theirs).data  # holds w:ins/w:del and a comment
    later = B.edit(tracked, B.append_para("Later paragraph."))
    r = merge(tracked, tracked, B.edit(tracked, B.replace_in(0, "Intro", "INTRO")))
    r2 = merge(tracked, later, B.edit(tracked, B.replace_in(0, "Intro", "INTRO")))
    for out in (r.data, r2.data):
        assert B.revisions(out) == B.revisions(tracked)
        kept, before = (etree.tostring(etree.fromstring(B.read_part(x, "word/comments.xml")),
                                       method="c14n") for x in (out, tracked))
        assert kept == before
        assert B.texts(out)[0] == "INTRO stays."
    lo.add("kept_revisions", r2.data, "INTRO stays.", "Later paragraph.")


def test_table_grid_change_is_one_conflict() -> None:
    base = B.table([["a1", "b1"], ["a2", "b2"]])
    ours = B.edit(base, lambda d: d.tables[0].add_column(B.Inches(1)))
    theirs = B.edit(base, lambda d: setattr(d.tables[0].cell(0, 0), "text", "T"))
    r = merge(base, ours, theirs)
    assert [c.kind for c in r.conflicts] == ["table"]
    assert (r.conflicts[0].base, r.conflicts[0].theirs) == ("a1\tb1\na2\tb2", "T\tb1\na2\tb2")
    assert B.load(B.accept_all(r.data)).tables[-1].cell(0, 0).text == "T"
    rejected = B.load(B.reject_all(r.data))
    assert len(rejected.tables) == 1 and len(rejected.tables[0].columns) == 3


def test_header_conflict_tracked_without_comment(lo: LibreOffice) -> None:
    base = B.with_header("Quarterly report", "Footer", "Body.")

    def header(text: str):
        return lambda d: setattr(d.sections[0].header.paragraphs[0], "text", text)

    r = merge(base, B.edit(base, header("Annual report")), B.edit(base, header("Monthly report")))
    assert r.conflicts_in_document
    assert r.conflicts[0].where.startswith("word/header")
    names = B.zipfile.ZipFile(B.io.BytesIO(r.data)).namelist()
    header_part = next(n for n in names if n.startswith("word/header"))
    xml = B.read_part(r.data, header_part).decode()
    assert "Annual" in xml and "Monthly" in xml and "commentReference" not in xml
    lo.add("header_conflict", r.data, "Body.")


def test_conflicts_in_document_only_when_all_are_shown() -> None:
    base, ours, theirs = _conflict_case()

    def custom(text: str):
        return lambda root: root.set("marker", text)

    ours = B.edit_xml(ours, "customXml/item1.xml", custom("ours"))
    theirs = B.edit_xml(theirs, "customXml/item1.xml", custom("theirs"))
    r = merge(base, ours, theirs)
    assert {c.kind for c in r.conflicts} == {"content", "part"}
    assert B.revisions(r.data)  # the paragraph conflict is shown
    assert not r.conflicts_in_document  # but the part conflict is not: the engine keeps a copy


def test_deterministic_across_processes(tmp_path: Path) -> None:
    """Same inputs, same bytes, whatever the interpreter's hash seed."""
    base, ours, theirs = _conflict_case()
    theirs = B.edit(theirs, B.append_para("Theirs adds."))
    for name, data in (("b", base), ("o", ours), ("t", theirs)):
        (tmp_path / name).write_bytes(data)
    code = ("import hashlib, sys, pathlib; from gitsync.merge.docx import merge_docx; "
            "d = pathlib.Path(sys.argv[1]); r = merge_docx(*(d.joinpath(n).read_bytes() "
            "for n in 'bot'), ours_label='a', theirs_label='b'); "
            "print(hashlib.sha256(r.data).hexdigest())")
    digests = set()
    for seed in ("1", "2"):
        out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=True,
                             capture_output=True, text=True, timeout=60,
                             env={**os.environ, "PYTHONHASHSEED": seed})
        digests.add(out.stdout.strip())
    assert len(digests) == 1


def test_unknown_part_changed_on_both_sides_keeps_ours_and_reports() -> None:
    base = B.paras("Body.")

    def custom(text: str):
        def fn(root: etree._Element) -> None:
            root.set("marker", text)
        return fn

    ours = B.edit_xml(base, "customXml/item1.xml", custom("ours"))
    theirs = B.edit_xml(base, "customXml/item1.xml", custom("theirs"))
    r = merge(base, ours, theirs)
    assert [(c.where, c.kind) for c in r.conflicts] == [("customXml/item1.xml", "part")]
    assert not r.conflicts_in_document and r.notes
    assert B.read_part(r.data, "customXml/item1.xml") == B.read_part(ours, "customXml/item1.xml")


def test_settings_noise_ignored_but_real_setting_clash_reported() -> None:
    base = B.paras("Body.")

    def setting(tag: str, val: str):
        def fn(root: etree._Element) -> None:
            el = root.find(B.q(tag))
            if el is None:
                el = etree.SubElement(root, B.q(tag))
            el.set(B.q("val" if tag != "zoom" else "percent"), val)
        return fn

    r = merge(base, B.edit_xml(base, "word/settings.xml", setting("zoom", "120")),
              B.edit_xml(base, "word/settings.xml", setting("zoom", "80")))
    assert r.clean
    r = merge(base, B.edit_xml(base, "word/settings.xml", setting("defaultTabStop", "700")),
              B.edit_xml(base, "word/settings.xml", setting("defaultTabStop", "900")))
    assert [c.kind for c in r.conflicts] == ["part"]


def test_add_add_without_base(lo: LibreOffice) -> None:
    ours, theirs = B.paras("Shared.", "Ours only."), B.paras("Shared.", "Theirs only.")
    r = merge(None, ours, theirs)
    assert [c.kind for c in r.conflicts] == ["insert/insert"]
    assert docx_text(B.accept_all(r.data)) == docx_text(theirs)
    assert docx_text(B.reject_all(r.data)) == docx_text(ours)
    lo.add("add_add", r.data, "Shared.")


def test_deterministic_output() -> None:
    base, ours, theirs = _conflict_case()
    a = merge_docx(base, ours, theirs, ours_label="a", theirs_label="b")
    b = merge_docx(base, ours, theirs, ours_label="a", theirs_label="b")
    assert a.data == b.data
