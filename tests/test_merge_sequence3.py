"""The three-way sequence merge under the text and .docx mergers (``gitsync.merge.sequence3``).

Unit cases pin each kind of chunk and the two placements of ambiguous matches; property tests
check the algebra every three-way merge must keep, for both placements.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gitsync.merge.sequence3 import (
    Chunk,
    Edit,
    Placement,
    diff_edits,
    matching_blocks,
    merge_chunks,
    merge_clean,
    take,
)
from gitsync.merge.words import tokenize

PLACEMENTS: list[Placement] = ["git", "in_step"]


def merged(
    base: Sequence[str], ours: Sequence[str], theirs: Sequence[str], **kw: object
) -> tuple[list[str], list[Chunk]]:
    """The merge as one list (ours where it conflicts) and its chunks."""
    chunks = merge_chunks(base, ours, theirs, **kw)  # type: ignore[arg-type]
    out: list[str] = []
    for c in chunks:
        out.extend(take(c, base, ours, theirs))
    return out, chunks


def kinds(chunks: list[Chunk]) -> list[str]:
    return [c.kind for c in chunks]


# --- each kind of chunk ---------------------------------------------------------------------


def test_edits_of_different_places_merge_cleanly() -> None:
    out, chunks = merged(list("abcdefg"), list("aXcdefg"), list("abcdeYg"))
    assert out == list("aXcdeYg")
    assert kinds(chunks) == ["same", "ours", "same", "theirs", "same"]


def test_chunks_cover_every_version() -> None:
    base, ours, theirs = list("abcdefg"), list("aXcdefgY"), list("abcZefg")
    chunks = merge_chunks(base, ours, theirs)
    for side, seq in (("base", base), ("ours", ours), ("theirs", theirs)):
        spans = [getattr(c, side) for c in chunks]
        assert spans[0][0] == 0 and spans[-1][1] == len(seq)
        assert all(a[1] == b[0] for a, b in itertools.pairwise(spans))
    assert kinds(chunks) == ["same", "ours", "same", "theirs", "same", "ours"]


def test_different_edits_of_one_place_conflict() -> None:
    base, ours, theirs = list("abc"), list("aXc"), list("aYc")
    out, chunks = merged(base, ours, theirs)
    assert kinds(chunks) == ["same", "conflict", "same"]
    c = chunks[1]
    assert (c.base, c.ours, c.theirs) == ((1, 2), (1, 2), (1, 2))
    assert out == ours  # a conflict resolves to ours in take()
    assert merge_clean(base, ours, theirs) is None


def test_identical_edits_on_both_sides_are_taken_once() -> None:
    out, chunks = merged(list("abcd"), list("aXYd"), list("aXYd"))
    assert out == list("aXYd")
    assert kinds(chunks) == ["same", "both", "same"]


def test_identical_insertions_at_one_place_are_taken_once() -> None:
    assert merge_clean(list("ab"), list("aXb"), list("aXb")) == list("aXb")


def test_different_insertions_at_one_place_conflict() -> None:
    # Nobody can tell which of the two goes first.
    for touching in (True, False):
        chunks = merge_chunks(list("ab"), list("aXb"), list("aYb"), touching_conflicts=touching)
        assert kinds(chunks) == ["same", "conflict", "same"]
        assert chunks[1].base == (1, 1)


def test_deletion_against_edit_conflicts() -> None:
    out, chunks = merged(list("abc"), list("ac"), list("aBc"))
    assert out == list("ac")
    assert kinds(chunks) == ["same", "conflict", "same"]
    assert (chunks[1].ours, chunks[1].theirs) == ((1, 1), (1, 2))


def test_same_deletion_on_both_sides_is_taken_once() -> None:
    assert merge_clean(list("abcd"), list("acd"), list("acd")) == list("acd")


def test_touching_edits_conflict_by_git_rule_but_not_by_the_looser_one() -> None:
    base, ours, theirs = list("abcd"), list("aXcd"), list("abYd")
    assert kinds(merge_chunks(base, ours, theirs)) == ["same", "conflict", "same"]
    out, chunks = merged(base, ours, theirs, touching_conflicts=False)
    assert out == list("aXYd")
    assert "conflict" not in kinds(chunks)


def test_insertion_next_to_an_edit_touches() -> None:
    # Git's rule: an insertion where the other side's edit starts or ends is one group.
    assert merge_clean(list("abc"), list("aXbc"), list("aBc")) is None
    assert merge_clean(list("abc"), list("abXc"), list("aBc")) is None
    assert merge_clean(list("abc"), list("aXbc"), list("abC")) == list("aXbC")


def test_empty_sequences() -> None:
    assert merge_chunks([], [], []) == []
    assert merge_clean([], [], list("ab")) == list("ab")
    assert merge_clean([], list("a"), list("b")) is None
    assert merge_clean(list("ab"), [], list("ab")) == []


def test_any_hashable_items() -> None:
    base = [("p", 1), ("p", 2), ("p", 3)]
    ours = [("p", 1), ("q", 2), ("p", 3)]
    theirs = [("p", 1), ("p", 2), ("p", 3), ("r", 4)]
    assert merge_clean(base, ours, theirs) == [("p", 1), ("q", 2), ("p", 3), ("r", 4)]


# --- the two-way diff and placement -----------------------------------------------------------


def test_deleting_one_of_equal_lines_is_placed_last_like_git() -> None:
    assert diff_edits(list("xaaay"), list("xaay")) == [Edit(3, 4, 3, 3)]
    assert diff_edits(list("xaay"), list("xaaay")) == [Edit(3, 3, 3, 4)]


def test_in_step_placement_pairs_repeated_items_by_position() -> None:
    # git places x as an insertion before the first a and replaces the last two by y.
    assert diff_edits(list("aaa"), list("xay")) == [Edit(0, 0, 0, 1), Edit(1, 3, 2, 3)]
    assert diff_edits(list("aaa"), list("xay"), placement="in_step") == [
        Edit(0, 1, 0, 1),
        Edit(2, 3, 2, 3),
    ]
    # So edits of two of three equal paragraphs on one side and of the third on the other
    # stay apart.
    base, ours, theirs = ["", "", ""], ["A", "", "B"], ["", "C", ""]
    assert merge_clean(base, ours, theirs) is None
    chunks = merge_chunks(base, ours, theirs, placement="in_step", touching_conflicts=False)
    assert kinds(chunks) == ["ours", "theirs", "ours"]


def test_in_step_placement_keeps_edits_of_repeated_items_in_place() -> None:
    # SequenceMatcher pairs base 0 with side 1 here (the first equal items), which turned
    # side 2's edit into an edit of base 1: theirs' edit of base 1 then merged into it.
    base, ours = ["a"] * 5, ["x", "a", "y", "a", "z"]
    assert diff_edits(base, ours, placement="in_step") == [
        Edit(0, 1, 0, 1), Edit(2, 3, 2, 3), Edit(4, 5, 4, 5)]
    theirs = ["a", "t", "a", "a", "a"]
    chunks = merge_chunks(base, ours, theirs, placement="in_step", touching_conflicts=False)
    assert kinds(chunks) == ["ours", "theirs", "ours", "same", "ours"]
    assert merged(base, ours, theirs, placement="in_step", touching_conflicts=False)[0] == [
        "x", "t", "y", "a", "z"]


def test_in_step_placement_keeps_the_common_tail() -> None:
    # What both versions end with stays matched at the end, however it repeats.
    assert diff_edits(list("xaa"), list("ya"), placement="in_step") == [Edit(0, 2, 0, 1)]


def test_diff_edits_rebuild_the_other_side() -> None:
    a = tokenize("the cat sat on the mat and the dog sat on the log")
    b = tokenize("a cat sat on a mat while the dog lay on the log today")
    for placement in PLACEMENTS:
        rebuilt: list[str] = []
        pos = 0
        for e in diff_edits(a, b, placement=placement):
            rebuilt += a[pos : e.base_start] + b[e.side_start : e.side_end]
            pos = e.base_end
        assert rebuilt + a[pos:] == b


def test_matching_blocks_end_with_the_sentinel_and_match() -> None:
    a, b = list("xabcyde"), list("abczde")
    for placement in PLACEMENTS:
        blocks = matching_blocks(a, b, placement=placement)
        assert blocks[-1] == (len(a), len(b), 0)
        assert blocks[:-1] == [(1, 0, 3), (5, 4, 2)]
    assert matching_blocks([], []) == [(0, 0, 0)]


def test_heavily_repeated_items_stay_fast() -> None:
    # No unique items to anchor on and a gap too large for SequenceMatcher: treated as one
    # replacement rather than searched at quadratic-or-worse cost.
    a = ["x", "y"] * 2000
    b = ["y", "x"] * 2000
    for placement in PLACEMENTS:
        assert len(diff_edits(a, b, placement=placement)) <= 2


# --- properties -----------------------------------------------------------------------------

ITEMS = st.lists(st.sampled_from(["a", "b", "c", "", "x"]), max_size=12)
PROPS = settings(max_examples=300, deadline=None)


@pytest.mark.parametrize("placement", PLACEMENTS)
@PROPS
@given(base=ITEMS, side=ITEMS)
def test_one_sided_change_is_taken_as_is(
    placement: Placement, base: list[str], side: list[str]
) -> None:
    assert merged(base, base, side, placement=placement)[0] == side
    assert merged(base, side, base, placement=placement)[0] == side
    assert merged(base, side, side, placement=placement)[0] == side
    for chunks in (merge_chunks(base, base, side, placement=placement),
                   merge_chunks(base, side, base, placement=placement),
                   merge_chunks(base, side, side, placement=placement)):
        assert "conflict" not in kinds(chunks)


@pytest.mark.parametrize("placement", PLACEMENTS)
@PROPS
@given(base=ITEMS, ours=ITEMS, theirs=ITEMS, touching=st.booleans())
def test_chunks_tile_all_three_versions(
    placement: Placement, base: list[str], ours: list[str], theirs: list[str], touching: bool
) -> None:
    chunks = merge_chunks(base, ours, theirs, placement=placement, touching_conflicts=touching)
    for side, seq in (("base", base), ("ours", ours), ("theirs", theirs)):
        pos = 0
        for c in chunks:
            lo, hi = getattr(c, side)
            assert lo == pos <= hi
            pos = hi
        assert pos == len(seq)
    for c in chunks:
        b, o, t = (base[c.base[0]:c.base[1]], ours[c.ours[0]:c.ours[1]],
                   theirs[c.theirs[0]:c.theirs[1]])
        if c.kind == "same":
            assert b == o == t
        elif c.kind == "ours":
            assert t == b
        elif c.kind == "theirs":
            assert o == b
        elif c.kind == "both":
            assert o == t
        else:
            assert o != t


@pytest.mark.parametrize("placement", PLACEMENTS)
@PROPS
@given(base=ITEMS, ours=ITEMS, theirs=ITEMS)
def test_swapping_the_sides_mirrors_the_merge(
    placement: Placement, base: list[str], ours: list[str], theirs: list[str]
) -> None:
    mirror = {"ours": "theirs", "theirs": "ours"}
    forward = merge_chunks(base, ours, theirs, placement=placement)
    backward = merge_chunks(base, theirs, ours, placement=placement)
    assert [mirror.get(c.kind, c.kind) for c in forward] == kinds(backward)
    assert [(c.base, c.ours, c.theirs) for c in forward] == [
        (c.base, c.theirs, c.ours) for c in backward
    ]


@PROPS
@given(base=st.lists(st.integers(0, 10**6), unique=True, max_size=15), data=st.data())
def test_edits_of_separate_unique_items_both_survive(base: list[int], data: st.DataObject) -> None:
    # Each item edited by at most one side, never two neighbours by different sides.
    owner = data.draw(st.lists(st.sampled_from([0, 0, 1, 2]), min_size=len(base),
                               max_size=len(base)))
    for i in range(1, len(owner)):
        if {owner[i - 1], owner[i]} == {1, 2}:
            owner[i] = 0
    ours = [-x - 1 if w == 1 else x for x, w in zip(base, owner, strict=True)]
    theirs = [-x - 1 if w == 2 else x for x, w in zip(base, owner, strict=True)]
    expected = [-x - 1 if w else x for x, w in zip(base, owner, strict=True)]
    for placement in PLACEMENTS:
        chunks = merge_chunks(base, ours, theirs, placement=placement)
        out = [x for c in chunks for x in take(c, base, ours, theirs)]
        assert out == expected
        assert "conflict" not in kinds(chunks)


@PROPS
@given(base=st.lists(st.sampled_from(["a", "b", ""]), max_size=14), data=st.data())
def test_in_step_finds_replacements_in_place(base: list[str], data: st.DataObject) -> None:
    # Items replaced by new ones, however repeated the rest: each run of replaced items is
    # one edit at its own place, so two sides' edits of different items never overlap.
    changed = data.draw(st.sets(st.integers(0, max(len(base) - 1, 0)), max_size=len(base)))
    side = [f"new{i}" if i in changed else x for i, x in enumerate(base)]
    runs = [Edit(i, i + 1, i, i + 1) for i in sorted(changed)]
    expected: list[Edit] = []
    for e in runs:
        if expected and expected[-1].base_end == e.base_start:
            expected[-1] = Edit(expected[-1].base_start, e.base_end,
                                expected[-1].side_start, e.side_end)
        else:
            expected.append(e)
    assert diff_edits(base, side, placement="in_step") == expected


@pytest.mark.parametrize("placement", PLACEMENTS)
@PROPS
@given(a=ITEMS, b=ITEMS)
def test_diff_edits_and_matching_blocks_agree(
    placement: Placement, a: list[str], b: list[str]
) -> None:
    edits = diff_edits(a, b, placement=placement)
    rebuilt: list[str] = []
    pos = 0
    for e in edits:
        assert pos <= e.base_start and (e.base_start, e.side_start) != (e.base_end, e.side_end)
        rebuilt += a[pos : e.base_start] + b[e.side_start : e.side_end]
        pos = e.base_end
    assert rebuilt + a[pos:] == b
    assert all(x.base_end < y.base_start or x.side_end < y.side_start
               for x, y in itertools.pairwise(edits))
    for i, j, n in matching_blocks(a, b, placement=placement):
        assert a[i : i + n] == b[j : j + n]
