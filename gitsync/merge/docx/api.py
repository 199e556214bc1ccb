"""Public entry points of the .docx merger: merge, textconv, and the Merger adapter."""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import posixpath
import re
import urllib.parse
from typing import TYPE_CHECKING

from lxml import etree

from gitsync.merge.base import Conflict, Merger, MergeResult, Versions
from gitsync.merge.docx.blocks import Ctx, ItemMerger, choose3, merge_blocks
from gitsync.merge.docx.errors import DocxError, LimitExceededError
from gitsync.merge.docx.fixups import dedupe_ids
from gitsync.merge.docx.limits import DEFAULT_LIMITS, DocxLimits
from gitsync.merge.docx.normal import Formatting
from gitsync.merge.docx.numbering import remap_numbering
from gitsync.merge.docx.ooxml import (
    CT_COMMENTS,
    REL_TYPE_COMMENTS,
    W_BODY,
    W_ID,
    W_NS,
    W_P,
    W_SECTPR,
    W_TBL,
    W_TR,
    visible_text,
    w,
)
from gitsync.merge.docx.package import (
    CONTENT_TYPES,
    DOCUMENT_PART,
    Package,
    parse_xml,
    read_package,
    serialize_xml,
    write_package,
)
from gitsync.merge.docx.paragraph import merge_paragraph
from gitsync.merge.docx.parts import (
    DERIVED_PARTS,
    NOTE_PARTS,
    clashing_ids,
    latest_core,
    merge_xml_part,
    modified,
    remap_ids,
)
from gitsync.merge.docx.rels import (
    REL,
    add_override,
    empty_rels,
    merge_content_types,
    merge_rels,
    referenced_rids,
    relative,
    rels_name,
    remap_rids,
    resolve,
)
from gitsync.merge.docx.runs import goback_ids
from gitsync.merge.docx.sections import SectionFolds, strip_marks
from gitsync.merge.docx.tables import merge_row, merge_table
from gitsync.merge.docx.textconv import docx_text
from gitsync.merge.docx.tracked import Tracker
from gitsync.merge.docx.validate import validate_package

if TYPE_CHECKING:  # the datetime module is imported only when a caller passes a date
    from datetime import datetime

DOCX_SUFFIXES = (".docx", ".docm", ".dotx")
#: How a block both sides edited is merged, by tag (content controls: in blocks.py).
ITEM_MERGERS: dict[str, ItemMerger] = {W_P: merge_paragraph, W_TBL: merge_table, W_TR: merge_row}
DOC_RELS = rels_name(DOCUMENT_PART)
CORE_PART = "docProps/core.xml"
NUMBERING_PART = "word/numbering.xml"
COMMENTS_PART = "word/comments.xml"
_ID_RE = re.compile(rb'w:id="(-?\d+)"')
_EPOCH = "1970-01-01T00:00:00Z"
#: Conflict kinds kept as ours without tracked changes (whole parts, properties).
UNSHOWN_KINDS = frozenset(("part", "formatting"))

__all__ = ["DocxMerger", "docx_text", "merge_docx"]


def merge_docx(
    base: bytes | None,
    ours: bytes,
    theirs: bytes,
    *,
    ours_label: str,
    theirs_label: str,
    limits: DocxLimits | None = None,
    now: datetime | None = None,
) -> MergeResult:
    """Three-way merge of Word documents; pure and deterministic.

    Returns the merged package and the conflicts; conflicts are also written into the
    document as tracked changes by ``theirs_label`` dated ``now`` (default: the latest
    modification time in the inputs' core properties, never the wall clock). Identical
    inputs short-cut: merge(b, b, x) and merge(b, x, x) return x byte for byte. Raises a
    :class:`DocxError` subclass for inputs it cannot merge or an output that fails the
    self-check.
    """
    lim = limits or DEFAULT_LIMITS
    po = read_package(ours, lim, label="ours")
    pt = read_package(theirs, lim, label="theirs")
    pb = read_package(base, lim, label="base") if base is not None else None
    docs = [_precheck(pkg, lim, label) if pkg is not None else None
            for label, pkg in (("base", pb), ("ours", po), ("theirs", pt))]
    if ours == theirs or (base is not None and base == theirs):
        return MergeResult(data=ours)
    if base is not None and base == ours:
        return MergeResult(data=theirs)
    return _DocxMerge(pb, po, pt, ours_label, theirs_label, lim, now).run(*docs)


def _precheck(pkg: Package, lim: DocxLimits, label: str) -> etree._Element:
    """Parse the parts every merge needs, refusing unsafe XML and oversized bodies."""
    parse_xml(pkg.parts[CONTENT_TYPES], CONTENT_TYPES, lim)
    doc = parse_xml(pkg.parts[DOCUMENT_PART], DOCUMENT_PART, lim)
    count = sum(1 for _ in doc.iter(W_P, W_TBL))
    if count > lim.max_paragraphs:
        raise LimitExceededError(
            f"{label} has {count} paragraphs and tables (limit {lim.max_paragraphs})",
            limit="max_paragraphs", part=DOCUMENT_PART)
    return doc


def _format_date(now: datetime | None, pkgs: list[Package | None], lim: DocxLimits) -> str:
    if now is not None:
        if now.tzinfo is not None:
            from datetime import UTC

            now = now.astimezone(UTC)
        return now.strftime("%Y-%m-%dT%H:%M:%SZ")
    latest = ""
    for pkg in pkgs:
        if pkg is not None and CORE_PART in pkg.parts:
            try:
                latest = max(latest, modified(parse_xml(pkg.parts[CORE_PART], CORE_PART, lim)))
            except DocxError:
                continue
    return latest if re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", latest) else _EPOCH


STYLES_PART = "word/styles.xml"
THEME_PART = "word/theme/theme1.xml"
#: Parts whose paragraphs are compared by their effective formatting (see normal.py).
_STYLED_PARTS = ("word/header", "word/footer", "word/footnotes", "word/endnotes",
                 "word/comments")


class _DocxMerge:
    """One merge run; holds the three packages and the output being built."""

    def __init__(self, pb: Package | None, po: Package, pt: Package, ours_label: str,
                 theirs_label: str, lim: DocxLimits, now: datetime | None) -> None:
        self.pb, self.po, self.pt = pb, po, pt.copy()
        self.bparts = pb.parts if pb is not None else {}
        self.ours_label, self.theirs_label = ours_label, theirs_label
        self.lim = lim
        self.out = po.copy()
        self.conflicts: list[Conflict] = []
        self.notes: list[str] = []
        date = _format_date(now, [pb, po, pt], lim)
        start = 1 + max((int(m) for pkg in (po, pt) for name, data in pkg.parts.items()
                         if name.startswith("word/") and name.endswith(".xml")
                         and b'w:id="' in data for m in _ID_RE.findall(data)), default=0)
        self.tracker = Tracker(theirs_label, date, start)
        self._fmts: tuple[Formatting, Formatting, Formatting] | None = None
        self._targets: tuple[dict[str, str], ...] = ({}, {}, {})
        self._side_notes: tuple[dict[str, str], ...] | None = None  # read once per merge

    def parse(self, parts: dict[str, bytes], name: str) -> etree._Element | None:
        data = parts.get(name)
        return parse_xml(data, name, self.lim) if data is not None else None

    def ctx(self, b: etree._Element | None, o: etree._Element, t: etree._Element,
            part: str) -> Ctx:
        gb = goback_ids(b) if b is not None else frozenset()
        gobacks = (gb, goback_ids(o), goback_ids(t))
        fmts: tuple[Formatting | None, ...] = (None, None, None)
        slots = (0, 1, 2)
        if part == DOCUMENT_PART or part.startswith(_STYLED_PARTS):
            sides = (self.bparts, self.po.parts, self.pt.parts)
            if self._side_notes is None:
                self._side_notes = tuple(self._notes(parts) for parts in sides)
            notes = self._side_notes
            targets = self._targets if part == DOCUMENT_PART else ({}, {}, {})
            fmts = tuple(dataclasses.replace(f, targets=t, notes=n) for f, t, n
                         in zip(self._formatting(), targets, notes, strict=True))
            # Sides with the same styles, theme, links and notes compare blocks the same
            # way: one key cache serves them (the common case of one editor).
            prints = [(parts.get(STYLES_PART), parts.get(THEME_PART), sorted(t.items()),
                       sorted(n.items()), sorted(g)) for parts, t, n, g
                      in zip(sides, targets, notes, gobacks, strict=True)]
            slots = tuple(prints.index(p) for p in prints)  # type: ignore[assignment]
        return Ctx(self.tracker, gobacks, self.conflicts,
                   ITEM_MERGERS, part, self.theirs_label, self.ours_label,
                   fmts=fmts, slots=slots)  # type: ignore[arg-type]

    def _notes(self, parts: dict[str, bytes]) -> dict[str, str]:
        """Each footnote's and endnote's text by reference ("footnoteReference:ID")."""
        out: dict[str, str] = {}
        for name, item_tag, _refs in NOTE_PARTS:
            ref = {"word/footnotes.xml": "footnoteReference",
                   "word/endnotes.xml": "endnoteReference"}.get(name)
            root = self.parse(parts, name) if ref else None
            if root is None:
                continue
            for note in root.iter(item_tag):
                out[f"{ref}:{note.get(W_ID, '')}"] = visible_text(note)
        return out

    def _formatting(self) -> tuple[Formatting, Formatting, Formatting]:
        """Each side's effective formatting, read once from its own styles and theme."""
        if self._fmts is None:
            self._fmts = tuple(  # type: ignore[assignment]
                Formatting.read(self.parse(parts, STYLES_PART), self.parse(parts, THEME_PART))
                for parts in (self.bparts, self.po.parts, self.pt.parts))
        assert self._fmts is not None
        return self._fmts

    def run(self, b_doc: etree._Element | None, o_doc: etree._Element | None,
            t_doc: etree._Element | None) -> MergeResult:
        """Merge; the parsed document parts are taken (and modified) from the caller."""
        assert o_doc is not None and t_doc is not None
        if b_doc is None:
            b_doc = copy.deepcopy(o_doc)
            body = b_doc.find(W_BODY)
            if body is not None:
                body[:] = [c for c in body if c.tag == W_SECTPR]
        self._rename_clashing_media()
        t_rels = self.parse(self.pt.parts, DOC_RELS)
        t_rels = t_rels if t_rels is not None else empty_rels()
        o_rels = self.parse(self.po.parts, DOC_RELS)
        b_rels = self.parse(self.bparts, DOC_RELS)
        t_targets = _targets(self.pt.parts, t_rels)
        merged_rels, mapping = merge_rels(o_rels if o_rels is not None else empty_rels(),
                                          t_rels, b_rels)
        # Theirs' ids are renumbered into the merged relationships below (remap_rids).
        self._targets = (_targets(self.bparts, b_rels), _targets(self.po.parts, o_rels),
                         {mapping.get(k, k): v for k, v in t_targets.items()})
        remap_rids(t_doc, mapping)
        self._remap_notes(t_doc)
        t_num = self.parse(self.pt.parts, NUMBERING_PART)
        if t_num is not None and remap_numbering(self.parse(self.bparts, NUMBERING_PART),
                                                 self.parse(self.po.parts, NUMBERING_PART),
                                                 t_num, t_doc):
            self.pt.parts[NUMBERING_PART] = serialize_xml(t_num)
        self._merge_parts()
        comments = self.parse(self.out.parts, COMMENTS_PART)
        new_comments = comments is None
        if comments is None:
            comments = etree.Element(w("comments"), nsmap={"w": W_NS})
        n_comments = len(comments)
        self.tracker.comments = comments
        self._merge_body(b_doc, o_doc, t_doc)
        dedupe_ids(o_doc)
        self._restore_notes(o_doc, comments)
        if len(comments) > n_comments:
            self.out.parts[COMMENTS_PART] = serialize_xml(comments)
            if new_comments:
                merged_rels.append(etree.Element(REL, Id=_free_id(merged_rels),
                                                 Type=REL_TYPE_COMMENTS,
                                                 Target="comments.xml"))
        self._settle_rels(o_doc, merged_rels, mapping)
        self.out.parts[DOCUMENT_PART] = serialize_xml(o_doc)
        self._put_if_changed(DOC_RELS, merged_rels)
        self._content_types(new_comments and len(comments) > n_comments)
        data = write_package(self.out, [p for p in (self.po, self.pt, self.pb) if p is not None])
        validate_package(data, self.lim)
        shown = [c for c in self.conflicts if c.kind not in UNSHOWN_KINDS]
        unshown = len(self.conflicts) - len(shown) + self.tracker.unshown
        if unshown:
            self.notes.append(f"{unshown} conflict(s) could not be shown as tracked changes; "
                              "ours was kept there")
        # Only when every conflict is visible in the document may the engine skip the copy.
        in_doc = self.tracker.used and not unshown
        return MergeResult(data=data, conflicts=tuple(self.conflicts),
                           conflicts_in_document=in_doc, notes=tuple(self.notes))

    # -- steps ------------------------------------------------------------------------------

    def _rename_clashing_media(self) -> None:
        """Media both sides added under one name with different bytes: theirs is renamed."""
        o, t = self.po.parts, self.pt.parts
        taken = set(o) | set(t) | set(self.bparts)
        renames: dict[str, str] = {}
        for name in list(t):
            if (name.startswith("word/media/") and name in o and name not in self.bparts
                    and o[name] != t[name]):
                stem, ext = posixpath.splitext(name)
                n = 1
                while f"{stem}_{n}{ext}" in taken:
                    n += 1
                renames[name] = f"{stem}_{n}{ext}"
                taken.add(renames[name])
        if not renames:
            return
        for old, new in renames.items():
            t[new] = t.pop(old)
        for rname in [n for n in t if n.endswith(".rels")]:
            root = parse_xml(t[rname], rname, self.lim)
            source = rname.replace("_rels/", "").removesuffix(".rels")
            changed = False
            for rel in root.iter(REL):
                if rel.get("TargetMode") == "External":
                    continue
                target = resolve(source, rel.get("Target", ""))
                if target in renames:
                    rel.set("Target", relative(source, renames[target]))
                    changed = True
            if changed:
                t[rname] = serialize_xml(root)

    def _remap_notes(self, t_doc: etree._Element) -> None:
        for name, item_tag, ref_tags in NOTE_PARTS:
            t_root = self.parse(self.pt.parts, name)
            if t_root is None:
                continue
            mapping = clashing_ids(self.parse(self.bparts, name),
                                   self.parse(self.po.parts, name), t_root, item_tag,
                                   self.tracker.reserve(0))
            if mapping:
                self.tracker.reserve(len(mapping))
                remap_ids(t_root, item_tag, t_doc, ref_tags, mapping)
                self.pt.parts[name] = serialize_xml(t_root)

    def _merge_parts(self) -> None:
        special = {DOCUMENT_PART, DOC_RELS, CONTENT_TYPES}
        o, t, b = self.po.parts, self.pt.parts, self.bparts
        names = [n for n in o if n not in special]
        names += [n for n in t if n not in special and n not in o]
        names += [n for n in b if n not in special and n not in o and n not in t]
        for name in names:
            xb, xo, xt = b.get(name), o.get(name), t.get(name)
            if xo == xt or xb == xt:
                res = xo
            elif xb == xo:
                res = xt
            else:
                res = self._merge_changed(name, xb, xo, xt)
            if res is None:
                self.out.parts.pop(name, None)
            else:
                self.out.parts[name] = res

    def _merge_changed(self, name: str, xb: bytes | None, xo: bytes | None,
                       xt: bytes | None) -> bytes | None:
        """A part both sides changed (or one changed and the other deleted)."""
        if xo is None or xt is None:
            kept = xo if xo is not None else xt
            if xb is not None and kept is not None and self._same_text(name, xb, kept):
                return None  # the other side only re-saved what this side deleted
            self.conflicts.append(Conflict(where=name, base="", ours="", theirs="",
                                           kind="part"))
            return kept
        if name in DERIVED_PARTS:
            return xo
        if name == CORE_PART:
            ro = parse_xml(xo, name, self.lim)
            rt = parse_xml(xt, name, self.lim)
            return xt if latest_core(ro, rt) is rt else xo
        if name.endswith(".rels"):
            merged, _ = merge_rels(parse_xml(xo, name, self.lim), parse_xml(xt, name, self.lim),
                                   parse_xml(xb, name, self.lim) if xb is not None else None)
            return serialize_xml(merged)
        if name.endswith(".xml") and name.startswith("word/"):
            rb = parse_xml(xb, name, self.lim) if xb is not None else None
            ro = parse_xml(xo, name, self.lim)
            rt = parse_xml(xt, name, self.lim)
            self.tracker.comments = None  # only the body may carry new comments
            return serialize_xml(merge_xml_part(name, rb, ro, rt, self.ctx(rb, ro, rt, name)))
        self.conflicts.append(Conflict(where=name, base="", ours="", theirs="", kind="part"))
        return xo

    def _same_text(self, name: str, a: bytes, b: bytes) -> bool:
        """Whether two versions of a part hold the same items with the same text (a
        comment's author too): another editor's re-save of an unchanged part."""
        if not (name.startswith("word/") and name.endswith(".xml")):
            return False
        ra, rb = parse_xml(a, name, self.lim), parse_xml(b, name, self.lim)

        def items(root: etree._Element) -> list[tuple[str, str, str]]:
            return [(etree.QName(el).localname, el.get(w("author"), ""), visible_text(el))
                    for el in root if isinstance(el.tag, str)
                    and el.get(w("type")) not in ("separator", "continuationSeparator")]

        return items(ra) == items(rb)

    def _merge_body(self, b_doc: etree._Element, o_doc: etree._Element,
                    t_doc: etree._Element) -> None:
        bb, ob, tb = (d.find(W_BODY) for d in (b_doc, o_doc, t_doc))
        if ob is None or tb is None:
            raise DocxError("word/document.xml has no body", part=DOCUMENT_PART)
        ctx = self.ctx(b_doc, o_doc, t_doc, DOCUMENT_PART)

        def split(body: etree._Element | None) -> tuple[list[etree._Element],
                                                         etree._Element | None]:
            if body is None:
                return [], None
            kids = [c for c in body if isinstance(c.tag, str)]
            if kids and kids[-1].tag == W_SECTPR:
                return kids[:-1], kids[-1]
            return kids, None

        lb, sb = split(bb)
        lo, so = split(ob)
        lt, st = split(tb)
        folds = SectionFolds()
        lb, lo, lt = (folds.fold(blocks, side) for side, blocks in enumerate((lb, lo, lt)))
        merged = folds.unfold(merge_blocks(lb, lo, lt, ctx))
        sect = choose3(sb, so, st, ctx, "section properties")
        ob[:] = [*merged, *([sect] if sect is not None else [])]
        strip_marks(ob)

    def _restore_notes(self, doc: etree._Element, comments: etree._Element) -> None:
        """Bring back notes and comments the merged body still refers to.

        One side may have deleted a footnote whose reference survives in a paragraph the
        other side edited (kept, or shown as a conflict); the note comes back from whichever
        version still has it, so no reference dangles.
        """
        for name, item_tag, ref_tags in NOTE_PARTS:
            refs = {el.get(W_ID, "") for el in doc.iter(*ref_tags)}
            if not refs:
                continue
            root = comments if name == COMMENTS_PART else self.parse(self.out.parts, name)
            if root is None:
                continue
            missing = refs - {el.get(W_ID, "") for el in root.iter(item_tag)}
            if not missing:
                continue
            for parts in (self.pt.parts, self.po.parts, self.bparts):
                source = self.parse(parts, name)
                for item in source.iter(item_tag) if source is not None else ():
                    if item.get(W_ID, "") in missing:
                        missing.discard(item.get(W_ID, ""))
                        root.append(copy.deepcopy(item))
            if name != COMMENTS_PART:
                self.out.parts[name] = serialize_xml(root)

    def _settle_rels(self, doc: etree._Element, rels: etree._Element,
                     mapping: dict[str, str]) -> None:
        """Every id the body uses resolves; no relationship points at a missing part."""
        used = referenced_rids(doc)
        have = {r.get("Id") for r in rels.iter(REL)}
        sources: list[tuple[dict[str, str], Package | None, dict[str, bytes]]] = []
        for pkg, parts, remap in ((self.pt, self.pt.parts, mapping),
                                  (self.po, self.po.parts, {}),
                                  (self.pb, self.bparts, {})):
            root = parse_xml(parts[DOC_RELS], DOC_RELS, self.lim) if DOC_RELS in parts else None
            if root is None:
                continue
            for rel in root.iter(REL):
                rid = remap.get(rel.get("Id", ""), rel.get("Id", ""))
                if rid in used and rid not in have:
                    added = copy.deepcopy(rel)
                    added.set("Id", rid)
                    rels.append(added)
                    have.add(rid)
            sources.append(({}, pkg, parts))
        for rel in list(rels.iter(REL)):
            if rel.get("TargetMode") == "External":
                continue
            target = resolve(DOCUMENT_PART, rel.get("Target", ""))
            if target in self.out.parts:
                continue
            if rel.get("Id") in used:
                for _, _, parts in sources:
                    if target in parts:
                        self._restore(target, parts, depth=3)
                        break
            if target not in self.out.parts:
                rels.remove(rel)

    def _restore(self, part: str, parts: dict[str, bytes], depth: int) -> None:
        """Bring back a part the merged body still uses, with what it points to."""
        self.out.parts[part] = parts[part]
        rn = rels_name(part)
        if rn not in parts or depth == 0:
            return
        self.out.parts[rn] = parts[rn]
        for rel in parse_xml(parts[rn], rn, self.lim).iter(REL):
            if rel.get("TargetMode") == "External":
                continue
            target = resolve(part, rel.get("Target", ""))
            if target in parts and target not in self.out.parts:
                self._restore(target, parts, depth - 1)

    def _content_types(self, add_comments: bool) -> None:
        ct_o = parse_xml(self.po.parts[CONTENT_TYPES], CONTENT_TYPES, self.lim)
        others = [parse_xml(self.pt.parts[CONTENT_TYPES], CONTENT_TYPES, self.lim)]
        if CONTENT_TYPES in self.bparts:
            others.append(parse_xml(self.bparts[CONTENT_TYPES], CONTENT_TYPES, self.lim))
        merged = merge_content_types(ct_o, others, set(self.out.parts))
        if add_comments:
            add_override(merged, "word/comments.xml", CT_COMMENTS)
        self._put_if_changed(CONTENT_TYPES, merged)

    def _put_if_changed(self, name: str, root: etree._Element) -> None:
        """Keep ours' exact bytes when the merged part says the same thing."""
        old = self.po.parts.get(name)
        if old is not None:
            same = parse_xml(old, name, self.lim)
            if etree.tostring(same) == etree.tostring(root):
                self.out.parts[name] = old
                return
        self.out.parts[name] = serialize_xml(root)


def _targets(parts: dict[str, bytes], rels: etree._Element | None) -> dict[str, str]:
    """The body's relationship ids -> what they point to: the URL of an external target, a
    digest of an internal part's bytes (so a renamed image is the same image)."""
    out: dict[str, str] = {}
    if rels is None:
        return out
    for rel in rels.iter(REL):
        rid, target = rel.get("Id", ""), rel.get("Target", "")
        if rel.get("TargetMode") == "External":
            url = urllib.parse.urlsplit(target)
            # Editors add the root path a bare host implies: https://foo.com -> .../
            out[rid] = url._replace(path=url.path or "/").geturl() if url.netloc else target
        else:
            data = parts.get(resolve(DOCUMENT_PART, target))
            out[rid] = hashlib.sha1(data).hexdigest()[:16] if data is not None else target
    return out


def _free_id(rels: etree._Element) -> str:
    used = {r.get("Id") for r in rels.iter(REL)}
    n = 1
    while f"rId{n}" in used:
        n += 1
    return f"rId{n}"


class DocxMerger(Merger):
    """The :class:`gitsync.merge.base.Merger` for Word documents."""

    name = "docx"

    def accepts(self, path: str, base: bytes | None, ours: bytes, theirs: bytes) -> bool:
        """True for Word file names, or zip content holding ``word/document.xml``."""
        if path.lower().endswith(DOCX_SUFFIXES):
            return True
        return all(d[:4] == b"PK\x03\x04" and b"word/document.xml" in d for d in (ours, theirs))

    def merge_versions(self, v: Versions) -> MergeResult:
        """Merge via :func:`merge_docx` with default limits, dated ``v.now``."""
        return merge_docx(v.base, v.ours, v.theirs, ours_label=v.ours_label,
                          theirs_label=v.theirs_label, now=v.now)
