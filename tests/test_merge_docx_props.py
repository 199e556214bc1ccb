"""Property tests of the docx merger over generated documents and edits."""

from __future__ import annotations

import docx_builders as B
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gitsync.merge.docx import docx_text, merge_docx
from tests import docx_review as R
from tests.libreoffice import MERGE_OUTPUTS

WORDS = st.sampled_from(["alpha", "beta", "gamma", "delta", "eps", "zeta", "eta", "theta"])
FEW = st.sampled_from(["alpha", "beta", ""])  # repeated and empty paragraphs are common
PARA = st.lists(WORDS, min_size=1, max_size=6).map(" ".join)
DOC = st.lists(PARA, min_size=1, max_size=8)
SETTINGS = settings(max_examples=20, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


# Every merge output of a test is converted by LibreOffice when the test ends.
pytestmark = pytest.mark.usefixtures("outputs_open_in_libreoffice")


def merge(b: bytes, o: bytes, t: bytes) -> bytes:
    r = merge_docx(b, o, t, ours_label="ours-dev", theirs_label="theirs-dev")
    B.assert_valid(r.data)
    R.check_conflicts(r.data, o, t, "theirs-dev")
    MERGE_OUTPUTS.append(r.data)
    return r.data


@st.composite
def edited(draw: st.DrawFn, base: list[str]) -> list[str]:
    out = list(base)
    for _ in range(draw(st.integers(0, 3))):
        op = draw(st.sampled_from(["edit", "insert", "delete", "word"]))
        i = draw(st.integers(0, max(len(out) - 1, 0)))
        if op == "insert" or not out:
            out.insert(i, draw(PARA))
        elif op == "delete" and len(out) > 1:
            out.pop(i)
        elif op == "word":
            words = out[i].split()
            words[draw(st.integers(0, len(words) - 1))] = draw(WORDS).upper()
            out[i] = " ".join(words)
        else:
            out[i] = draw(PARA)
    return out


@SETTINGS
@given(st.data())
def test_one_sided_changes_come_through(data: st.DataObject) -> None:
    base = data.draw(DOC)
    x = data.draw(edited(base))
    b, xb = B.paras(*base), B.paras(*x)
    assert merge(b, b, xb) == xb
    assert docx_text(merge(b, xb, xb)) == docx_text(xb)


@SETTINGS
@given(st.data())
def test_non_overlapping_edits_both_survive(data: st.DataObject) -> None:
    base = data.draw(st.lists(st.one_of(PARA, FEW), min_size=2, max_size=8))
    idx = list(range(len(base)))
    mine = data.draw(st.sets(st.sampled_from(idx), min_size=1, max_size=len(base) - 1))
    theirs_idx = data.draw(st.sets(st.sampled_from([i for i in idx if i not in mine]),
                                   min_size=1))
    ours, theirs, expected = side_edits(base, mine, theirs_idx)
    out = B.texts(merge(B.paras(*base), B.paras(*ours), B.paras(*theirs)))
    assert out == expected


def side_edits(base: list[str], mine: set[int], theirs_idx: set[int]
               ) -> tuple[list[str], list[str], list[str]]:
    """Ours prefixes the paragraphs in ``mine``, theirs suffixes those in ``theirs_idx``;
    returns ours, theirs and the expected merge."""
    ours = [f"OURS{i} {p}" if i in mine else p for i, p in enumerate(base)]
    theirs = [f"{p} THEIRS{i}" if i in theirs_idx else p for i, p in enumerate(base)]
    expected = [f"OURS{i} {p}" if i in mine else f"{p} THEIRS{i}" if i in theirs_idx else p
                for i, p in enumerate(base)]
    return ours, theirs, expected


@pytest.mark.parametrize(("base", "mine", "theirs_idx"), [
    (["alpha"] * 5, {0, 2, 4}, {1}),  # found by hypothesis: THEIRS1 landed in paragraph 2
    (["alpha"] * 5, {1, 3}, {0, 4}),
    (["alpha"] * 6, {0, 5}, {2, 3}),
    (["", "", "", ""], {0, 2}, {1, 3}),
    (["beta", "alpha", "alpha", "alpha", "beta"], {1, 3}, {2}),
    (["alpha", "", "alpha", "", "alpha"], {0, 1, 4}, {2, 3}),
])
def test_edits_of_repeated_paragraphs_stay_in_their_paragraphs(
        base: list[str], mine: set[int], theirs_idx: set[int]) -> None:
    # With identical base paragraphs either side's edits could be paired with any of them;
    # each edit must stay with the paragraph it was made to.
    ours, theirs, expected = side_edits(base, mine, theirs_idx)
    out = merge(B.paras(*base), B.paras(*ours), B.paras(*theirs))
    assert B.texts(out) == expected
    assert B.revisions(out) == []
    mirrored = merge(B.paras(*base), B.paras(*theirs), B.paras(*ours))
    assert B.texts(mirrored) == expected


@SETTINGS
@given(st.data())
def test_any_edits_give_valid_output_and_resolutions(data: st.DataObject) -> None:
    base = data.draw(DOC)
    ours, theirs = data.draw(edited(base)), data.draw(edited(base))
    out = merge(B.paras(*base), B.paras(*ours), B.paras(*theirs))
    B.assert_valid(B.accept_all(out))
    B.assert_valid(B.reject_all(out))
