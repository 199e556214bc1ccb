"""A text conflict cut into segments: taking ours everywhere gives back exactly what the
merger wrote, and each choice rebuilds the file as chosen."""

from __future__ import annotations

import pytest

from gitsync.errors import UserError
from gitsync.merge.segments import text_conflict
from gitsync.merge.text import TextMerger

CASES = [
    (b"a\nb\nc\n\nd\ne\n", b"a\nB1\nc\n\nD1\ne\n", b"a\nB2\nc\n\nD2\ne\n"),
    (b"a\r\nb\r\nc\r\n", b"a\r\nB1\r\nc\r\n", b"a\r\nB2\r\nc\r\n"),
    (b"one\ntwo", b"one\nTWO", b"one\n2"),
    (None, b"x\ny\n", b"x\nz\n"),
    (b"p\nq\nr\ns\n", b"p\nQ\nr\ns\nend\n", b"P\nq\nr\nS\n"),
    ("caf\u00e9\nna\u00efve\n".encode("latin-1"), "CAF\u00c9\nna\u00efve\n".encode("latin-1"),
     "cafe\nna\u00efve\n".encode("latin-1")),
]


@pytest.mark.parametrize(("base", "ours", "theirs"), CASES)
def test_all_ours_is_what_the_merger_wrote(base: bytes | None, ours: bytes,
                                           theirs: bytes) -> None:
    merged = TextMerger().merge(base, ours, theirs, ours_label="o", theirs_label="t")
    tc = text_conflict(base, ours, theirs)
    assert tc is not None
    assert tc.count == len(merged.conflicts)
    assert tc.rebuild(["ours"] * tc.count) == merged.data


def test_each_choice_rebuilds_its_lines() -> None:
    base, ours, theirs = CASES[0]
    tc = text_conflict(base, ours, theirs)
    assert tc is not None and tc.count == 2
    assert tc.rebuild(["theirs", "base"]) == b"a\nB2\nc\n\nd\ne\n"
    assert tc.rebuild(["both", "ours"]) == b"a\nB1\nB2\nc\n\nD1\ne\n"
    assert tc.rebuild({0: "ours", 1: "theirs"}, {0: "typed\nhere"}) == \
        b"a\ntyped\nhere\nc\n\nD2\ne\n"
    assert tc.rebuild(["theirs", "theirs"]).replace(b"\n", b"") == b"aB2cD2e"


def test_crlf_files_stay_crlf() -> None:
    tc = text_conflict(*CASES[1])
    assert tc is not None
    assert tc.rebuild(["both"]) == b"a\r\nB1\r\nB2\r\nc\r\n"
    assert all("\r" not in str(s.get("text", "")) for s in tc.segments())


def test_identical_edits_and_word_merges_are_no_conflicts() -> None:
    base = b"alpha beta gamma\nsame\nkeep\n"
    ours = b"alpha BETA gamma\nSAME\nkeep\n"
    theirs = b"alpha beta GAMMA\nSAME\nkeep\n"
    tc = text_conflict(base, ours, theirs)
    assert tc is not None and tc.count == 0
    segs = tc.segments()
    assert [s["kind"] for s in segs] == ["same"]
    assert segs[0]["text"] == "alpha BETA GAMMA\nSAME\nkeep\n"


def test_conflicts_apart_only_by_blank_lines_are_one() -> None:
    base = b"a\nb\n\n  \nc\nz\n"
    ours = b"a\nB1\n\n  \nC1\nz\n"
    theirs = b"a\nB2\n\n  \nC2\nz\n"
    tc = text_conflict(base, ours, theirs)
    assert tc is not None and tc.count == 1
    seg = next(s for s in tc.segments() if s["kind"] == "conflict")
    assert seg["ours"] == "B1\n\n  \nC1\n" and seg["theirs"] == "B2\n\n  \nC2\n"
    assert seg["where"] == "lines 2-5"


def test_binary_is_not_cut_and_missing_choices_are_refused() -> None:
    assert text_conflict(b"\0\1", b"\0\2", b"\0\3") is None
    tc = text_conflict(*CASES[0])
    assert tc is not None
    with pytest.raises(UserError):
        tc.rebuild(["ours"])
    with pytest.raises(UserError):
        tc.rebuild(["ours", "mine"])
