"""Previews: text decoded, Word documents as simple blocks read without python-docx,
anything else as a size."""

from __future__ import annotations

import docx as python_docx

from gitsync.preview import MAX_TEXT_BYTES, preview
from tests import docx_builders as db


def test_text_and_binary() -> None:
    assert preview("a.txt", "héllo\n".encode()) == {"kind": "text", "text": "héllo\n",
                                                     "size": 7, "truncated": False}
    assert preview("a.bin", b"\0\1\2") == {"kind": "binary", "size": 3, "truncated": False}
    big = preview("big.txt", b"x" * (MAX_TEXT_BYTES + 10))
    assert big["truncated"] is True and len(big["text"]) == MAX_TEXT_BYTES


def test_docx_blocks() -> None:
    d = python_docx.Document()
    d.add_heading("Report title", level=1)
    d.add_heading("Section", level=2)
    p = d.add_paragraph("plain ")
    p.add_run("bold").bold = True
    p.add_run(" and ")
    p.add_run("italic").italic = True
    d.add_paragraph("first item", style="List Bullet")
    t = d.add_table(rows=2, cols=2)
    for i, row in enumerate([["a", "b"], ["<c>", "d"]]):
        for j, text in enumerate(row):
            t.cell(i, j).text = text
    out = preview("r.docx", db.save(d))
    assert out["kind"] == "docx" and not out["truncated"]
    blocks = out["blocks"]
    assert blocks[0] == {"type": "heading", "level": 1,
                         "runs": [{"text": "Report title", "bold": False, "italic": False}]}
    assert blocks[1]["type"] == "heading" and blocks[1]["level"] == 2
    assert blocks[2] == {"type": "paragraph", "list": False, "runs": [
        {"text": "plain ", "bold": False, "italic": False},
        {"text": "bold", "bold": True, "italic": False},
        {"text": " and ", "bold": False, "italic": False},
        {"text": "italic", "bold": False, "italic": True}]}
    assert blocks[3]["list"] is True and blocks[3]["runs"][0]["text"] == "first item"
    assert blocks[4] == {"type": "table", "rows": [["a", "b"], ["<c>", "d"]]}


def test_deleted_tracked_text_is_not_shown() -> None:
    data = db.paras("keep this")
    marked = db.edit_xml(data, "word/document.xml", _mark_deleted)
    runs = preview("r.docx", marked)["blocks"][0]["runs"]
    assert "".join(r["text"] for r in runs) == ""


def _mark_deleted(root: object) -> None:
    from lxml import etree

    W = db.W
    for r in list(root.iter(f"{{{W}}}r")):  # type: ignore[attr-defined]
        wrapper = etree.Element(f"{{{W}}}del", {f"{{{W}}}author": "x", f"{{{W}}}id": "1"})
        r.addprevious(wrapper)
        wrapper.append(r)
        for t in r.iter(f"{{{W}}}t"):
            t.tag = f"{{{W}}}delText"


def test_a_broken_docx_is_binary() -> None:
    assert preview("r.docx", b"PK\3\4nope")["kind"] == "binary"
