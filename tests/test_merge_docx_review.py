"""Settling a merged document's conflicts by accepting or rejecting the other device's
tracked changes: the same text as Word's Accept All / Reject All, and nothing else touched."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from gitsync.merge.docx import docx_text, merge_docx
from gitsync.merge.docx.review import settle_each, settle_revisions
from tests import docx_builders as db

Edit = Callable[[bytes], bytes]


def _merge(base: bytes, ours: Edit, theirs: Edit) -> bytes:
    result = merge_docx(base, ours(base), theirs(base), ours_label="laptop",
                        theirs_label="desktop")
    assert result.conflicts and result.conflicts_in_document
    return result.data


CASES: dict[str, tuple[bytes, Edit, Edit]] = {
    "same paragraph": (
        db.numbered(4),
        lambda d: db.edit(d, db.set_para(1, "Laptop rewrote paragraph one.")),
        lambda d: db.edit(d, db.set_para(1, "Desktop has its own paragraph one."))),
    "two places and a clean edit": (
        db.numbered(8),
        lambda d: db.edit(db.edit(d, db.set_para(1, "L one.")), db.set_para(4, "L four.")),
        lambda d: db.edit(db.edit(db.edit(d, db.set_para(1, "D one.")),
                                  db.set_para(4, "D four.")), db.set_para(7, "Clean."))),
    "both inserted at one place": (
        db.numbered(4),
        lambda d: db.edit(d, db.insert_before(2, "A new paragraph from the laptop.")),
        lambda d: db.edit(d, db.insert_before(2, "Something else from the desktop."))),
    "table cell": (
        db.table([["a", "b"], ["c", "d"]]),
        lambda d: db.edit(d, lambda doc: setattr(doc.tables[0].cell(1, 1), "text", "L")),
        lambda d: db.edit(d, lambda doc: setattr(doc.tables[0].cell(1, 1), "text", "D"))),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_accept_and_reject_read_like_word(case: str) -> None:
    merged = _merge(*CASES[case])
    theirs = settle_revisions(merged, "desktop", accept=True)
    ours = settle_revisions(merged, "desktop", accept=False)
    assert docx_text(theirs) == docx_text(db.accept_all(merged))
    assert docx_text(ours) == docx_text(db.reject_all(merged))
    for out in (theirs, ours):
        db.assert_valid(out)
        assert db.revisions(out) == []
        assert b"gitsync merge:" not in db.read_part(out, "word/document.xml")
        comments = out and _part_or_empty(out, "word/comments.xml")
        assert b"gitsync merge:" not in comments


def test_the_clean_edits_stay_on_both_sides() -> None:
    merged = _merge(*CASES["two places and a clean edit"])
    for accept in (True, False):
        assert "Clean." in docx_text(settle_revisions(merged, "desktop", accept=accept))
    assert "D four." in docx_text(settle_revisions(merged, "desktop", accept=True))
    assert "L four." in docx_text(settle_revisions(merged, "desktop", accept=False))


def test_other_reviewers_changes_are_kept() -> None:
    merged = _merge(*CASES["same paragraph"])
    renamed = db.edit_xml(merged, "word/document.xml", _author_to("alice"))
    kept = settle_revisions(renamed, "desktop", accept=True)
    assert {a for _, a, _ in db.revisions(kept)} == {"alice"}


def _author_to(name: str) -> Callable[[object], None]:
    def fn(root: object) -> None:
        for el in root.iter(db.q("ins"), db.q("del")):  # type: ignore[attr-defined]
            el.set(db.q("author"), name)
    return fn


def _part_or_empty(data: bytes, name: str) -> bytes:
    try:
        return db.read_part(data, name)
    except KeyError:
        return b""


def test_each_conflict_settled_its_own_way() -> None:
    base = db.numbered(10)

    def ours(d: bytes) -> bytes:
        for i in (1, 4, 7):
            d = db.edit(d, db.set_para(i, f"Laptop {i}."))
        return d

    def theirs(d: bytes) -> bytes:
        for i in (1, 4, 7):
            d = db.edit(d, db.set_para(i, f"Desktop {i}."))
        return d

    merged = _merge(base, ours, theirs)
    out = settle_each(merged, "desktop", ["theirs", "ours", "both"])
    assert out is not None
    lines = docx_text(out).splitlines()
    assert lines[1] == "Desktop 1." and lines[4] == "Laptop 4."
    # The third is left for Word: still tracked, still commented.
    assert {(k, t) for k, _a, t in db.revisions(out) if t} == {("del", "Laptop 7."),
                                                                ("ins", "Desktop 7.")}
    assert db.read_part(out, "word/comments.xml").count(b"gitsync merge:") == 1
    assert docx_text(db.accept_all(out)).splitlines()[7] == "Desktop 7."
    db.assert_valid(out)
    assert settle_each(merged, "desktop", ["theirs", "ours"]) is None  # counts must agree
    assert settle_each(db.numbered(3), "desktop", ["ours"]) is None
