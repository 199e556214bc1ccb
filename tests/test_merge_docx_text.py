"""docx_text (git textconv) and diff_docx (history view) on generated documents."""

from __future__ import annotations

import docx_builders as B
import pytest

from gitsync.merge.docx import (
    DocxError,
    NotAZipError,
    ParagraphChange,
    diff_docx,
    docx_text,
    merge_docx,
)


def test_text_one_paragraph_per_line_and_rows_tab_separated() -> None:
    d = B.table([["a", "b"], ["c", ""]], before="Hello world.", after="Bye.")
    assert docx_text(d) == "Hello world.\na\tb\nc\t\nBye.\n"
    assert docx_text(B.paras()) == ""


def test_text_reads_as_after_accepting_changes() -> None:
    base = B.paras("The meeting is on Monday.")
    merged = merge_docx(base, B.paras("The meeting is on Tuesday."),
                        B.paras("The meeting is on Friday."), ours_label="a",
                        theirs_label="b").data
    assert docx_text(merged) == "The meeting is on Friday.\n"


def test_text_refuses_non_documents() -> None:
    with pytest.raises(NotAZipError):
        docx_text(b"plain text")
    assert issubclass(NotAZipError, DocxError)


def test_diff_paragraph_changes_with_words() -> None:
    old = B.paras("Keep me.", "Change the quick fox.", "Drop me.")
    new = B.edit(B.edit(old, B.replace_in(1, "quick", "slow")), B.delete_para(2))
    new = B.edit(new, B.append_para("Brand new."))
    changes = diff_docx(old, new)
    assert [(c.op, c.old_index, c.new_index) for c in changes] == [
        ("change", 1, 1), ("delete", 2, None), ("insert", None, 2)]
    assert changes[0].words[0].old == "quick" and changes[0].words[0].new == "slow"
    assert changes[1].old == "Drop me." and changes[2].new == "Brand new."
    assert all(isinstance(c, ParagraphChange) for c in changes)


def test_diff_tables_as_rows() -> None:
    old = B.table([["a1", "b1"], ["a2", "b2"]])
    new = B.edit(old, lambda d: setattr(d.tables[0].cell(1, 1), "text", "B2"))
    changes = diff_docx(old, new)
    assert len(changes) == 1
    c = changes[0]
    assert (c.kind, c.op, c.old, c.new) == ("row", "change", "a2\tb2", "a2\tB2")


def test_diff_of_identical_documents_is_empty() -> None:
    d = B.numbered(5)
    assert diff_docx(d, d) == []
