"""The text merger: line-level diff3, word-level retry, encodings and line endings.

Unit cases pin the behaviour users see; a comparison with the real ``git merge-file -p`` checks
that wherever git merges cleanly we produce exactly git's bytes; property tests check the
algebra (unchanged sides, disjoint edits, no lost lines, no markers in ``data``).
"""

from __future__ import annotations

import codecs
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gitsync.errors import MergeError
from gitsync.merge.base import MergeResult
from gitsync.merge.text import NotTextError, TextMerger, TextTooLargeError
from gitsync.merge.textcodec import decode, split_lines
from gitsync.merge.words import tokenize

GIT = shutil.which("git")


def merge(
    base: bytes | None, ours: bytes, theirs: bytes, **options: object
) -> MergeResult:
    merger = TextMerger(**options)  # type: ignore[arg-type]
    assert merger.accepts("f.txt", base, ours, theirs)
    return merger.merge(base, ours, theirs, ours_label="ours", theirs_label="theirs", path="f.txt")


def git_merge_file(
    tmp: Path, base: bytes, ours: bytes, theirs: bytes, *args: str
) -> tuple[bytes, int]:
    """``git merge-file -p`` on the three versions: (output, exit status)."""
    assert GIT is not None, "git is required for the comparison tests"
    for name, data in (("base", base), ("ours", ours), ("theirs", theirs)):
        (tmp / name).write_bytes(data)
    proc = subprocess.run(
        [GIT, "merge-file", "-p", *args, "-L", "ours", "-L", "base", "-L", "theirs",
         "ours", "base", "theirs"],
        cwd=tmp,
        capture_output=True,
        check=False,
    )
    assert proc.returncode >= 0, proc.stderr
    return proc.stdout, proc.returncode


# --- line and word level -------------------------------------------------------------------


def test_edits_to_different_lines_both_survive() -> None:
    r = merge(b"a\nb\nc\nd\n", b"A\nb\nc\nd\n", b"a\nb\nc\nD\n")
    assert r.clean
    assert r.data == b"A\nb\nc\nD\n"
    assert r.marked == r.data


def test_edits_to_adjacent_lines_merge_where_git_conflicts(tmp_path: Path) -> None:
    base, ours, theirs = b"a\nb\nc\n", b"A\nb\nc\n", b"a\nB\nc\n"
    _, status = git_merge_file(tmp_path, base, ours, theirs)
    assert status == 1  # git treats touching edits as a conflict; we do better
    r = merge(base, ours, theirs)
    assert r.clean
    assert r.data == b"A\nB\nc\n"
    assert r.notes  # says a region was merged word by word


def test_edits_to_different_words_of_one_line_both_survive() -> None:
    r = merge(b"the quick brown fox\n", b"the slow brown fox\n", b"the quick brown dog\n")
    assert r.clean
    assert r.data == b"the slow brown dog\n"


def test_same_word_changed_differently_conflicts_with_ours_in_data(tmp_path: Path) -> None:
    base = b"one\nthe quick fox\nthree\n"
    ours = b"one\nthe slow fox\nthree\n"
    theirs = b"one\nthe fast fox\nthree\n"
    r = merge(base, ours, theirs)
    assert not r.clean
    assert r.data == ours
    (c,) = r.conflicts
    assert (c.where, c.base, c.ours, c.theirs, c.kind) == (
        "line 2", "the quick fox\n", "the slow fox\n", "the fast fox\n", "content"
    )
    expected = b"one\n<<<<<<< ours\nthe slow fox\n=======\nthe fast fox\n>>>>>>> theirs\nthree\n"
    assert r.marked == expected
    git_out, status = git_merge_file(tmp_path, base, ours, theirs)
    assert (git_out, status) == (expected, 1)


def test_diff3_style_shows_the_base(tmp_path: Path) -> None:
    base, ours, theirs = b"x\nold\ny\n", b"x\nmine\ny\n", b"x\nyours\ny\n"
    r = merge(base, ours, theirs, conflict_style="diff3")
    git_out, _ = git_merge_file(tmp_path, base, ours, theirs, "--diff3")
    assert r.marked == git_out
    assert b"||||||| base\nold\n" in (r.marked or b"")


def test_identical_changes_on_both_sides_are_not_a_conflict() -> None:
    r = merge(b"a\nb\nc\n", b"a\nB\nc\nd\n", b"a\nB\nc\nd\n")
    assert r.clean
    assert r.data == b"a\nB\nc\nd\n"


def test_identical_change_plus_an_adjacent_one_merges() -> None:
    r = merge(b"a\nb\nc\n", b"A\nB\nc\n", b"A\nb\nc\n")
    assert r.clean
    assert r.data == b"A\nB\nc\n"


def test_deleted_line_next_to_an_edited_line_merges() -> None:
    r = merge(b"a\nb\nc\n", b"a\nc\n", b"a\nb\nC c\n")
    assert r.clean
    assert r.data == b"a\nC c\n"


def test_insertion_before_a_line_the_other_side_replaced_merges() -> None:
    r = merge(b"a\nb\nc\n", b"a\nnew\nb\nc\n", b"a\nB\nc\n")
    assert r.clean
    assert r.data == b"a\nnew\nB\nc\n"


def test_without_refinement_the_result_is_gits(tmp_path: Path) -> None:
    base, ours, theirs = b"a\nb\nc\n", b"A\nb\nc\n", b"a\nB\nc\n"
    r = merge(base, ours, theirs, refine=False)
    assert (r.marked, 1) == git_merge_file(tmp_path, base, ours, theirs)


def test_insertions_at_the_same_place_with_different_text_conflict() -> None:
    r = merge(b"a\nb\n", b"a\nmine\nb\n", b"a\nyours\nb\n")
    assert r.data == b"a\nmine\nb\n"
    (c,) = r.conflicts
    assert (c.where, c.base, c.ours, c.theirs) == ("line 2", "", "mine\n", "yours\n")
    assert r.marked == b"a\n<<<<<<< ours\nmine\n=======\nyours\n>>>>>>> theirs\nb\n"


def test_delete_versus_edit_conflicts() -> None:
    r = merge(b"a\nb\nc\n", b"a\nc\n", b"a\nB!\nc\n")
    assert r.data == b"a\nc\n"
    (c,) = r.conflicts
    assert (c.where, c.base, c.ours, c.theirs) == ("after line 1", "b\n", "", "B!\n")
    assert r.marked == b"a\n<<<<<<< ours\n=======\nB!\n>>>>>>> theirs\nc\n"


def test_several_conflicts_are_numbered_in_data() -> None:
    base = b"1\n2\n3\n4\n5\n6\n7\n"
    ours = b"1\nx\n3\n4\n5\ny\nz\n"
    theirs = b"1\nX\n3\n4\n5\nY\nZ\n"
    r = merge(base, ours, theirs)
    assert [c.where for c in r.conflicts] == ["line 2", "lines 6-7"]
    assert r.data == ours


def test_common_lines_at_conflict_edges_stay_outside_the_markers() -> None:
    r = merge(b"a\nb\nc\n", b"a\nsame\nmine\nsame2\nc\n", b"a\nsame\nyours\nsame2\nc\n")
    assert r.marked == (
        b"a\nsame\n<<<<<<< ours\nmine\n=======\nyours\n>>>>>>> theirs\nsame2\nc\n"
    )


def test_empty_labels_give_bare_markers() -> None:
    r = TextMerger().merge(b"a\n", b"b\n", b"c\n", ours_label="", theirs_label="")
    assert r.marked == b"<<<<<<<\nb\n=======\nc\n>>>>>>>\n"


def test_refinement_can_be_turned_off() -> None:
    r = merge(b"a\nb\n", b"A\nb\n", b"a\nB\n", refine=False)
    assert len(r.conflicts) == 1
    assert r.data == b"A\nb\n"


def test_huge_regions_are_not_retried_word_by_word() -> None:
    r = merge(b"a b c\n", b"A b c\n", b"a b C\n", max_tokens=3)
    assert not r.clean


# --- line endings and final newline ---------------------------------------------------------


def test_crlf_files_stay_crlf() -> None:
    r = merge(b"a\r\nb\r\nc\r\n", b"A\r\nb\r\nc\r\n", b"a\r\nb\r\nC\r\n")
    assert r.data == b"A\r\nb\r\nC\r\n"


def test_crlf_conflict_markers_use_crlf() -> None:
    r = merge(b"a\r\nb\r\n", b"x\r\nb\r\n", b"y\r\nb\r\n")
    assert r.data == b"x\r\nb\r\n"
    assert r.marked == b"<<<<<<< ours\r\nx\r\n=======\r\ny\r\n>>>>>>> theirs\r\nb\r\n"


def test_a_line_ending_switch_on_one_side_wins_and_keeps_the_other_edit() -> None:
    r = merge(b"a\nb\nc\n", b"a\r\nb\r\nc\r\n", b"a\nb\nC\n")
    assert r.clean
    assert r.data == b"a\r\nb\r\nC\r\n"


def test_mixed_line_endings_are_kept_as_they_are() -> None:
    base = b"a\r\nb\nc\r\n"
    r = merge(base, b"A\r\nb\nc\r\n", b"a\r\nb\nC\r\n")
    assert r.data == b"A\r\nb\nC\r\n"


def test_missing_final_newline_is_preserved() -> None:
    r = merge(b"a\nb\nc", b"A\nb\nc", b"a\nb\nC")
    assert r.data == b"A\nb\nC"


def test_final_newline_added_on_one_side_is_kept() -> None:
    r = merge(b"a\nb\nc", b"A\nb\nc", b"a\nb\nc\n")
    assert r.data == b"A\nb\nc\n"


def test_conflict_on_a_last_line_without_newline_matches_git(tmp_path: Path) -> None:
    base, ours, theirs = b"a\nb", b"a\nB", b"a\nC"
    r = merge(base, ours, theirs)
    assert r.data == ours
    git_out, _ = git_merge_file(tmp_path, base, ours, theirs)
    assert r.marked == git_out == b"a\n<<<<<<< ours\nB\n=======\nC\n>>>>>>> theirs\n"


def test_encoding_changed_differently_on_both_sides_keeps_ours_with_a_note() -> None:
    ours = codecs.BOM_UTF16_LE + "a\nb\n".encode("utf-16-le")
    r = merge("é\nb\n".encode(), ours, codecs.BOM_UTF8 + b"a\nB\n")
    assert r.data == codecs.BOM_UTF16_LE + "a\nB\n".encode("utf-16-le")
    assert r.notes[0] == "both sides changed the encoding; kept ours (utf-16-le)"


# --- encodings ----------------------------------------------------------------------------


def test_utf8_bom_is_preserved() -> None:
    bom = codecs.BOM_UTF8
    r = merge(bom + b"a\nb\n\xc3\xa9\n", bom + b"A\nb\n\xc3\xa9\n", bom + b"a\nb\n\xc3\xa9!\n")
    assert r.data == bom + b"A\nb\n\xc3\xa9!\n"


def test_bom_added_on_one_side_is_kept() -> None:
    r = merge(b"a\nb\n", codecs.BOM_UTF8 + b"a\nb\n", b"a\nB\n")
    assert r.data == codecs.BOM_UTF8 + b"a\nB\n"


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
def test_utf16_files_merge_and_stay_utf16(codec: str) -> None:
    bom = codecs.BOM_UTF16_LE if codec == "utf-16-le" else codecs.BOM_UTF16_BE

    def enc(text: str) -> bytes:
        return bom + text.encode(codec)

    r = merge(enc("héllo\r\nworld\r\nend\r\n"), enc("HÉLLO\r\nworld\r\nend\r\n"),
              enc("héllo\r\nworld\r\nEND\r\n"))
    assert r.clean
    assert r.data == enc("HÉLLO\r\nworld\r\nEND\r\n")
    conflicted = merge(enc("a\n"), enc("b\n"), enc("c\n"))
    assert conflicted.marked == enc("<<<<<<< ours\nb\n=======\nc\n>>>>>>> theirs\n")


def test_latin1_files_merge_on_bytes() -> None:
    base = "café\nnaïve\nfin\n".encode("latin-1")
    ours = "CAFÉ\nnaïve\nfin\n".encode("latin-1")
    theirs = "café\nnaïve\nFIN ½\n".encode("latin-1")
    r = merge(base, ours, theirs)
    assert r.data == "CAFÉ\nnaïve\nFIN ½\n".encode("latin-1")


def test_latin1_labels_are_written_as_utf8_bytes() -> None:
    r = TextMerger().merge(b"\xe9\n", b"a\xe9\n", b"b\xe9\n", ours_label="é", theirs_label="t")
    assert (r.marked or b"").startswith(b"<<<<<<< \xc3\xa9\n")


def test_latin1_next_to_utf8_is_not_text() -> None:
    latin = "café\n".encode("latin-1")
    utf8 = "café\n".encode()
    assert not TextMerger().accepts("f", latin, latin + b"x\n", utf8)


def test_ascii_side_goes_with_either_encoding() -> None:
    r = merge(b"a\nb\n", "é\nb\n".encode("latin-1"), b"a\nB\n")
    assert r.data == "é\nB\n".encode("latin-1")


@pytest.mark.parametrize(
    "data",
    [
        b"a\x00b\n",  # NUL byte
        codecs.BOM_UTF16_LE + b"a\x00b",  # odd length UTF-16
        codecs.BOM_UTF16_LE + "a\x00".encode("utf-16-le"),  # NUL character
        codecs.BOM_UTF32_LE + "a".encode("utf-32-le"),
        codecs.BOM_UTF8 + b"\xff\xfe",  # invalid after a UTF-8 BOM
        bytes(range(1, 32)) * 4 + b"\xff",  # 8-bit but mostly control bytes
    ],
)
def test_non_text_is_refused(data: bytes) -> None:
    assert decode(data) is None
    merger = TextMerger()
    assert not merger.accepts("f", b"a\n", data, b"b\n")
    assert not merger.accepts("f", data, b"a\n", b"b\n")
    with pytest.raises(NotTextError) as info:
        merger.merge(b"a\n", data, b"b\n", ours_label="o", theirs_label="t", path="f.bin")
    assert isinstance(info.value, MergeError)
    assert info.value.path == "f.bin"


def test_utf8_with_rare_controls_is_still_text() -> None:
    assert decode(b"a\x1b[1mbold\x1b[0m\n\x0c") is not None


def test_too_large_sides_are_refused() -> None:
    merger = TextMerger(max_bytes=10)
    assert merger.accepts("f", b"a\n", b"b\n" * 10, b"c\n")
    with pytest.raises(TextTooLargeError) as info:
        merger.merge(b"a\n", b"b\n" * 10, b"c\n", ours_label="o", theirs_label="t", path="f")
    assert isinstance(info.value, MergeError)
    assert info.value.limit == 10


# --- add/add (no base) ----------------------------------------------------------------------


def test_add_add_identical_is_clean() -> None:
    r = merge(None, b"same\n", b"same\n")
    assert r.clean
    assert r.data == b"same\n"


def test_add_add_different_conflicts() -> None:
    r = merge(None, b"top\nmine\nend\n", b"top\nyours\nend\n")
    assert r.data == b"top\nmine\nend\n"
    assert [c.base for c in r.conflicts] == [""]
    assert r.marked == b"top\n<<<<<<< ours\nmine\n=======\nyours\n>>>>>>> theirs\nend\n"


def test_add_add_with_different_words_still_conflicts() -> None:
    # Without a base there is no way to tell which side changed a word.
    assert not merge(None, b"the quick fox\n", b"the slow fox\n").clean


# --- building blocks ------------------------------------------------------------------------


def test_tokenize_is_lossless_and_splits_words() -> None:
    text = "Hello,  wörld!\r\n\tx_1=2\n"
    tokens = tokenize(text)
    assert "".join(tokens) == text
    assert tokens[:4] == ["Hello", ",", "  ", "wörld"]
    assert "\n" in tokens


def test_split_lines_keeps_terminators_and_only_splits_on_newline() -> None:
    assert split_lines("a\x0cb\u2028c\nd") == ["a\x0cb\u2028c\n", "d"]
    assert split_lines("") == []
    assert split_lines("a\n") == ["a\n"]


def test_heavily_repeated_lines_stay_fast_and_safe() -> None:
    # No unique lines to anchor on: a large gap is treated as replaced instead of being
    # searched at quadratic-or-worse cost. The result is still a correct (conflicted) merge.
    import random

    rng = random.Random(7)
    sides = []
    for _ in range(3):
        lines = ["\n", "x\n"] * 3000
        rng.shuffle(lines)
        sides.append("".join(lines).encode())
    r = merge(*sides)
    assert r.data == sides[1]
    assert not r.clean


# --- agreement with git merge-file ---------------------------------------------------------

GIT_CLEAN_CASES = [
    (b"a\nb\nc\nd\ne\n", b"A\nb\nc\nd\ne\n", b"a\nb\nc\nd\nE\n"),
    (b"a\nb\nc\nd\ne\n", b"a\nb\nc\nd\ne\n", b"a\nb\nx\ny\ne\n"),
    (b"a\nb\nc\nd\ne\n", b"a\nc\nd\ne\n", b"a\nb\nc\nd\ne\nf\n"),
    (b"a\nb\nc\nd\ne\n", b"new\na\nb\nc\nd\ne\n", b"a\nb\nc\nd\n"),
    (b"a\nb\nc\nd\ne\n", b"a\nb\nC\nd\ne\n", b"a\nb\nC\nd\ne\n"),
    (b"a\nb\nc", b"A\nb\nc", b"a\nb\nc\n"),
    (b"1\n2\n3\n4\n5\n6\n7\n8\n", b"1\n2\n3\n4\n5\n6\n7\n8\n9\n", b"0\n1\n2\n3\n4\n5\n6\n7\n8\n"),
    (b"a\r\nb\r\nc\r\nd\r\n", b"A\r\nb\r\nc\r\nd\r\n", b"a\r\nb\r\nc\r\nD\r\n"),
    (b"", b"", b"new\n"),
    (b"x\n\n\ny\n\n\nz\n", b"X\n\n\ny\n\n\nz\n", b"x\n\n\ny\n\n\nZ\n"),
    ("é\nb\nc\nd\n".encode(), "É\nb\nc\nd\n".encode(), "é\nb\nc\nD\n".encode()),
]


@pytest.mark.parametrize(("base", "ours", "theirs"), GIT_CLEAN_CASES)
def test_clean_merges_equal_git(tmp_path: Path, base: bytes, ours: bytes, theirs: bytes) -> None:
    git_out, status = git_merge_file(tmp_path, base, ours, theirs)
    assert status == 0
    r = merge(base, ours, theirs)
    assert r.clean
    assert r.data == git_out


def _edited(base: list[str], ops: list[tuple[int, int]], tag: str) -> list[str]:
    """Apply per-line ops to ``base``: (action, inserted-before count); new lines are unique."""
    out: list[str] = []
    for i, line in enumerate([*base, None]):  # type: ignore[list-item]
        action, inserts = ops[i]
        out += [f"{tag}{i}.{k}\n" for k in range(inserts)]
        if line is None:
            break
        if action == 0:
            out.append(line)
        elif action == 2:
            out.append(f"{tag}{i}.r\n")
    return out


def _ops(n: int, change: float) -> st.SearchStrategy[list[tuple[int, int]]]:
    op = st.tuples(
        st.sampled_from([0] * int(10 - 10 * change) + [1, 2] * max(1, int(5 * change))),
        st.sampled_from([0] * 8 + [1, 2]),
    )
    return st.lists(op, min_size=n + 1, max_size=n + 1)


@st.composite
def edit_pairs(draw: st.DrawFn) -> tuple[list[str], list[tuple[int, int]], list[tuple[int, int]]]:
    n = draw(st.integers(0, 14))
    base = [f"line {i}\n" for i in range(n)]
    return base, draw(_ops(n, 0.2)), draw(_ops(n, 0.2))


@pytest.mark.slow
@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(case=edit_pairs())
def test_random_clean_merges_equal_git(tmp_path: Path, case: tuple) -> None:  # type: ignore[type-arg]
    base_lines, ours_ops, theirs_ops = case
    base = "".join(base_lines).encode()
    ours = "".join(_edited(base_lines, ours_ops, "o")).encode()
    theirs = "".join(_edited(base_lines, theirs_ops, "t")).encode()
    git_out, status = git_merge_file(tmp_path, base, ours, theirs)
    r = TextMerger().merge(base, ours, theirs, ours_label="ours", theirs_label="theirs")
    if status == 0:
        assert r.clean
        assert r.data == git_out
    else:
        assert r.conflicts or r.notes  # whatever git could not merge we resolved or reported


# --- properties -----------------------------------------------------------------------------

texts = st.text(alphabet="ab é\n\r,", max_size=40)
PROPS = settings(max_examples=200, deadline=None)


def _m(base: bytes, ours: bytes, theirs: bytes) -> MergeResult:
    return TextMerger().merge(base, ours, theirs, ours_label="ours", theirs_label="theirs")


@PROPS
@given(b=texts, x=texts)
def test_both_sides_equal_gives_that_side(b: str, x: str) -> None:
    r = _m(b.encode(), x.encode(), x.encode())
    assert r.clean and r.data == x.encode()


@PROPS
@given(b=texts, x=texts)
def test_ours_unchanged_gives_theirs(b: str, x: str) -> None:
    r = _m(b.encode(), b.encode(), x.encode())
    assert r.clean and r.data == x.encode()


@PROPS
@given(b=texts, x=texts)
def test_theirs_unchanged_gives_ours(b: str, x: str) -> None:
    r = _m(b.encode(), x.encode(), b.encode())
    assert r.clean and r.data == x.encode()


@st.composite
def disjoint_edits(draw: st.DrawFn) -> tuple[list[str], list[str], list[str], list[str]]:
    """Base lines, and ours/theirs editing disjoint, non-adjacent line ranges; plus the union."""
    n = draw(st.integers(2, 30))
    base = [f"base {i}\n" for i in range(n)]
    owner = [draw(st.sampled_from("ot.......")) for _ in range(n)]
    # A line gap between the two sides' edits: drop a side's edit touching the other's.
    for i in range(1, n):
        if owner[i] != "." and owner[i - 1] not in (".", owner[i]):
            owner[i] = "."
    sides: dict[str, list[str]] = {"o": [], "t": [], "both": []}
    for i, line in enumerate(base):
        action = draw(st.sampled_from(["replace", "delete", "insert"]))
        for side in ("o", "t"):
            if owner[i] != side:
                sides[side].append(line)
                continue
            new = {"replace": [f"{side} {i}\n"], "delete": [], "insert": [f"{side} {i}\n", line]}
            sides[side] += new[action]
        sides["both"] += (
            [line] if owner[i] == "." else
            {"replace": [f"{owner[i]} {i}\n"], "delete": [],
             "insert": [f"{owner[i]} {i}\n", line]}[action]
        )
    return base, sides["o"], sides["t"], sides["both"]


@PROPS
@given(case=disjoint_edits())
def test_disjoint_edits_keep_both(case: tuple[list[str], list[str], list[str], list[str]]) -> None:
    base, ours, theirs, both = ("".join(x).encode() for x in case)
    r = _m(base, ours, theirs)
    assert r.clean
    assert r.data == both


def _hunks(n: int, ops: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The base ranges a side changed (touching changes joined), as a diff would report."""
    spans = []
    for i in range(n + 1):
        action, inserts = ops[i]
        if inserts:
            spans.append((i, i))
        if i < n and action:
            spans.append((i, i + 1))
    joined: list[tuple[int, int]] = []
    for lo, hi in spans:
        if joined and lo <= joined[-1][1]:
            joined[-1] = (joined[-1][0], max(hi, joined[-1][1]))
        else:
            joined.append((lo, hi))
    return joined


@PROPS
@given(case=edit_pairs())
def test_lines_a_side_owns_alone_are_never_lost(case: tuple) -> None:  # type: ignore[type-arg]
    base_lines, ours_ops, theirs_ops = case
    n = len(base_lines)
    ours_lines = _edited(base_lines, ours_ops, "o")
    theirs_lines = _edited(base_lines, theirs_ops, "t")
    r = _m(*("".join(x).encode() for x in (base_lines, ours_lines, theirs_lines)))
    data_lines = set(split_lines(r.data.decode()))
    # Ours wins wherever it changed something, so all its new lines are there.
    assert {x for x in ours_lines if x.startswith("o")} <= data_lines
    ours_hunks = _hunks(n, ours_ops)
    for lo, hi in _hunks(n, theirs_ops):
        if all(ohi < lo or hi < olo for olo, ohi in ours_hunks):
            for i in range(lo, hi + 1):
                new = {x for x in theirs_lines if x.startswith(f"t{i}.")}
                assert new <= data_lines
    for i, line in enumerate(base_lines):
        if not ours_ops[i][0] and not theirs_ops[i][0]:
            assert line in data_lines
    assert b"<<<<<<<" not in r.data and b">>>>>>>" not in r.data


@PROPS
@given(b=texts, x=texts, y=texts)
def test_data_has_no_markers_and_is_valid_text(b: str, x: str, y: str) -> None:
    r = _m(b.encode(), x.encode(), y.encode())
    assert b"=======" not in r.data
    assert b"<<<<<<<" not in r.data
    r.data.decode("utf-8")
    if r.clean:
        assert r.marked == r.data
    else:
        assert b">>>>>>> theirs" in (r.marked or b"")
