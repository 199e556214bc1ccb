"""Relationships and content types: union of both sides, ids renumbered where they clash."""

from __future__ import annotations

import copy
import posixpath

from lxml import etree

from gitsync.merge.docx.ooxml import CT_NS, PKG_REL_NS, R_NS

REL = f"{{{PKG_REL_NS}}}Relationship"
CT_DEFAULT = f"{{{CT_NS}}}Default"
CT_OVERRIDE = f"{{{CT_NS}}}Override"
_R_PREFIX = f"{{{R_NS}}}"
# Relationship ids are r:* attributes anywhere in a part; XPath finds them in C, about ten
# times faster than visiting every element's attributes from Python (styles parts have
# thousands of elements and no r:* attribute at all).
_R_ATTRS = etree.XPath("descendant-or-self::*/@r:*", namespaces={"r": R_NS},
                       smart_strings=False)
_R_OWNERS = etree.XPath("descendant-or-self::*[@r:*]", namespaces={"r": R_NS})
#: Content types for extensions no input declares (a fixed table, not the host's mime.types,
#: so the output never depends on the machine).
MEDIA_TYPES = {
    "png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "gif": "image/gif",
    "bmp": "image/bmp", "tif": "image/tiff", "tiff": "image/tiff", "svg": "image/svg+xml",
    "emf": "image/x-emf", "wmf": "image/x-wmf", "wdp": "image/vnd.ms-photo",
    "xml": "application/xml", "rels": "application/vnd.openxmlformats-package.relationships+xml",
    "bin": "application/vnd.openxmlformats-officedocument.oleObject",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def rels_name(part: str) -> str:
    """The relationships part of a part: word/document.xml -> word/_rels/document.xml.rels."""
    d, f = posixpath.split(part)
    return posixpath.join(d, "_rels", f + ".rels")


def resolve(source_part: str, target: str) -> str:
    """Package part name a relative target points to, seen from ``source_part``."""
    if target.startswith("/"):
        return target.lstrip("/")
    return posixpath.normpath(posixpath.join(posixpath.dirname(source_part), target))


def relative(source_part: str, part: str) -> str:
    return posixpath.relpath(part, posixpath.dirname(source_part) or ".")


def empty_rels() -> etree._Element:
    return etree.Element(f"{{{PKG_REL_NS}}}Relationships", nsmap={None: PKG_REL_NS})


def _spec(rel: etree._Element) -> tuple[str, str, str]:
    return (rel.get("Type", ""), rel.get("Target", ""), rel.get("TargetMode", "Internal"))


def _next_id(used: set[str]) -> str:
    n = len(used) + 1
    while f"rId{n}" in used:
        n += 1
    return f"rId{n}"


def merge_rels(ours: etree._Element, theirs: etree._Element,
               base: etree._Element | None = None) -> tuple[etree._Element, dict[str, str]]:
    """Ours' relationships plus theirs' new ones; returns the map of theirs' ids to merged ids.

    A theirs relationship pointing where one of ours already points reuses ours' id; a new
    one keeps its id when free and gets a fresh ``rIdN`` when ours uses that id differently.
    """
    merged = copy.deepcopy(ours)
    by_spec: dict[tuple[str, str, str], str] = {}
    used: set[str] = set()
    for rel in merged.iter(REL):
        by_spec.setdefault(_spec(rel), rel.get("Id", ""))
        used.add(rel.get("Id", ""))
    in_base = {_spec(r) for r in base.iter(REL)} if base is not None else set()
    mapping: dict[str, str] = {}
    for rel in theirs.iter(REL):
        rid, spec = rel.get("Id", ""), _spec(rel)
        if spec in by_spec:
            mapping[rid] = by_spec[spec]
            continue
        if spec in in_base:
            continue  # ours removed it; theirs kept it unchanged
        new = rid if rid not in used else _next_id(used)
        used.add(new)
        mapping[rid] = new
        by_spec[spec] = new
        added = copy.deepcopy(rel)
        added.set("Id", new)
        merged.append(added)
    return merged, mapping


def remap_rids(root: etree._Element, mapping: dict[str, str]) -> None:
    """Rewrite every r:* attribute (r:id, r:embed, r:link, ...) through ``mapping``."""
    if all(k == v for k, v in mapping.items()):
        return
    for el in _R_OWNERS(root):
        for name, value in el.attrib.items():
            if name.startswith(_R_PREFIX) and value in mapping:
                el.set(name, mapping[value])


def referenced_rids(root: etree._Element) -> set[str]:
    """Every non-empty r:* attribute value in the part (r:id, r:embed, r:link, ...)."""
    return {v for v in _R_ATTRS(root) if v}  # type: ignore[union-attr]


def merge_content_types(ours: etree._Element, others: list[etree._Element],
                        parts: set[str]) -> etree._Element:
    """Ours' content types, plus others' for parts now present, minus overrides of gone parts.

    Every part ends up covered: by an Override, or by a Default for its extension (guessed
    from the extension when no input declares one).
    """
    merged = copy.deepcopy(ours)
    defaults = {d.get("Extension", "").lower(): d for d in merged.iter(CT_DEFAULT)}
    overrides = {o.get("PartName", "").lstrip("/"): o for o in merged.iter(CT_OVERRIDE)}
    for name, o in list(overrides.items()):
        if name not in parts:
            merged.remove(o)
            del overrides[name]
    for other in others:
        for d in other.iter(CT_DEFAULT):
            ext = d.get("Extension", "").lower()
            if ext not in defaults:
                defaults[ext] = copy.deepcopy(d)
                _insert_default(merged, defaults[ext])
        for o in other.iter(CT_OVERRIDE):
            name = o.get("PartName", "").lstrip("/")
            if name in parts and name not in overrides:
                overrides[name] = copy.deepcopy(o)
                merged.append(overrides[name])
    for name in sorted(parts):
        if name == "[Content_Types].xml" or name in overrides:
            continue
        ext = posixpath.basename(name).rpartition(".")[2].lower()
        if ext not in defaults:
            guess = MEDIA_TYPES.get(ext, "application/octet-stream")
            d = etree.Element(CT_DEFAULT, Extension=ext, ContentType=guess)
            defaults[ext] = d
            _insert_default(merged, d)
    return merged


def _insert_default(root: etree._Element, d: etree._Element) -> None:
    last = None
    for el in root.iter(CT_DEFAULT):
        last = el
    if last is not None:
        last.addnext(d)
    else:
        root.insert(0, d)


def add_override(root: etree._Element, part: str, content_type: str) -> None:
    for o in root.iter(CT_OVERRIDE):
        if o.get("PartName", "").lstrip("/") == part:
            return
    etree.SubElement(root, CT_OVERRIDE, PartName="/" + part, ContentType=content_type)
