"""Merge of the parts around the body: notes, comments, headers, styles, numbering, props.

Each understood part is merged by its natural key (a style by styleId, a footnote by id, a
numbering definition by its id); a part both sides changed that is not understood keeps
ours' version and records a conflict, so nothing is silently dropped.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from lxml import etree

from gitsync.merge.docx.blocks import Ctx, merge_blocks
from gitsync.merge.docx.ooxml import DCTERMS_NS, W14_NS, W15_NS, W_ID, W_NAME, w
from gitsync.merge.docx.runs import canon

NOGB: frozenset[str] = frozenset()
#: Parts Word recomputes on every save (statistics, caches): ours is kept, no conflict.
DERIVED_PARTS = frozenset(("docProps/app.xml", "word/webSettings.xml",
                           "word/stylesWithEffects.xml"))
#: Settings Word rewrites on every save or that only record the view (zoom): ours is kept,
#: never a reason for a conflict.
SETTINGS_NOISE = frozenset((w("rsids"), w("proofState"), w("zoom"), f"{{{W14_NS}}}docId",
                            f"{{{W15_NS}}}docId"))
KEYED_PARTS = frozenset(("word/numbering.xml", "word/commentsExtended.xml",
                         "word/commentsIds.xml", "word/people.xml",
                         "word/commentsExtensible.xml"))
#: Word refreshes the latent style list to its own version on save.
STYLES_NOISE = frozenset((w("latentStyles"),))
_NOTES = {"word/footnotes.xml": "footnote", "word/endnotes.xml": "endnote",
          "word/comments.xml": "comment"}
_HDR_FTR = re.compile(r"^word/(header|footer)\d*\.xml$")
_ID_ATTRS = (f"{{{W15_NS}}}paraId", f"{{{W15_NS}}}author", "durableId", W_ID, w("styleId"),
             w("abstractNumId"), w("numId"), W_NAME)
_W16CID = "http://schemas.microsoft.com/office/word/2016/wordml/cid"
_W16CEX = "http://schemas.microsoft.com/office/word/2018/wordml/cex"


def _item_key(el: etree._Element) -> str:
    """Identity of a child of a keyed part: its tag plus its first id-like attribute."""
    for attr in (*_ID_ATTRS, f"{{{_W16CID}}}paraId", f"{{{_W16CEX}}}durableId"):
        v = el.get(attr)
        if v is not None:
            return f"{el.tag}#{v}"
    return str(el.tag)


def _children(root: etree._Element | None) -> dict[str, etree._Element]:
    out: dict[str, etree._Element] = {}
    if root is None:
        return out
    for c in root:
        if isinstance(c.tag, str):
            out.setdefault(_item_key(c), c)
    return out


ItemMerge = Callable[[etree._Element, etree._Element, etree._Element, str], etree._Element]


def merge_keyed(b: etree._Element | None, o: etree._Element, t: etree._Element, ctx: Ctx,
                part: str, item_merge: ItemMerge | None = None,
                ignore: frozenset[str] = frozenset(), quiet: bool = False) -> etree._Element:
    """Three-way merge of a part whose children are identified by key; returns ours' root.

    Children whose tag is in ``ignore`` are taken from ours. With ``quiet`` (a part that is
    a cache, like the font table) an item both sides changed keeps ours without a conflict.
    """
    cb, co, ct = _children(b), _children(o), _children(t)
    order = list(co)
    pos = {k: i for i, k in enumerate(order)}
    prev: str | None = None
    inserts: dict[str | None, list[str]] = {}
    for k in ct:
        if k not in pos:
            inserts.setdefault(prev, []).append(k)
        else:
            prev = k
    full: list[str] = list(inserts.get(None, []))
    for k in order:
        full.append(k)
        full.extend(inserts.get(k, []))
    result: list[etree._Element] = []
    for k in full:
        xb, xo, xt = cb.get(k), co.get(k), ct.get(k)
        if k.split("#")[0] in ignore:
            if xo is not None:
                result.append(xo)
            continue
        kb = canon(xb, NOGB) if xb is not None else None
        ko = canon(xo, NOGB) if xo is not None else None
        kt = canon(xt, NOGB) if xt is not None else None
        if ko == kt or kt == kb:
            chosen = xo
        elif ko == kb:
            chosen = xt
        elif xo is not None and xt is not None and item_merge is not None:
            chosen = item_merge(xb if xb is not None else etree.Element(xo.tag), xo, xt, k)
        elif quiet:
            chosen = xo if xo is not None else xt
        else:
            from gitsync.merge.docx.ooxml import visible_text

            ctx.conflict(f"{part} ({k.rpartition('}')[2]})",
                         visible_text(xb) if xb is not None else "",
                         visible_text(xo) if xo is not None else "",
                         visible_text(xt) if xt is not None else "", "part")
            chosen = xo if xo is not None else xt
        if chosen is not None:
            result.append(chosen)
    o[:] = result
    return o


def merge_container(b: etree._Element | None, o: etree._Element, t: etree._Element,
                    ctx: Ctx, prefix: str) -> etree._Element:
    """Merge an element whose children are blocks (header, footer, note, comment)."""
    bl = [c for c in b if isinstance(c.tag, str)] if b is not None else []
    ol = [c for c in o if isinstance(c.tag, str)]
    tl = [c for c in t if isinstance(c.tag, str)]
    o[:] = merge_blocks(bl, ol, tl, ctx, prefix=prefix)
    return o


def merge_xml_part(name: str, b: etree._Element | None, o: etree._Element,
                   t: etree._Element, ctx: Ctx) -> etree._Element:
    """Merge one XML part both sides changed; ours' root, merged in place."""
    if name in _NOTES:
        def note(xb: etree._Element, xo: etree._Element, xt: etree._Element,
                 key: str) -> etree._Element:
            return merge_container(xb, xo, xt, ctx, f"{name} {_NOTES[name]} "
                                   f"{key.rpartition('#')[2]}, ")
        return merge_keyed(b, o, t, ctx, name, note)
    if _HDR_FTR.match(name):
        return merge_container(b, o, t, ctx, f"{name}, ")
    if name == "word/settings.xml":
        return merge_keyed(b, o, t, ctx, name, ignore=SETTINGS_NOISE)
    if name == "word/styles.xml":
        return merge_keyed(b, o, t, ctx, name, ignore=STYLES_NOISE)
    if name == "word/fontTable.xml":
        return merge_keyed(b, o, t, ctx, name, quiet=True)
    if name in KEYED_PARTS:
        return merge_keyed(b, o, t, ctx, name)
    ctx.conflict(name, "", "", "", "part")
    return o


def latest_core(o: etree._Element, t: etree._Element) -> etree._Element:
    """The core properties of whichever side was modified last (ISO-8601 compares as text)."""
    return t if modified(t) > modified(o) else o


def modified(core: etree._Element | None) -> str:
    if core is None:
        return ""
    el = core.find(f"{{{DCTERMS_NS}}}modified")
    return (el.text or "").strip() if el is not None else ""


def remap_ids(part_root: etree._Element, item_tag: str, doc_root: etree._Element,
              ref_tags: tuple[str, ...], mapping: dict[str, str]) -> None:
    """Renumber note/comment ids in theirs' part and the references to them in its body."""
    if not mapping:
        return
    for el in part_root.iter(item_tag):
        v = el.get(W_ID)
        if v in mapping:
            el.set(W_ID, mapping[v])
    for el in doc_root.iter(*ref_tags):
        v = el.get(W_ID)
        if v in mapping:
            el.set(W_ID, mapping[v])


def clashing_ids(b: etree._Element | None, o: etree._Element | None, t: etree._Element,
                 item_tag: str, start: int) -> dict[str, str]:
    """Theirs' new note ids that ours also added with other content -> fresh ids."""
    def ids(root: etree._Element | None) -> dict[str, str]:
        if root is None:
            return {}
        return {el.get(W_ID, ""): canon(el, NOGB) for el in root.iter(item_tag)}

    ib, io, it = ids(b), ids(o), ids(t)
    mapping: dict[str, str] = {}
    nxt = start
    for i, c in it.items():
        if i in io and i not in ib and io[i] != c:
            mapping[i] = str(nxt)
            nxt += 1
    return mapping


NOTE_PARTS = (("word/footnotes.xml", w("footnote"), (w("footnoteReference"),)),
              ("word/endnotes.xml", w("endnote"), (w("endnoteReference"),)),
              ("word/comments.xml", w("comment"), (w("commentRangeStart"),
                                                    w("commentRangeEnd"),
                                                    w("commentReference"))))

