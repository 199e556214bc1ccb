"""Conflicts in merged Word documents: tracked changes, comments, Accept/Reject results.

A true conflict keeps ours and shows theirs as tracked changes by the other device, so Accept
All gives theirs and Reject All gives ours. Every output (and its accepted and rejected forms)
is self-checked, opened with python-docx and converted by LibreOffice when its test ends.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import docx_builders as B
import pytest
from docx.document import Document as DocumentObject
from docx.shared import Pt, RGBColor
from docx.text.paragraph import Paragraph
from docx.text.run import Run
from lxml import etree

from gitsync.merge.base import MergeResult
from gitsync.merge.docx import docx_text, merge_docx
from gitsync.merge.registry import default_registry
from tests import docx_review as R
from tests.helpers import run_proc
from tests.libreoffice import MERGE_OUTPUTS, LibreOffice
from tests.sync_helpers import conflicts_json, make_net, sync

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


# Every merge output of a test is converted by LibreOffice when the test ends.
pytestmark = pytest.mark.usefixtures("outputs_open_in_libreoffice")


def merge(base: bytes | None, ours: bytes, theirs: bytes) -> MergeResult:
    r = merge_docx(base, ours, theirs, ours_label="laptop", theirs_label="phone", now=NOW)
    B.assert_valid(r.data)
    R.check_conflicts(r.data, ours, theirs, "phone")
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


# -- a clash and the changes beside it are one conflict ----------------------------------------

#: (base, ours, theirs, the one conflict's (base, ours, theirs)).
JOINED = {
    "issue": ("We will hire two engineers this year.", "We will hire a designer this year.",
              "We will hire three engineers this year.",
              ("two engineers", "a designer", "three engineers")),
    "reversed": ("We will hire two engineers this year.",
                 "We will hire three engineers this year.", "We will hire a designer this year.",
                 ("two engineers", "three engineers", "a designer")),
    "theirs-beside": ("We will hire two engineers this year.",
                      "We will hire four engineers this year.",
                      "We will hire three designers this year.",
                      ("two engineers", "four engineers", "three designers")),
    "punctuation": ("Ship it: Monday, noon, room 4.", "Ship it: Tuesday, 9am, room 4.",
                    "Ship it: Friday, noon, room 4.", ("Monday, noon", "Tuesday, 9am",
                                                        "Friday, noon")),
    "chain": ("Colours: red green blue.", "Colours: RED GREEN blue.",
              "Colours: pink green BLUE.",
              ("red green blue", "RED GREEN blue", "pink green BLUE")),
}


@pytest.mark.parametrize("case", sorted(JOINED))
def test_changes_separated_from_a_clash_by_spaces_join_it(case: str) -> None:
    b, o, t, want = JOINED[case]
    base = B.paras("Intro stays.", b, "Outro stays.")
    ours, theirs = B.edit(base, B.set_para(1, o)), B.edit(base, B.set_para(1, t))
    r = merge(base, ours, theirs)
    assert [(c.base, c.ours, c.theirs, c.kind) for c in r.conflicts] == [(*want, "content")]
    assert r.conflicts_in_document
    for settled, side in ((B.accept_all(r.data), theirs), (B.reject_all(r.data), ours)):
        assert R.paragraphs(settled, formatting=True) == R.paragraphs(side, formatting=True)
    assert R.paragraphs(B.accept_all(r.data))[1] == t
    assert R.paragraphs(B.reject_all(r.data))[1] == o


def test_changes_separated_from_a_clash_by_a_word_stay_apart() -> None:
    """As git keeps a change one line away from a conflict out of it: "good" is untouched
    text between them, so "designer" merges cleanly and the conflict is "two" alone (the
    whole-paragraph check of ``merge`` does not apply here)."""
    base = B.paras("We will hire two good engineers.")
    ours = B.edit(base, B.set_para(0, "We will hire a good designer."))
    theirs = B.edit(base, B.set_para(0, "We will hire three good engineers."))
    r = merge_docx(base, ours, theirs, ours_label="laptop", theirs_label="phone", now=NOW)
    assert [(c.base, c.ours, c.theirs) for c in r.conflicts] == [("two", "a", "three")]
    assert R.paragraphs(B.accept_all(r.data)) == ["We will hire three good designer."]
    assert R.paragraphs(B.reject_all(r.data)) == ["We will hire a good designer."]


def test_different_words_of_one_paragraph_still_merge_cleanly() -> None:
    base = B.paras("We will hire two engineers this year.")
    ours = B.edit(base, B.set_para(0, "We will hire three engineers this year."))
    theirs = B.edit(base, B.set_para(0, "We will hire two designers this year."))
    r = merge(base, ours, theirs)
    assert r.clean
    assert R.paragraphs(r.data) == ["We will hire three designers this year."]


# -- tracked changes carry the merge time ------------------------------------------------------

DATE_RE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


def revision_dates(data: bytes) -> list[str]:
    """w:date of every revision in the body and of every comment."""
    dates = [el.get(B.q("date"), "") for el in
             etree.fromstring(B.read_part(data, "word/document.xml")).iter(
                 B.q("ins"), B.q("del"), B.q("rPrChange"), B.q("pPrChange"))]
    names = B.zipfile.ZipFile(B.io.BytesIO(data)).namelist()
    if "word/comments.xml" in names:
        dates += [el.get(B.q("date"), "") for el in
                  etree.fromstring(B.read_part(data, "word/comments.xml")).iter(B.q("comment"))]
    return dates


def test_conflict_is_dated_with_the_time_passed_in() -> None:
    base, ours, theirs = _conflict_case()
    paris = timezone(timedelta(hours=2))
    when = datetime(2026, 6, 1, 14, 30, 15, 999_000, tzinfo=paris)
    r = merge_docx(base, ours, theirs, ours_label="laptop", theirs_label="phone", now=when)
    dates = revision_dates(r.data)
    assert len(dates) == 3  # the deletion, the insertion and the comment
    assert set(dates) == {"2026-06-01T12:30:15Z"}  # UTC, to the second
    # The registry hands the time to the merger the same way.
    via = default_registry().merge("report.docx", base, ours, theirs, ours_label="laptop",
                                   theirs_label="phone", now=when)
    assert via.data == r.data


def _docx_files(tmp_path: Path, base: bytes, ours: bytes, theirs: bytes) -> list[str]:
    names = []
    for name, data in (("base.docx", base), ("ours.docx", ours), ("theirs.docx", theirs)):
        (tmp_path / name).write_bytes(data)
        names.append(str(tmp_path / name))
    return names


def _recent(dates: list[str], before: datetime, after: datetime) -> None:
    assert dates
    for d in dates:
        assert DATE_RE.fullmatch(d), d
        when = datetime.strptime(d, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        assert before.replace(microsecond=0) <= when <= after, (d, before, after)


@pytest.mark.parametrize("command", ["merge-file", "merge-driver"])
def test_merge_file_and_driver_date_conflicts_now(tmp_path: Path, command: str) -> None:
    b, o, t = _docx_files(tmp_path, *_conflict_case())
    before = datetime.now(UTC)
    args = [b, o, t, "-o", str(tmp_path / "out.docx")] if command == "merge-file" else \
        [b, o, t, "report.docx"]
    proc = run_proc(command, *args)
    after = datetime.now(UTC)
    assert proc.returncode == 1, proc.stderr
    out = (tmp_path / "out.docx" if command == "merge-file" else Path(o)).read_bytes()
    B.assert_valid(out)
    _recent(revision_dates(out), before, after)


# -- a paragraph deleted on one side and changed on the other ----------------------------------


def _plan() -> bytes:
    d = B.docx.Document()
    d.add_heading("Plan for the year", 1)
    d.add_paragraph("We will hire two engineers this year.")
    d.add_paragraph("The budget is the same as last year.")
    t = d.add_table(rows=1, cols=2)
    t.cell(0, 0).text = "Cell stays."
    t.cell(0, 1).text = "Cell one."
    t.cell(0, 1).add_paragraph("Cell two is the target.")
    d.add_paragraph("Outro.")
    return B.save(d)


def _run(doc: DocumentObject, where: str) -> Run:
    if where == "cell":
        return doc.tables[0].cell(0, 1).paragraphs[1].runs[0]
    return doc.paragraphs[0 if where == "heading" else 1].runs[0]


def _target(doc: DocumentObject, where: str) -> Paragraph:
    if where == "cell":
        return doc.tables[0].cell(0, 1).paragraphs[1]
    return doc.paragraphs[0 if where == "heading" else 1]


def _colour_one_word(doc: DocumentObject, where: str) -> None:
    p = _target(doc, where)
    text = p.runs[0].text
    head, word, tail = text.partition(text.split()[1])
    p.runs[0].text = head
    red = p.add_run(word)
    red.font.color.rgb = RGBColor(0xC0, 0, 0)
    p.add_run(tail)


#: A change of the target paragraph: its words, or only its formatting.
CHANGES: dict[str, Callable[[DocumentObject, str], object]] = {
    "text": lambda d, w: setattr(_run(d, w), "text", _run(d, w).text.replace("the", "THE", 1)
                                 .replace("two", "three")),
    "style": lambda d, w: setattr(_target(d, w), "style", d.styles["Title"]),
    "bigger": lambda d, w: setattr(_run(d, w).font, "size", Pt(28)),
    "colour": _colour_one_word,
    # Headings are bold already: there the visible change is making the run plain.
    "bold": lambda d, w: setattr(_run(d, w), "bold", w != "heading"),
}


#: Where each target is in the document's paragraphs, table cells included.
INDEX = {"heading": 0, "body": 1, "cell": 5}


def _delete(doc: DocumentObject, where: str) -> None:
    p = _target(doc, where)._p
    p.getparent().remove(p)


@pytest.mark.parametrize("where", ["heading", "body", "cell"])
@pytest.mark.parametrize("change", sorted(CHANGES))
@pytest.mark.parametrize("deleter", ["ours", "theirs"])
def test_deleted_on_one_side_changed_on_the_other_is_a_conflict(
        deleter: str, change: str, where: str) -> None:
    base = _plan()
    deleted = B.edit(base, lambda d: _delete(d, where))
    changed = B.edit(base, lambda d: CHANGES[change](d, where))
    ours, theirs = (deleted, changed) if deleter == "ours" else (changed, deleted)
    r = merge(base, ours, theirs)
    kind = "delete/edit" if deleter == "ours" else "edit/delete"
    assert [c.kind for c in r.conflicts] == [kind]
    c = r.conflicts[0]
    i = INDEX[where]
    assert c.base == R.paragraphs(base)[i]
    assert (c.ours, c.theirs) == (("", R.paragraphs(changed)[i]) if deleter == "ours" else
                                  (R.paragraphs(changed)[i], ""))
    assert r.conflicts_in_document
    # Shown as tracked changes by the other device: accepting them gives theirs, formatting
    # included; rejecting them gives ours.
    assert {a for _k, a, _t in B.revisions(r.data)} == {"phone"}
    for settled, side in ((B.accept_all(r.data), theirs), (B.reject_all(r.data), ours)):
        assert R.paragraphs(settled, formatting=True) == R.paragraphs(side, formatting=True)
        B.assert_valid(settled)


def test_two_devices_delete_and_restyle_one_heading(tmp_path: Path) -> None:
    """Through the sync engine: the laptop deletes a heading the desktop made a title. The
    conflict is listed on both devices and shown in the document as tracked changes dated
    when the desktop merged."""
    base = _plan()
    net = make_net(tmp_path, {"report.docx": base})
    a, b = net["A"], net["B"]
    deleted = B.edit(base, lambda d: _delete(d, "heading"))
    restyled = B.edit(base, lambda d: CHANGES["style"](d, "heading"))
    (a / "report.docx").write_bytes(deleted)
    (b / "report.docx").write_bytes(restyled)
    sync(a)
    before = datetime.now(UTC)
    [rec] = sync(b, expect=1)["new_conflicts"]
    after = datetime.now(UTC)
    sync(a, expect=1)
    assert rec["path"] == "report.docx" and rec["kind"] == "edit/delete"
    assert rec["in_document"] and rec["copy_path"] is None
    assert [(h["base"], h["ours"], h["theirs"]) for h in rec["hunks"]] == [
        ("Plan for the year", "Plan for the year", "")]
    merged = (b / "report.docx").read_bytes()
    dates = revision_dates(merged)
    _recent(dates, before, after)
    stamp = datetime.fromtimestamp(rec["time"], UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert set(dates) == {stamp}
    for d in (a, b):
        [listed] = conflicts_json(d)
        assert listed["id"] == rec["id"]
        assert (d / "report.docx").read_bytes() == merged
    # The desktop kept its title; the laptop's deletion is the tracked change to accept.
    assert R.paragraphs(B.reject_all(merged), formatting=True) == \
        R.paragraphs(restyled, formatting=True)
    assert R.paragraphs(B.accept_all(merged), formatting=True) == \
        R.paragraphs(deleted, formatting=True)
