"""What a paragraph looks like, independent of which editor wrote it.

Word and LibreOffice write the same formatting differently: LibreOffice names the default
paragraph style on every paragraph, writes out properties the style already gives (fonts,
sizes, spacing, language), drops rsids, orders attributes its own way and rewrites section
properties with every default spelled out. Compared as XML, every paragraph of a LibreOffice
save differs from the Word save it came from, and a merge calls each one an edit.

A :class:`Formatting` is built from one side's styles part (and theme) and turns paragraph
and run properties into their *effective* values: docDefaults, then the style chain
(``basedOn``), then direct formatting, with unset values filled with the format's defaults,
booleans spelled one way, and properties that do not change what a reader sees (language
tags, complex-script sizes, proofing, widow control, East Asian layout) left out. Styles are
compared by name, not id, so a re-save that renames ids does not count either. Section
properties are reduced the same way (:meth:`Formatting.section_key`).

Keys are strings; equal keys mean the same look. The merge keeps whichever side's XML it
chooses byte for byte: normalising is only ever used to compare.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree

W_NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
A_NS = "http://schemas.openxmlformats.org/drawingml/2006/main"
R_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
M_NS = "http://schemas.openxmlformats.org/officeDocument/2006/math"
MC_NS = "http://schemas.openxmlformats.org/markup-compatibility/2006"
WP_NS = "http://schemas.openxmlformats.org/drawingml/2006/wordprocessingDrawing"
#: Embedded objects each editor writes in its own dialect (DrawingML details, VML
#: fallbacks, math run properties): compared by what they show instead.
OBJECT_TAGS = frozenset((f"{{{W_NS}}}drawing", f"{{{W_NS}}}pict", f"{{{W_NS}}}object",
                         f"{{{MC_NS}}}AlternateContent", f"{{{M_NS}}}oMath",
                         f"{{{M_NS}}}oMathPara"))
_EMU_PER_POINT = 12700
#: Table, row and cell properties: LibreOffice writes out widths, margins, indents and
#: layout it computes; what is compared is what the user chose (see Formatting.table_key).
TABLE_PROPS = frozenset(f"{{{W_NS}}}{t}" for t in ("tblPr", "trPr", "tcPr", "tblGrid"))
_TABLE_TOGGLES = frozenset(("tblHeader", "cantSplit", "noWrap", "hideMark"))
NOTE_REFS = frozenset((f"{{{W_NS}}}footnoteReference", f"{{{W_NS}}}endnoteReference"))
_W = f"{{{W_NS}}}"


def _w(local: str) -> str:
    return _W + local


_VAL = _w("val")
_TRUE = {"", "1", "true", "on"}

#: Run properties that are on/off toggles; absent means off.
RUN_TOGGLES = frozenset(("b", "i", "caps", "smallCaps", "strike", "dstrike", "vanish",
                         "emboss", "imprint", "outline", "shadow"))
#: Run properties with a single value, and the value that means "not set".
RUN_VALUES = {"color": "auto", "sz": "20", "highlight": "none", "vertAlign": "baseline",
              "u": "none", "position": "0", "spacing": "0", "effect": "none", "shd": "auto",
              "font": ""}
PARA_TOGGLES = frozenset(("keepNext", "keepLines", "pageBreakBefore", "contextualSpacing",
                          "bidi", "suppressLineNumbers"))
#: Paragraph properties read attribute by attribute: {element: {attribute: default}}.
PARA_ATTRS = {
    "spacing": {"before": "0", "after": "0", "line": "240", "lineRule": "auto",
                "beforeAutospacing": "0", "afterAutospacing": "0"},
    "ind": {"start": "0", "end": "0", "firstLine": "0", "hanging": "0"},
    "numPr": {},
    "shd": {"fill": "auto"},
}
_IND_ALIASES = {"left": "start", "right": "end"}
_JC_ALIASES = {"left": "start", "right": "end"}
SECTION_ATTRS = {
    "pgSz": {"w": "12240", "h": "15840", "orient": "portrait"},
    # Header and footer distances and the gutter are left out: LibreOffice models headers
    # as part of the margin and rewrites them on every save.
    "pgMar": {"top": "1440", "right": "1440", "bottom": "1440", "left": "1440"},
    "cols": {"num": "1"},
    "type": {"val": "nextPage"},
    "pgNumType": {"fmt": "decimal", "start": ""},
    "vAlign": {"val": "top"},
    "textDirection": {"val": "lrTb"},
}
SECTION_TOGGLES = frozenset(("titlePg", "bidi", "rtlGutter"))

Props = dict[str, str]


def _local(tag: object) -> str:
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def _toggle(el: etree._Element) -> str:
    return "1" if el.get(_VAL, "").lower() in _TRUE else "0"


def _num(value: str) -> str:
    """Twips and half-points: '0720' and '720.0' are 720."""
    try:
        f = float(value)
    except ValueError:
        return value
    return str(int(f)) if f == int(f) else str(f)


@dataclass
class _Style:
    kind: str
    name: str
    based_on: str | None
    ppr: etree._Element | None
    rpr: etree._Element | None


@dataclass
class Formatting:
    """Effective formatting of one side's document (see the module docstring)."""

    styles: dict[str, _Style] = field(default_factory=dict)
    default_para: str | None = None
    default_char: str | None = None
    doc_ppr: etree._Element | None = None
    doc_rpr: etree._Element | None = None
    theme_fonts: dict[str, str] = field(default_factory=dict)
    #: What each relationship id of the part points to (a URL, or a digest of the part):
    #: editors renumber ids and rename media on every save.
    targets: dict[str, str] = field(default_factory=dict)
    #: The text of each footnote and endnote by reference ("footnoteReference:ID"):
    #: editors renumber notes too.
    notes: dict[str, str] = field(default_factory=dict)
    _para_cache: dict[str, tuple[str, Props, Props]] = field(default_factory=dict)
    _char_cache: dict[str, Props] = field(default_factory=dict)
    # Keyed on raw XML; the run cache also on the identity of a (cached, never changed)
    # paragraph style's run properties.
    _ppr_cache: dict[bytes, tuple[str, Props]] = field(default_factory=dict)
    _rpr_cache: dict[tuple[int, bytes], str] = field(default_factory=dict)

    @classmethod
    def read(cls, styles: etree._Element | None,
             theme: etree._Element | None = None) -> Formatting:
        fmt = cls()
        if theme is not None:
            for which in ("major", "minor"):
                latin = theme.find(f".//{{{A_NS}}}{which}Font/{{{A_NS}}}latin")
                if latin is not None and latin.get("typeface"):
                    fmt.theme_fonts[which] = latin.get("typeface", "")
        if styles is None:
            return fmt
        defaults = styles.find(_w("docDefaults"))
        if defaults is not None:
            fmt.doc_ppr = defaults.find(f"{_w('pPrDefault')}/{_w('pPr')}")
            fmt.doc_rpr = defaults.find(f"{_w('rPrDefault')}/{_w('rPr')}")
        for st in styles.iter(_w("style")):
            sid = st.get(_w("styleId"))
            if not sid:
                continue
            kind = st.get(_w("type"), "paragraph")
            name_el = st.find(_w("name"))
            name = name_el.get(_VAL, sid) if name_el is not None else sid
            based = st.find(_w("basedOn"))
            fmt.styles[sid] = _Style(kind, "".join(name.lower().split()),
                                     based.get(_VAL) if based is not None else None,
                                     st.find(_w("pPr")), st.find(_w("rPr")))
            if st.get(_w("default"), "").lower() in _TRUE | {"1"}:
                if kind == "paragraph" and fmt.default_para is None:
                    fmt.default_para = sid
                elif kind == "character" and fmt.default_char is None:
                    fmt.default_char = sid
        return fmt

    # -- style chains ---------------------------------------------------------------------

    def _chain(self, sid: str | None) -> list[_Style]:
        """The style and its ancestors, root first (cycles and unknown ids cut)."""
        chain: list[_Style] = []
        seen: set[str] = set()
        while sid and sid in self.styles and sid not in seen:
            seen.add(sid)
            st = self.styles[sid]
            chain.append(st)
            sid = st.based_on
        return chain[::-1]

    def _paragraph_style(self, sid: str | None) -> tuple[str, Props, Props]:
        """(style name, paragraph props, run props) a paragraph style gives, defaults in."""
        key = sid if sid in self.styles and self.styles[sid].kind == "paragraph" else None
        key = key or self.default_para or ""
        hit = self._para_cache.get(key)
        if hit is not None:
            return hit
        pp: Props = {}
        rp: Props = {}
        self._read_ppr(self.doc_ppr, pp)
        self._read_rpr(self.doc_rpr, rp)
        chain = self._chain(key)
        for st in chain:
            self._read_ppr(st.ppr, pp)
            self._read_rpr(st.rpr, rp)
        name = chain[-1].name if chain else "normal"
        hit = (name, pp, rp)
        self._para_cache[key] = hit
        return hit

    def _char_style(self, sid: str | None) -> Props:
        key = sid or ""
        hit = self._char_cache.get(key)
        if hit is None:
            hit = {}
            for st in self._chain(sid):
                if st.kind == "character":
                    self._read_rpr(st.rpr, hit)
            self._char_cache[key] = hit
        return hit

    # -- property readers -----------------------------------------------------------------

    def _read_rpr(self, rpr: etree._Element | None, out: Props) -> None:
        if rpr is None:
            return
        for el in rpr:
            name = _local(el.tag)
            if name in RUN_TOGGLES:
                out[name] = _toggle(el)
            elif name in RUN_VALUES:
                value = el.get(_VAL, "")
                out[name] = value.lower() if name == "color" else _num(value)
            elif name == "rFonts":
                font = self._font(el)
                if font:
                    out["font"] = font
            elif name == "shd":
                out["shd"] = el.get(_w("fill"), "auto").lower()

    def _font(self, el: etree._Element) -> str:
        theme = el.get(_w("asciiTheme")) or el.get(_w("hAnsiTheme"))
        if theme:
            which = "major" if theme.startswith("major") else "minor"
            return self.theme_fonts.get(which, theme).lower()
        return (el.get(_w("ascii")) or el.get(_w("hAnsi")) or "").lower()

    def _read_ppr(self, ppr: etree._Element | None, out: Props) -> None:
        if ppr is None:
            return
        for el in ppr:
            name = _local(el.tag)
            if name in PARA_TOGGLES:
                out[name] = _toggle(el)
            elif name == "jc":
                value = el.get(_VAL, "start")
                out["jc"] = _JC_ALIASES.get(value, value)
            elif name == "outlineLvl":
                out["outlineLvl"] = el.get(_VAL, "9")
            elif name == "numPr":
                ilvl = el.find(_w("ilvl"))
                num = el.find(_w("numId"))
                if num is not None:
                    out["numId"] = num.get(_VAL, "0")
                if ilvl is not None:
                    out["ilvl"] = ilvl.get(_VAL, "0")
            elif name == "tabs":
                for tab in el.iter(_w("tab")):
                    pos = _num(tab.get(_w("pos"), ""))
                    if tab.get(_VAL) == "clear":
                        out.pop(f"tab@{pos}", None)
                    else:
                        out[f"tab@{pos}"] = tab.get(_VAL, "left")
            elif name == "pBdr":
                for side in el:
                    if _local(side.tag):
                        val = side.get(_VAL, "nil")
                        out[f"pBdr.{_local(side.tag)}"] = "" if val in ("nil", "none") else val
            elif name in PARA_ATTRS:
                for attr, value in el.attrib.items():
                    a = _local(attr)
                    if name == "ind":
                        a = _IND_ALIASES.get(a, a)
                    if a in PARA_ATTRS[name]:
                        out[f"{name}.{a}"] = value.lower() if a == "fill" else _num(value)

    # -- keys -----------------------------------------------------------------------------

    def paragraph(self, ppr: etree._Element | None) -> tuple[str, Props]:
        """(key of the paragraph's look, the run properties its style gives)."""
        raw = etree.tostring(ppr) if ppr is not None else b""
        hit = self._ppr_cache.get(raw)
        if hit is None:
            hit = self._paragraph(ppr)
            self._ppr_cache[raw] = hit
        return hit

    def _paragraph(self, ppr: etree._Element | None) -> tuple[str, Props]:
        sid = None
        if ppr is not None:
            ps = ppr.find(_w("pStyle"))
            sid = ps.get(_VAL) if ps is not None else None
        name, style_pp, style_rp = self._paragraph_style(sid)
        pp = dict(style_pp)
        self._read_ppr(ppr, pp)
        if pp.get("numId") == "0":
            pp.pop("numId", None)
            pp.pop("ilvl", None)
        parts = [f"style={name}"]
        for k, v in sorted(pp.items()):
            if v != _PARA_DEFAULTS.get(k) and not (k.startswith("pBdr") and not v):
                parts.append(f"{k}={v}")
        if ppr is not None:
            sect = ppr.find(_w("sectPr"))
            if sect is not None:
                parts.append("sect{" + self.section_key(sect) + "}")
        return ";".join(parts), style_rp

    def run(self, rpr: etree._Element | None, para_rp: Props) -> str:
        """Key of a run's look, given the run properties of its paragraph's style."""
        ck = (id(para_rp), etree.tostring(rpr) if rpr is not None else b"")
        hit = self._rpr_cache.get(ck)
        if hit is None:
            hit = self._run(rpr, para_rp)
            self._rpr_cache[ck] = hit
        return hit

    def _run(self, rpr: etree._Element | None, para_rp: Props) -> str:
        rp = dict(para_rp)
        sid = None
        if rpr is not None:
            rs = rpr.find(_w("rStyle"))
            sid = rs.get(_VAL) if rs is not None else None
        if sid or self.default_char:
            rp.update(self._char_style(sid or self.default_char))
        self._read_rpr(rpr, rp)
        return ";".join(f"{k}={v}" for k, v in sorted(rp.items())
                        if v != RUN_VALUES.get(k, "0" if k in RUN_TOGGLES else None))

    def table_key(self, el: etree._Element) -> str:
        """Key of a table's, row's or cell's properties: style, alignment, borders, shading,
        merged cells, header rows; the column count of a grid (not its widths)."""
        tag = _local(el.tag)
        if tag == "tblGrid":
            return f"<grid {len(el.findall(_w('gridCol')))}/>"
        out: Props = {}
        for child in el:
            name = _local(child.tag)
            val = child.get(_VAL, "")
            if name == "tblStyle":
                st = self.styles.get(val)
                out[name] = st.name if st is not None else val.lower()
            elif name == "jc":
                out[name] = _JC_ALIASES.get(val, val)
            elif name in ("gridSpan", "vAlign", "textDirection"):
                out[name] = val
            elif name == "vMerge":
                out[name] = val or "continue"
            elif name == "shd":
                fill = child.get(_w("fill"), "auto").lower()
                if fill != "auto":
                    out[name] = fill
            elif name in _TABLE_TOGGLES:
                out[name] = _toggle(child)
            elif name in ("tblBorders", "tcBorders"):
                for side in child:
                    v = side.get(_VAL, "nil")
                    if v not in ("nil", "none"):
                        out[f"{name}.{_local(side.tag)}"] = v
        defaults = {"jc": "start", "gridSpan": "1", "vAlign": "top", "textDirection": "lrTb"}
        key = ";".join(f"{k}={v}" for k, v in sorted(out.items())
                       if v != defaults.get(k, "0" if k in _TABLE_TOGGLES else None))
        return f"<{tag} {key}/>" if key else ""  # nothing chosen: as if absent

    def note_key(self, ref: etree._Element) -> str:
        key = f"{_local(ref.tag)}:{ref.get(_w('id'), '')}"
        return f"<{_local(ref.tag)} {self.notes.get(key, key)!r}/>"

    def object_key(self, el: etree._Element) -> str:
        """Key of a drawing, text box, VML picture or equation: what it shows (the images it
        points to, its size to the point, its text), not how it is written."""
        if el.tag == f"{{{MC_NS}}}AlternateContent":
            choice = el.find(f"{{{MC_NS}}}Choice")
            if choice is not None:
                el = choice
        targets = sorted(self.targets.get(v, v) for d in el.iter() for k, v in d.attrib.items()
                         if k.startswith(f"{{{R_NS}}}"))
        size = ""
        extent = next(el.iter(f"{{{WP_NS}}}extent"), None)
        # A shape or text box is sized by its editor to its content (LibreOffice resizes
        # text boxes on every save); the size of a picture is the user's.
        if extent is not None and el.tag == f"{{{W_NS}}}drawing":
            size = "x".join(str(round(int(extent.get(a, "0") or 0) / _EMU_PER_POINT))
                            for a in ("cx", "cy") if (extent.get(a) or "0").isdigit())
        text = "".join(t.text or "" for t in el.iter(f"{{{W_NS}}}t", f"{{{M_NS}}}t"))
        return f"<{_local(el.tag)} {','.join(targets)} {size} {text!r}/>"

    def section_key(self, sect: etree._Element) -> str:
        """Key of section properties: page size, margins, columns, kind of break, numbering."""
        out: Props = {}
        for el in sect:
            name = _local(el.tag)
            if name in SECTION_TOGGLES:
                out[name] = _toggle(el)
            elif name in SECTION_ATTRS:
                defaults = SECTION_ATTRS[name]
                for attr, value in el.attrib.items():
                    a = _local(attr)
                    if a in defaults:
                        out[f"{name}.{a}"] = _num(value)
                if name == "cols" and _num(el.get(_w("num"), "1")) not in ("0", "1"):
                    out["cols.space"] = _num(el.get(_w("space"), "720"))
        return ";".join(f"{k}={v}" for k, v in sorted(out.items())
                        if v not in (_section_default(k), "0" if k in SECTION_TOGGLES else None))


_PARA_DEFAULTS: dict[str, str] = {
    "jc": "start", "outlineLvl": "9", "ilvl": "0",
    **dict.fromkeys(PARA_TOGGLES, "0"),
    **{f"{name}.{attr}": value for name, attrs in PARA_ATTRS.items()
       for attr, value in attrs.items()},
}


def _section_default(key: str) -> str | None:
    name, _, attr = key.partition(".")
    return SECTION_ATTRS.get(name, {}).get(attr)
