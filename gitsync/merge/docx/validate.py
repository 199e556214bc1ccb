"""Self-check of a merged package before it is returned.

The merger never hands back a package it has not re-read: every XML part must parse safely,
content types must cover every part, every internal relationship must resolve, the ids that
Word requires to be unique must be, and every reference to a comment or note must land.
A failure raises :class:`InvalidOutputError`, and the engine keeps ours instead.
"""

from __future__ import annotations

from collections import Counter

from lxml import etree

from gitsync.merge.docx.errors import DocxError, InvalidOutputError
from gitsync.merge.docx.limits import DocxLimits
from gitsync.merge.docx.ooxml import W_BODY, W_ID, W_NS, w
from gitsync.merge.docx.package import CONTENT_TYPES, DOCUMENT_PART, parse_xml, read_package
from gitsync.merge.docx.rels import (
    CT_DEFAULT,
    CT_OVERRIDE,
    REL,
    referenced_rids,
    rels_name,
    resolve,
)

_REFS = ((w("commentReference"), "word/comments.xml", w("comment")),
         (w("footnoteReference"), "word/footnotes.xml", w("footnote")),
         (w("endnoteReference"), "word/endnotes.xml", w("endnote")))


def validate_package(data: bytes, limits: DocxLimits) -> None:
    """Raise :class:`InvalidOutputError` unless ``data`` is a sound Word package."""
    try:
        pkg = read_package(data, limits, label="merged document")
        roots: dict[str, etree._Element] = {}
        for name, content in pkg.parts.items():
            if name.endswith((".xml", ".rels")):
                roots[name] = parse_xml(content, name, limits)
    except DocxError as e:
        raise InvalidOutputError(f"merged document failed its self-check: {e}") from e
    _check(pkg.parts, roots)


def _fail(msg: str, part: str | None = None) -> None:
    raise InvalidOutputError(f"merged document failed its self-check: {msg}", part=part)


def _check(parts: dict[str, bytes], roots: dict[str, etree._Element]) -> None:
    ct = roots[CONTENT_TYPES]
    defaults = {d.get("Extension", "").lower() for d in ct.iter(CT_DEFAULT)}
    overrides = {o.get("PartName", "").lstrip("/") for o in ct.iter(CT_OVERRIDE)}
    if "" in defaults:
        _fail("content types declare a default for an empty extension", CONTENT_TYPES)
    for name in parts:
        if name == CONTENT_TYPES:
            continue
        ext = name.rpartition(".")[2].lower()
        if name not in overrides and ext not in defaults:
            _fail(f"no content type for {name}", name)
    for name in overrides:
        if name not in parts:
            _fail(f"content type override for missing part {name}", name)
    doc = roots[DOCUMENT_PART]
    if doc.find(W_BODY) is None:
        _fail("word/document.xml has no body", DOCUMENT_PART)
    for name, root in roots.items():
        if not name.endswith(".rels"):
            continue
        source = name.replace("_rels/", "").removesuffix(".rels")
        ids = Counter(r.get("Id") for r in root.iter(REL))
        dup = [i for i, c in ids.items() if c > 1]
        if dup:
            _fail(f"duplicate relationship ids {dup} in {name}", name)
        for rel in root.iter(REL):
            if rel.get("TargetMode") == "External":
                continue
            target = resolve(source, rel.get("Target", ""))
            if target not in parts:
                _fail(f"relationship {rel.get('Id')} in {name} points to missing {target}",
                      name)
    for name, root in roots.items():
        if not name.startswith("word/") or name.endswith(".rels"):
            continue
        used = referenced_rids(root)
        if not used:
            continue
        rel_root = roots.get(rels_name(name))
        have = {r.get("Id") for r in rel_root.iter(REL)} if rel_root is not None else set()
        missing = used - have
        if missing:
            _fail(f"{name} uses undefined relationship ids {sorted(missing)}", name)
        _check_ids(name, root)
    for ref_tag, part, item_tag in _REFS:
        refs = {el.get(W_ID) for el in doc.iter(ref_tag)}
        if not refs:
            continue
        root = roots.get(part)
        have = {el.get(W_ID) for el in root.iter(item_tag)} if root is not None else set()
        if refs - have:
            _fail(f"references to missing {item_tag.rpartition('}')[2]}s "
                  f"{sorted(x or '' for x in refs - have)}", part)


def _check_ids(name: str, root: etree._Element) -> None:
    if not root.tag.startswith(f"{{{W_NS}}}"):
        return
    # Bookmark and comment-range ids must be unique; revision ids (w:ins, w:del) need not be.
    for tag in (w("bookmarkStart"), w("commentRangeStart")):
        ids = Counter(el.get(W_ID) for el in root.iter(tag) if el.get(W_ID) is not None)
        dup = [i for i, c in ids.items() if c > 1]
        if dup:
            _fail(f"duplicate {tag.rpartition('}')[2]} ids {dup[:5]} in {name}", name)
    items = {"word/comments.xml": w("comment"), "word/footnotes.xml": w("footnote"),
             "word/endnotes.xml": w("endnote")}
    if name in items:
        ids = Counter(el.get(W_ID) for el in root.iter(items[name]))
        dup = [i for i, c in ids.items() if c > 1]
        if dup:
            _fail(f"duplicate ids {dup[:5]} in {name}", name)
