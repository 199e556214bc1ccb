"""The binary merger: merges only trivially, otherwise keeps ours with one "binary" conflict."""

from __future__ import annotations

import hashlib

from hypothesis import given, settings
from hypothesis import strategies as st

from gitsync.merge.binary import BinaryMerger, describe, trivial_merge

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"


def test_accepts_everything() -> None:
    m = BinaryMerger()
    assert m.name == "binary"
    assert m.accepts("x.png", None, PNG, b"")
    assert m.accepts("notes.txt", b"a\n", b"b\n", b"c\n")


def test_both_sides_changed_keeps_ours_with_a_binary_conflict() -> None:
    ours, theirs = PNG + b"ours", PNG + b"theirs"
    r = BinaryMerger().merge(PNG, ours, theirs, ours_label="o", theirs_label="t", path="x.png")
    assert r.data == ours
    assert r.marked is None
    (c,) = r.conflicts
    assert (c.where, c.kind) == ("whole file", "binary")
    assert c.ours == f"{len(ours)} bytes, sha256 {hashlib.sha256(ours).hexdigest()[:12]}"
    assert c.theirs.startswith(f"{len(theirs)} bytes")


def test_add_add_has_an_empty_base_description() -> None:
    r = BinaryMerger().merge(None, b"\x00a", b"\x00b", ours_label="o", theirs_label="t")
    assert r.conflicts[0].base == ""
    assert r.data == b"\x00a"


def test_trivial_cases_merge_cleanly() -> None:
    m = BinaryMerger()
    for base, ours, theirs, want in [
        (PNG, PNG + b"1", PNG + b"1", PNG + b"1"),
        (PNG, PNG, PNG + b"2", PNG + b"2"),
        (PNG, PNG + b"3", PNG, PNG + b"3"),
        (None, PNG, PNG, PNG),
    ]:
        r = m.merge(base, ours, theirs, ours_label="o", theirs_label="t")
        assert r.clean and r.data == want


def test_describe() -> None:
    assert describe(None) == ""
    assert describe(b"").startswith("0 bytes, sha256 e3b0c44298fc")


@settings(max_examples=200, deadline=None)
@given(b=st.none() | st.binary(max_size=8), x=st.binary(max_size=8), y=st.binary(max_size=8))
def test_result_is_always_one_of_the_sides(b: bytes | None, x: bytes, y: bytes) -> None:
    r = BinaryMerger().merge(b, x, y, ours_label="o", theirs_label="t")
    assert r.data in (x, y)
    assert r.clean == (trivial_merge(b, x, y) is not None)
    if not r.clean:
        assert r.data == x
