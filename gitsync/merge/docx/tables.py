"""Merge of a table both sides edited: row by row and cell by cell on an unchanged grid.

When either side changed the column grid, or a row's cells no longer line up, the table (or
that row) becomes one conflict: ours shown deleted and theirs inserted, as tracked changes.
"""

from __future__ import annotations

import copy

from lxml import etree

from gitsync.merge.docx.blocks import Ctx, block_conflict, choose3, merge_blocks
from gitsync.merge.docx.ooxml import (
    W_P,
    W_TBLGRID,
    W_TBLPR,
    W_TC,
    W_TCPR,
    W_TRPR,
    empty_like,
    make,
    w,
)

W_TBLPREX = w("tblPrEx")


Heads = dict[str, etree._Element]


def _split(els: tuple[etree._Element, ...], heads: tuple[str, ...]
           ) -> tuple[list[Heads], list[list[etree._Element]]]:
    """Each version's leading property elements (by tag), and the items that follow them."""
    all_heads: list[Heads] = []
    all_items: list[list[etree._Element]] = []
    for el in els:
        head: Heads = {}
        items: list[etree._Element] = []
        for child in el:
            if not isinstance(child.tag, str):
                continue
            if child.tag in heads and not items:
                head[child.tag] = child
            else:
                items.append(child)
        all_heads.append(head)
        all_items.append(items)
    return all_heads, all_items


def _add_chosen(out: etree._Element, heads: list[Heads], tag: str, ctx: Ctx, where: str) -> None:
    """Append (a copy of) the side's ``tag`` properties that :func:`choose3` picks, if any."""
    el = choose3(heads[0].get(tag), heads[1].get(tag), heads[2].get(tag), ctx, where)
    if el is not None:
        out.append(copy.deepcopy(el))


def merge_table(b: etree._Element, o: etree._Element, t: etree._Element, ctx: Ctx,
                where: str) -> list[etree._Element]:
    heads, (ib, io, it) = _split((b, o, t), (W_TBLPR, W_TBLGRID))
    grids = [ctx.key(h[W_TBLGRID], s) if W_TBLGRID in h else "" for s, h in enumerate(heads)]
    if not grids[0] == grids[1] == grids[2]:
        return block_conflict(b, o, t, ctx, where, "table")
    tbl = empty_like(o)
    _add_chosen(tbl, heads, W_TBLPR, ctx, where)
    if W_TBLGRID in heads[1]:
        tbl.append(copy.deepcopy(heads[1][W_TBLGRID]))
    tbl.extend(merge_blocks(ib, io, it, ctx, prefix=f"{where}, "))
    return [tbl]


def merge_row(b: etree._Element, o: etree._Element, t: etree._Element, ctx: Ctx,
              where: str) -> list[etree._Element]:
    heads, (cb, co, ct) = _split((b, o, t), (W_TBLPREX, W_TRPR))
    if not (len(cb) == len(co) == len(ct)) or any(c.tag != W_TC for c in cb + co + ct):
        return block_conflict(b, o, t, ctx, where, "row")
    tr = empty_like(o)
    for tag in (W_TBLPREX, W_TRPR):
        _add_chosen(tr, heads, tag, ctx, where)
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
    heads, (ib, io, it) = _split((b, o, t), (W_TCPR,))
    tc = empty_like(o)
    _add_chosen(tc, heads, W_TCPR, ctx, where)
    blocks = merge_blocks(ib, io, it, ctx, prefix=f"{where}, ")
    tc.extend(blocks)
    if not blocks or blocks[-1].tag != W_P:
        tc.append(make(W_P))  # a cell must end with a paragraph
    return tc
