"""Structured diffs for pages: text hunks with word marks, .docx paragraph changes,
binary sizes, and costs that are bounded and said so."""

from __future__ import annotations

import difflib
from typing import Any

from gitsync.diffs import diff_data, word_ops
from tests import docx_builders as db


def _words(line: dict[str, Any]) -> str:
    return "".join(w["text"] for w in line["words"])


def test_text_hunks_match_a_unified_diff() -> None:
    old = "".join(f"line {i}\n" for i in range(1, 41))
    new = old.replace("line 5\n", "line five\n").replace("line 30\n", "") + "tail\n"
    d = diff_data("a.txt", old.encode(), new.encode())
    assert d["kind"] == "text" and not d["truncated"]
    ours = [(h["old_start"], h["old_lines"], h["new_start"], h["new_lines"]) for h in d["hunks"]]
    theirs = []
    for line in difflib.unified_diff(old.splitlines(), new.splitlines(), n=3, lineterm=""):
        if line.startswith("@@"):
            a, b = line.split()[1:3]
            a0, _, al = a[1:].partition(",")
            b0, _, bl = b[1:].partition(",")
            theirs.append((int(a0), int(al or 1), int(b0), int(bl or 1)))
    assert ours == theirs
    changed = [ln for h in d["hunks"] for ln in h["lines"] if ln["op"] != " "]
    assert [(ln["op"], ln["text"]) for ln in changed] == [
        ("-", "line 5"), ("+", "line five"), ("-", "line 30"), ("+", "tail")]
    assert changed[0]["words"] == [{"op": "=", "text": "line "}, {"op": "-", "text": "5"}]
    assert changed[1]["words"] == [{"op": "=", "text": "line "}, {"op": "+", "text": "five"}]
    assert changed[2]["words"] == []  # a deleted line with nothing to pair with


def test_word_marks_join_back_to_their_lines() -> None:
    left, right = word_ops("the quick brown fox", "the slow brown cat!")
    assert "".join(w["text"] for w in left) == "the quick brown fox"
    assert "".join(w["text"] for w in right) == "the slow brown cat!"
    assert {w["op"] for w in left} <= {"=", "-"} and {w["op"] for w in right} <= {"=", "+"}


def test_added_and_removed_files() -> None:
    d = diff_data("n.txt", None, b"a\nb\n")
    assert [ln["op"] for ln in d["hunks"][0]["lines"]] == ["+", "+"]
    assert d["old_size"] is None and d["new_size"] == 4
    d = diff_data("n.txt", b"a\n", None)
    assert [ln["op"] for ln in d["hunks"][0]["lines"]] == ["-"]


def test_long_diffs_are_cut_and_say_so() -> None:
    old = "".join(f"{i}\n" for i in range(0, 20000, 2)).encode()
    new = "".join(f"{i}\n" for i in range(1, 20000, 2)).encode()
    d = diff_data("big.txt", old, new, max_lines=100)
    assert d["truncated"] is True
    assert sum(len(h["lines"]) for h in d["hunks"]) <= 100
    d = diff_data("big.txt", old, new, max_bytes=1000)
    assert d["kind"] == "binary" and d["truncated"] is True


def test_binary_is_sizes_only() -> None:
    d = diff_data("x.png", b"\x89PNG\0\1\2", b"\x89PNG\0\1\2\3")
    assert d == {"kind": "binary", "hunks": [], "truncated": False, "old_size": 7,
                 "new_size": 8}


def test_docx_paragraph_changes_with_words() -> None:
    old = db.paras("Intro stays.", "The cat sat on the mat.", "Gone soon.")
    new = db.paras("Intro stays.", "The dog sat on the mat.", "A new paragraph here.")
    d = diff_data("r.docx", old, new)
    assert d["kind"] == "docx"
    ops = [(h["op"], h["kind"]) for h in d["hunks"]]
    assert ("change", "paragraph") in ops
    change = next(h for h in d["hunks"] if h["op"] == "change")
    assert change["old"] == "The cat sat on the mat." and change["new"] == "The dog sat on the mat."
    assert {"op": "-", "text": "cat"} in change["words"]
    assert {"op": "+", "text": "dog"} in change["words"]
    rows = diff_data("t.docx", db.table([["a", "b"]]), db.table([["a", "c"]]))
    assert rows["hunks"][0]["kind"] == "table row"


def test_a_broken_docx_is_shown_as_binary() -> None:
    d = diff_data("r.docx", b"PK\3\4broken", b"PK\3\4broken too")
    assert d["kind"] == "binary"
