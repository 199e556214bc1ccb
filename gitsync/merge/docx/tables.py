"""Merge of a table both sides edited: row by row and cell by cell on an unchanged grid.

When either side changed the column grid, or a row's cells no longer line up, the table (or
that row) becomes one conflict: ours shown deleted and theirs inserted, as tracked changes.
"""

from __future__ import annotations

import copy

from lxml import etree

from gitsync.merge.docx.blocks import Ctx, choose3, merge_sequence, render_conflict
from gitsync.merge.docx.ooxml import (
    W_P,
    W_TBLGRID,
    W_TBLPR,
    W_TC,
    W_TCPR,
    W_TRPR,
    block_text,
    make,
    w,
)

W_TBLPREX = w("tblPrEx")


def _split(el: etree._Element, heads: tuple[str, ...]) -> tuple[dict[str, etree._Element],
                                                                  list[etree._Element]]:
    head: dict[str, etree._Element] = {}
    items: list[etree._Element] = []
    for child in el:
        if not isinstance(child.tag, str):
            continue
        if child.tag in heads and not items:
            head[child.tag] = child
        else:
            items.append(child)
    return head, items


def merge_table(b: etree._Element, o: etree._Element, t: etree._Element, ctx: Ctx,
                where: str) -> list[etree._Element]:
    heads = (W_TBLPR, W_TBLGRID)
    hb, ib = _split(b, heads)
    ho, io = _split(o, heads)
    ht, it = _split(t, heads)
    grids = [ctx.key(h[W_TBLGRID], s) if W_TBLGRID in h else "" for s, h in
             enumerate((hb, ho, ht))]
    if not grids[0] == grids[1] == grids[2]:
        ctx.conflict(where, block_text(b), block_text(o), block_text(t), "table")
        return render_conflict(ctx, [o], [t], block_text(b))
    tbl = etree.Element(o.tag, attrib=dict(o.attrib), nsmap=o.nsmap)
    tblpr = choose3(hb.get(W_TBLPR), ho.get(W_TBLPR), ht.get(W_TBLPR), ctx, where)
    if tblpr is not None:
        tbl.append(copy.deepcopy(tblpr))
    if W_TBLGRID in ho:
        tbl.append(copy.deepcopy(ho[W_TBLGRID]))
    for el in merge_sequence(ib, io, it, ctx, prefix=f"{where}, "):
        tbl.append(el)
    return [tbl]


def merge_row(b: etree._Element, o: etree._Element, t: etree._Element, ctx: Ctx,
              where: str) -> list[etree._Element]:
    heads = (W_TBLPREX, W_TRPR)
    hb, cb = _split(b, heads)
    ho, co = _split(o, heads)
    ht, ct = _split(t, heads)
    if not (len(cb) == len(co) == len(ct)) or any(c.tag != W_TC for c in cb + co + ct):
        ctx.conflict(where, block_text(b), block_text(o), block_text(t), "row")
        return render_conflict(ctx, [o], [t], block_text(b))
    tr = etree.Element(o.tag, attrib=dict(o.attrib), nsmap=o.nsmap)
    for tag in heads:
        el = choose3(hb.get(tag), ho.get(tag), ht.get(tag), ctx, where)
        if el is not None:
            tr.append(copy.deepcopy(el))
    for n, (xb, xo, xt) in enumerate(zip(cb, co, ct, strict=True), start=1):
        kb, ko, kt = ctx.key(xb, 0), ctx.key(xo, 1), ctx.key(xt, 2)
        if ko == kb:
            tr.append(xt)
        elif kt == kb or ko == kt:
            tr.append(xo)
        else:
            tr.append(_merge_cell(xb, xo, xt, ctx, f"{where}, cell {n}"))
    return [tr]


def _merge_cell(b: etree._Element, o: etree._Element, t: etree._Element, ctx: Ctx,
                where: str) -> etree._Element:
    hb, ib = _split(b, (W_TCPR,))
    ho, io = _split(o, (W_TCPR,))
    ht, it = _split(t, (W_TCPR,))
    tc = etree.Element(o.tag, attrib=dict(o.attrib), nsmap=o.nsmap)
    tcpr = choose3(hb.get(W_TCPR), ho.get(W_TCPR), ht.get(W_TCPR), ctx, where)
    if tcpr is not None:
        tc.append(copy.deepcopy(tcpr))
    blocks = merge_sequence(ib, io, it, ctx, prefix=f"{where}, ")
    for el in blocks:
        tc.append(el)
    if not blocks or blocks[-1].tag != W_P:
        tc.append(make(W_P))  # a cell must end with a paragraph
    return tc
