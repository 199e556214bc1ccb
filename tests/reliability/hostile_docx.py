"""The .docx merger against corrupt and adversarial packages, each merge watched from outside.

:func:`make_case` builds case number I of a seeded run: three versions of one document
(base, ours, theirs), one side hostile (sometimes all three), the hostile one made by one of
:data:`KINDS` from a valid document (python-docx documents from tests/docx_builders.py and
the shared corpus when present). Cases are pure functions of (seed, I), so a failing case is
rebuilt and saved for reading without storing thousands of files.

Merges run in worker processes (``python -m tests.reliability.hostile_docx SEED ...``) that
read case numbers on stdin and answer on stdout: "start" once the case is built, then the
outcome of the merge. :class:`Watched` runs one worker under a watchdog: a merge must answer
within :data:`MERGE_SECONDS` and stay under :data:`MERGE_RSS_KB` resident, checked every
50 ms from outside (and by RLIMIT_AS inside); a worker that overruns is killed and restarted,
and the case is a failure. An outcome is ``merged`` (a package that reads back, leaking no
secret) or ``typed`` (a :class:`gitsync.errors.GitsyncError`, the merger's documented
failure); anything else is a failure.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import re
import select
import signal
import struct
import subprocess
import sys
import time
import warnings
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tests.reliability.harness import status_kb

MERGE_SECONDS = 10.0
MERGE_RSS_KB = 1024 * 1024  # 1 GiB resident per merge, the whole worker included
ADDRESS_LIMIT = 3 * 1024 ** 3  # RLIMIT_AS in the worker: a backstop under the watchdog
SECRET_TOKEN = "gitsync-xxe-secret-3f9a71"
DOC = "word/document.xml"
W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
WDOC = (f'<w:document xmlns:w="{W}"><w:body><w:p><w:r><w:t>{{}}</w:t></w:r></w:p>'
        "</w:body></w:document>")


# ---------------------------------------------------------------------------------------
# valid documents to start from


def builder_docs() -> list[bytes]:
    from tests import docx_builders as b

    return [
        b.paras("Alpha.", "Beta.", "Gamma."), b.numbered(30),
        b.table([["a", "b"], ["c", "d"], ["e", "f"]]), b.bullet_list("one", "two", "three"),
        b.with_header("Head", "Foot", "Body one.", "Body two."),
        b.with_comment("Commented text.", "A comment.", "More."),
        b.with_image("Picture below."), b.with_style("Fuzz Style", "Title", "Text."),
        b.add_footnotes(b.paras("Note here.", "And here."), {0: "First note."}),
    ]


def corpus_docs(corpus: Path | None) -> list[bytes]:
    if corpus is None or not corpus.is_dir():
        return []
    return [p.read_bytes() for p in sorted(corpus.rglob("*.docx"))]


def parts_of(data: bytes) -> dict[str, bytes]:
    z = zipfile.ZipFile(io.BytesIO(data))
    return {n: z.read(n) for n in z.namelist()}


def zip_of(entries: list[tuple[str, bytes]], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    """A zip of ENTRIES in order; duplicates allowed (zipfile only warns)."""
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with zipfile.ZipFile(buf, "w", method) as z:
            for name, data in entries:
                z.writestr(name, data)
    return buf.getvalue()


def edited(data: bytes, tag: str) -> bytes:
    """DATA with the text of its first paragraph run changed: an ordinary save."""
    parts = parts_of(data)
    xml = parts[DOC]
    m = re.search(rb"<w:t(?: [^>]*)?>", xml)
    if m is None:
        return data
    parts[DOC] = xml[:m.end()] + tag.encode() + b" " + xml[m.end():]
    return zip_of(list(parts.items()))


@dataclass
class Bases:
    """Valid documents and, for each, two ordinary edits (the sides that are not hostile)."""

    docs: list[bytes]

    def __post_init__(self) -> None:
        self._edits: dict[int, tuple[bytes, bytes]] = {}

    def triple(self, k: int) -> tuple[bytes, bytes, bytes]:
        base = self.docs[k % len(self.docs)]
        if k not in self._edits:
            try:
                self._edits[k] = (edited(base, "Ours"), edited(base, "Theirs"))
            except (zipfile.BadZipFile, KeyError):
                self._edits[k] = (base, base)
        ours, theirs = self._edits[k]
        return base, ours, theirs


# ---------------------------------------------------------------------------------------
# hostile packages: each kind takes (rng, a valid document, context) and returns bytes


@dataclass(frozen=True)
class Ctx:
    secret: Path  # a regular file holding SECRET_TOKEN: an XXE must not read it
    fifo: Path  # a FIFO: opening it for reading blocks, so a read shows as a hang


def k_truncated(rng: random.Random, doc: bytes, ctx: Ctx) -> bytes:
    return doc[:rng.randrange(0, len(doc))]


def k_byteflip(rng: random.Random, doc: bytes, ctx: Ctx) -> bytes:
    buf = bytearray(doc)
    for _ in range(rng.randint(1, 24)):
        buf[rng.randrange(len(buf))] = rng.randrange(256)
    return bytes(buf)


def k_xml_flip(rng: random.Random, doc: bytes, ctx: Ctx) -> bytes:
    """Bytes flipped inside an XML part, rezipped: corruption the zip layer cannot see."""
    parts = parts_of(doc)
    xml_names = [n for n in parts if n.endswith((".xml", ".rels"))]
    name = rng.choice(xml_names)
    buf = bytearray(parts[name])
    for _ in range(rng.randint(1, 8)):
        if buf:
            buf[rng.randrange(len(buf))] = rng.choice(b"<>&\"'/=\x00\xff\xc3 abc")
    parts[name] = bytes(buf)
    return zip_of(list(parts.items()))


def k_declared_size(rng: random.Random, doc: bytes, ctx: Ctx) -> bytes:
    """A central directory that declares a huge uncompressed size (and a tiny compressed)."""
    buf = bytearray(doc)
    at = buf.rfind(b"PK\x01\x02")
    sizes = [0xFFFFFFFF, 0x7FFFFFFF, 300 * 1024 * 1024, 0]
    while at >= 0:
        if rng.random() < 0.5:
            struct.pack_into("<I", buf, at + 24, rng.choice(sizes))
        at = buf.rfind(b"PK\x01\x02", 0, at)
    return bytes(buf)


_BOMBS: dict[int, tuple[bytes, int]] = {}


def _deflated_zeros(mib: int) -> tuple[bytes, int]:
    """Raw deflate of MIB MiB of zeros and their CRC (made once per size)."""
    if mib not in _BOMBS:
        c = zlib.compressobj(9, zlib.DEFLATED, -15)
        chunk = b"\0" * (1 << 20)
        crc = 0
        out = []
        for _ in range(mib):
            out.append(c.compress(chunk))
            crc = zlib.crc32(chunk, crc)
        _BOMBS[mib] = b"".join(out) + c.flush(), crc
    return _BOMBS[mib]


def raw_zip(members: list[tuple[str, bytes, int, int, int]]) -> bytes:
    """A zip written by hand: (name, member data, method, crc, uncompressed size) each."""
    out = io.BytesIO()
    central = []
    for name, data, method, crc, size in members:
        enc = name.encode("utf-8", "surrogateescape")
        at = out.tell()
        out.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, method, 0, 0x21, crc,
                              len(data), size, len(enc), 0) + enc + data)
        central.append(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, method, 0,
                                   0x21, crc, len(data), size, len(enc), 0, 0, 0, 0, 0, at)
                       + enc)
    start = out.tell()
    for c in central:
        out.write(c)
    n = len(members)
    out.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, n, n, out.tell() - start, start, 0))
    return out.getvalue()


def k_ratio_bomb(rng: random.Random, doc: bytes, ctx: Ctx) -> bytes:
    """A real member of many MiB of zeros (deflate makes it ~1000:1)."""
    mib = rng.choice([2, 16, 64, 300])
    parts = list(parts_of(doc).items())
    zeros, crc = _deflated_zeros(mib)
    members = [(n, _deflate(d), 8, zlib.crc32(d), len(d)) for n, d in parts]
    name = rng.choice(["word/media/bomb.bin", DOC, "word/styles.xml", "customXml/item9.xml"])
    members = [m for m in members if m[0] != name]
    members.append((name, zeros, 8, crc, mib << 20))
    return raw_zip(members)


def _deflate(data: bytes) -> bytes:
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush()


def k_small_members_bomb(rng: random.Random, doc: bytes, ctx: Ctx) -> bytes:
    """Many members each just under the ratio check's floor (1 MiB of zeros, ~1 KiB
    compressed), either one after another or all sharing one stream (overlapping)."""
    parts = list(parts_of(doc).items())
    members = [(n, _deflate(d), 8, zlib.crc32(d), len(d)) for n, d in parts]
    one, crc = _deflated_zeros(1)
    count = rng.choice([100, 400, 600])
    bombs = [(f"word/media/z{i}.bin", one, 8, crc, 1 << 20) for i in range(count)]
    if rng.random() < 0.5:
        return _overlapping(bombs, members)
    return raw_zip(members + bombs)


def _overlapping(bombs: list[tuple[str, bytes, int, int, int]],
                 members: list[tuple[str, bytes, int, int, int]]) -> bytes:
    out = io.BytesIO()
    central = []
    for name, data, method, crc, size in members + bombs[:1]:
        enc = name.encode()
        at = out.tell()
        out.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, method, 0, 0x21, crc,
                              len(data), size, len(enc), 0) + enc + data)
        central.append((enc, method, crc, len(data), size, at))
    shared = central[-1]
    for name, _data, method, crc, size in bombs[1:]:
        # every later bomb member's directory entry points at the first one's header
        central.append((name.encode(), method, crc, shared[3], size, shared[5]))
    start = out.tell()
    for enc, method, crc, csize, size, at in central:
        out.write(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, method, 0, 0x21,
                              crc, csize, size, len(enc), 0, 0, 0, 0, 0, at) + enc)
    n = len(central)
    out.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, n, n, out.tell() - start, start, 0))
    return out.getvalue()


def k_nested_zip(rng: random.Random, doc: bytes, ctx: Ctx) -> bytes:
    """Zips inside zips (an embedded object that is itself a bomb), several levels deep."""
    inner = zip_of([("bomb.bin", b"\0" * (1 << 20))])
    for level in range(rng.randint(2, 8)):
        inner = zip_of([(f"level{level}.zip", inner)] * 2)
    parts = parts_of(doc)
    parts["word/embeddings/oleObject1.bin"] = inner
    if rng.random() < 0.3:
        parts[DOC] = inner  # the body itself is a zip
    return zip_of(list(parts.items()))


def k_many_entries(rng: random.Random, doc: bytes, ctx: Ctx) -> bytes:
    parts = list(parts_of(doc).items())
    n = rng.choice([2_000, 9_990, 10_001, 12_000])
    return zip_of(parts + [(f"customXml/x{i}.xml", b"<a/>") for i in range(n)],
                  zipfile.ZIP_STORED)


def _with_part(doc: bytes, name: str, data: bytes) -> bytes:
    parts = parts_of(doc)
    parts[name] = data
    return zip_of(list(parts.items()))


def _xml_targets(doc: bytes) -> list[str]:
    names = [n for n in parts_of(doc) if n.endswith((".xml", ".rels"))]
    return [DOC, DOC, "[Content_Types].xml", *names]


def k_entities(rng: random.Random, doc: bytes, ctx: Ctx) -> bytes:
    """Billion laughs, quadratic blowup, external entities (XXE) at a local file or a FIFO,
    an external DTD, parameter entities; in the body or any other XML part."""
    depth = rng.randint(3, 10)
    roll = rng.randrange(7)
    if roll == 0:  # billion laughs
        decl = '<!ENTITY l0 "lol">' + "".join(
            f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, depth))
        ref = f"&l{depth - 1};"
    elif roll == 1:  # quadratic blowup: one big entity used many times
        decl = f'<!ENTITY big "{"x" * 50_000}">'
        ref = "&big;" * 5_000
    elif roll == 2:
        decl = f'<!ENTITY x SYSTEM "file://{ctx.secret}">'
        ref = "&x;"
    elif roll == 3:
        decl = f'<!ENTITY x SYSTEM "file://{ctx.fifo}">'
        ref = "&x;"
    elif roll == 4:  # parameter entity pulling a DTD in
        decl = f'<!ENTITY % p SYSTEM "file://{ctx.fifo}"> %p;'
        ref = "text"
    elif roll == 5:
        decl = '<!ENTITY x SYSTEM "http://127.0.0.1:9/xxe">'
        ref = "&x;"
    else:
        decl = ""
        ref = "text"
    system = f' SYSTEM "file://{rng.choice([ctx.fifo, ctx.secret])}"' if roll == 6 else ""
    xml = (f'<?xml version="1.0"?><!DOCTYPE w:document{system} [{decl}]>'
           + WDOC.format(ref)).encode()
    name = rng.choice(_xml_targets(doc))
    if name != DOC:  # same DTD in front of that part's own root
        body = parts_of(doc)[name]
        body = re.sub(rb"^<\?xml[^>]*\?>\s*", b"", body)
        xml = (f'<?xml version="1.0"?><!DOCTYPE r{system} [{decl}]>').encode() + body
        if ref.startswith("&"):
            xml = re.sub(rb"(<[A-Za-z][^>/]*>)", lambda m: m.group(1) + ref.encode(), xml,
                         count=1)
    return _with_part(doc, name, xml)


def k_duplicate(rng: random.Random, doc: bytes, ctx: Ctx) -> bytes:
    """The same part twice (or once more in another case), with different contents."""
    parts = list(parts_of(doc).items())
    name = rng.choice([DOC, "[Content_Types].xml", "word/_rels/document.xml.rels",
                       *[n for n, _ in parts]])
    other = WDOC.format("second copy").encode()
    twin = name if rng.random() < 0.6 else rng.choice([name.upper(), name.title(),
                                                       "/" + name, name.replace("/", "\\")])
    parts.insert(rng.randrange(len(parts) + 1), (twin, other))
    return zip_of(parts)


def k_missing(rng: random.Random, doc: bytes, ctx: Ctx) -> bytes:
    """A part or relationship gone: content types, the body, the rels, a target, an override."""
    parts = parts_of(doc)
    roll = rng.randrange(5)
    if roll == 0:
        parts.pop(rng.choice(list(parts)))
    elif roll == 1:
        for name in [n for n in parts if n.endswith(".rels")]:
            if rng.random() < 0.7:
                parts.pop(name)
    elif roll == 2:  # relationships pointing nowhere, outside, at themselves
        rels = "word/_rels/document.xml.rels"
        if rels in parts:
            target = rng.choice(["../../../../etc/passwd", "/etc/passwd", "document.xml",
                                 "missing.xml", "file:///etc/passwd", "", "..", "a" * 5000,
                                 "%2e%2e/%2e%2e/x", "C:\\Windows\\x"])
            mode = ' TargetMode="External"' if rng.random() < 0.3 else ""
            parts[rels] = parts[rels].replace(
                b"</Relationships>",
                f'<Relationship Id="rId999" Type="http://schemas.openxmlformats.org/'
                f'officeDocument/2006/relationships/image" Target="{target}"{mode}/>'
                "</Relationships>".encode())
            parts[DOC] = parts[DOC].replace(b"<w:body>", b'<w:body><w:p><w:r><w:drawing>'
                                            b'<a:blip xmlns:a="http://schemas.openxmlformats'
                                            b'.org/drawingml/2006/main" r:embed="rId999" '
                                            b'xmlns:r="http://schemas.openxmlformats.org/'
                                            b'officeDocument/2006/relationships"/>'
                                            b'</w:drawing></w:r></w:p>', 1)
    elif roll == 3:  # content types that lie
        parts["[Content_Types].xml"] = re.sub(
            rb'ContentType="[^"]*"', lambda _m: b'ContentType="image/png"',
            parts["[Content_Types].xml"]) if "[Content_Types].xml" in parts else b"<Types/>"
    else:
        parts.pop(DOC, None)
        parts["word/document2.xml"] = WDOC.format("moved").encode()
    return zip_of(list(parts.items()))


def k_huge_attribute(rng: random.Random, doc: bytes, ctx: Ctx) -> bytes:
    """Huge attribute values, huge text, thousands of attributes, a long run of paragraphs."""
    size = rng.choice([100_000, 2_000_000, 9_000_000, 70_000_000])
    roll = rng.randrange(4)
    if roll == 0:
        body = f'<w:p><w:pPr><w:pStyle w:val="{"A" * size}"/></w:pPr><w:r><w:t>x</w:t></w:r></w:p>'
    elif roll == 1:
        body = f"<w:p><w:r><w:t>{'word ' * (size // 5)}</w:t></w:r></w:p>"
    elif roll == 2:
        attrs = " ".join(f'w:a{i}="{i}"' for i in range(min(size // 20, 200_000)))
        body = f"<w:p {attrs}><w:r><w:t>x</w:t></w:r></w:p>"
    else:
        body = "<w:p><w:r><w:t>p</w:t></w:r></w:p>" * min(size // 30, 300_000)
    xml = f'<w:document xmlns:w="{W}"><w:body>{body}</w:body></w:document>'.encode()
    return _with_part(doc, DOC, xml)


def k_deep(rng: random.Random, doc: bytes, ctx: Ctx) -> bytes:
    """Deep nesting: tables in cells, content controls in content controls, plain elements
    far past the parser's depth limit."""
    depth = rng.choice([50, 120, 250, 400, 3_000, 100_000])
    roll = rng.randrange(3)
    core = "<w:p><w:r><w:t>deep</w:t></w:r></w:p>"
    if roll == 0:  # built by repetition: nesting by concatenation is quadratic
        inner = ("<w:tbl><w:tr><w:tc>" * depth + core
                 + "<w:p/></w:tc></w:tr></w:tbl>" * depth)
    elif roll == 1:
        inner = "<w:sdt><w:sdtContent>" * depth + core + "</w:sdtContent></w:sdt>" * depth
    else:
        inner = "<w:p>" + "<w:r>" * depth + "<w:t>deep</w:t>" + "</w:r>" * depth + "</w:p>"
    xml = f'<w:document xmlns:w="{W}"><w:body>{inner}</w:body></w:document>'.encode()
    return _with_part(doc, DOC, xml)


def k_encoding(rng: random.Random, doc: bytes, ctx: Ctx) -> bytes:
    """Invalid UTF-8, a lying encoding declaration, a BOM in the wrong place, NULs,
    characters XML forbids, and names that are not UTF-8 in the zip itself."""
    parts = parts_of(doc)
    roll = rng.randrange(5)
    xml = parts[DOC]
    if roll == 0:
        at = rng.randrange(len(xml))
        parts[DOC] = xml[:at] + rng.choice([b"\xff\xfe", b"\xc3", b"\xed\xa0\x80", b"\x80"]) \
            + xml[at:]
    elif roll == 1:
        parts[DOC] = re.sub(rb'encoding="[^"]*"', rng.choice(
            [b'encoding="UTF-16"', b'encoding="EBCDIC"', b'encoding="nonsense"']), xml)
    elif roll == 2:
        parts[DOC] = b"\xef\xbb\xbf\xef\xbb\xbf" + xml
    elif roll == 3:
        parts[DOC] = xml.replace(b"<w:t>", b"<w:t>\x01\x1b[31m\x00", 1)
    else:
        members = [(n, _deflate(d), 8, zlib.crc32(d), len(d)) for n, d in parts.items()]
        members.append(("word/\udcff\udcfe.xml", _deflate(b"<a/>"), 8, zlib.crc32(b"<a/>"), 4))
        return raw_zip(members)
    return zip_of(list(parts.items()))


def k_zip_structure(rng: random.Random, doc: bytes, ctx: Ctx) -> bytes:
    """Zip-level oddities: names escaping the package, encrypted and unknown methods, bad
    CRCs, an end record pointing anywhere, nothing but an end record."""
    parts = parts_of(doc)
    members = [(n, _deflate(d), 8, zlib.crc32(d), len(d)) for n, d in parts.items()]
    roll = rng.randrange(6)
    if roll == 0:
        members.append((rng.choice(["../../evil.xml", "/etc/evil", "word/../../x.xml",
                                    "C:/x.xml", "a\\..\\..\\x"]), _deflate(b"<a/>"), 8,
                        zlib.crc32(b"<a/>"), 4))
        return raw_zip(members)
    if roll == 1:  # method 99 (AES), 12 (bzip2) or 14 (LZMA) with deflate data inside
        k = rng.randrange(len(members))
        n, d, _m, c, s = members[k]
        members[k] = (n, d, rng.choice([99, 12, 14, 6, 1]), c, s)
        return raw_zip(members)
    if roll == 2:
        k = rng.randrange(len(members))
        n, d, m, c, s = members[k]
        members[k] = (n, d, m, c ^ 0xDEADBEEF, s)
        return raw_zip(members)
    if roll == 3:
        buf = bytearray(raw_zip(members))
        eocd = buf.rfind(b"PK\x05\x06")
        struct.pack_into("<I", buf, eocd + 16, rng.randrange(0, 0xFFFFFFFF))
        return bytes(buf)
    if roll == 4:
        return struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0, 0, 0, 0, 0)
    buf = bytearray(raw_zip(members))  # the encrypted flag on one member
    at = buf.find(b"PK\x01\x02")
    struct.pack_into("<H", buf, at + 8, 1)
    return bytes(buf)


def k_not_docx(rng: random.Random, doc: bytes, ctx: Ctx) -> bytes:
    return rng.choice([b"", b"PK\x03\x04", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600,
                       os.urandom(0) + bytes(rng.randrange(256) for _ in range(2000)),
                       b"<?xml version='1.0'?><w:document/>", b"PK\x05\x06" + b"\0" * 18,
                       zip_of([("hello.txt", b"hi")])])


KINDS: dict[str, tuple[float, Callable[[random.Random, bytes, Ctx], bytes]]] = {
    "byte flips": (30, k_byteflip),
    "XML flips": (14, k_xml_flip),
    "truncated zip": (8, k_truncated),
    "declared size": (4, k_declared_size),
    "ratio bomb": (2, k_ratio_bomb),
    "small-member bomb": (1, k_small_members_bomb),
    "nested zips": (1, k_nested_zip),
    "many entries": (1, k_many_entries),
    "entities": (8, k_entities),
    "duplicate parts": (5, k_duplicate),
    "missing parts": (8, k_missing),
    "huge attributes": (2, k_huge_attribute),
    "deep nesting": (3, k_deep),
    "encoding": (5, k_encoding),
    "zip structure": (5, k_zip_structure),
    "not a docx": (3, k_not_docx),
}


@dataclass
class Case:
    index: int
    kind: str
    hostile: str  # which sides: base, ours, theirs or all
    base: bytes | None
    ours: bytes
    theirs: bytes


def make_case(seed: int, i: int, bases: Bases, ctx: Ctx) -> Case:
    rng = random.Random(seed * 1_000_003 + i)
    names = list(KINDS)
    kind = rng.choices(names, weights=[KINDS[n][0] for n in names])[0]
    fn = KINDS[kind][1]
    base, ours, theirs = bases.triple(rng.randrange(1 << 30))
    side = rng.choices(["theirs", "ours", "base", "all"], weights=[40, 30, 15, 15])[0]
    if side in ("base", "all"):
        base = fn(rng, base, ctx)
    if side in ("ours", "all"):
        ours = fn(rng, ours, ctx)
    if side in ("theirs", "all"):
        theirs = fn(rng, theirs, ctx)
    return Case(i, kind, side, None if rng.random() < 0.05 else base, ours, theirs)


# ---------------------------------------------------------------------------------------
# the worker (a separate process) and its watchdog


def merge_outcome(case: Case) -> dict[str, object]:
    """Merge CASE and classify what came back (runs in the worker)."""
    from gitsync.errors import GitsyncError
    from gitsync.merge.docx import DEFAULT_LIMITS, merge_docx
    from gitsync.merge.docx.package import parse_xml, read_package

    out: dict[str, object] = {"i": case.index}
    start = time.perf_counter()
    try:
        result = merge_docx(case.base, case.ours, case.theirs, ours_label="ours",
                            theirs_label="theirs")
    except GitsyncError as e:
        out.update(seconds=time.perf_counter() - start, outcome="typed",
                   error=type(e).__name__)
        if SECRET_TOKEN in str(e):
            out["bad"] = "the error message holds the secret an entity pointed at"
        return out
    except BaseException as e:  # what the suite is looking for
        import traceback

        out.update(seconds=time.perf_counter() - start, outcome="untyped",
                   error=type(e).__name__, bad=traceback.format_exc()[-1500:])
        return out
    out.update(seconds=time.perf_counter() - start, outcome="merged")
    data = result.data
    if SECRET_TOKEN.encode() in data or _inflated_has_secret(data):
        out["bad"] = "the merged document holds the secret an entity pointed at"
    elif data not in (case.base, case.ours, case.theirs):
        try:  # a new package must read back as a Word document
            pkg = read_package(data, DEFAULT_LIMITS, label="merged")
            parse_xml(pkg.parts[DOC], DOC, DEFAULT_LIMITS)
        except GitsyncError as e:
            out["bad"] = f"the merged package does not read back: {e}"
    return out


def _inflated_has_secret(data: bytes) -> bool:
    try:
        z = zipfile.ZipFile(io.BytesIO(data))
        return any(SECRET_TOKEN.encode() in z.read(n) for n in z.namelist()
                   if z.getinfo(n).file_size < 64 << 20)
    except Exception:  # an unreadable package holds nothing readable
        return False


def reset_peak() -> None:
    """Start VmHWM afresh, so each merge's peak is its own (Linux: clear_refs 5)."""
    with contextlib.suppress(OSError), open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")




def worker_main(argv: list[str]) -> int:
    import resource

    seed, corpus, secret, fifo = int(argv[0]), Path(argv[1]), Path(argv[2]), Path(argv[3])
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_LIMIT, ADDRESS_LIMIT))
    bases = Bases(builder_docs() + corpus_docs(corpus if str(corpus) != "-" else None))
    ctx = Ctx(secret, fifo)
    import gitsync.merge.docx  # noqa: F401 - loaded before the first merge is timed

    print("ready", flush=True)
    for line in sys.stdin:
        i = int(line)
        try:
            case = make_case(seed, i, bases, ctx)
        except Exception as e:  # a generator bug, reported as such
            print(json.dumps({"i": i, "outcome": "generator", "error": repr(e)}), flush=True)
            continue
        print(json.dumps({"start": i, "kind": case.kind, "hostile": case.hostile}), flush=True)
        reset_peak()
        out = merge_outcome(case)
        out["hwm_kb"] = status_kb(os.getpid(), "VmHWM")
        print(json.dumps(out), flush=True)
    return 0


class Watched:
    """One worker process under a watchdog (time and resident memory per merge)."""

    def __init__(self, seed: int, corpus: Path | None, ctx: Ctx, env: dict[str, str],
                 seconds: float = MERGE_SECONDS, rss_kb: int = MERGE_RSS_KB) -> None:
        self.args = [sys.executable, "-m", "tests.reliability.hostile_docx", str(seed),
                     str(corpus or "-"), str(ctx.secret), str(ctx.fifo)]
        self.env = env
        self.seconds = seconds
        self.rss_kb = rss_kb
        self.proc: subprocess.Popen[bytes] | None = None
        self.restarts = 0
        self._buf = b""

    def _start(self) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(self.args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, env=self.env,
                                start_new_session=True)
        self._buf = b""
        line = self._line(proc, 120)
        if line != "ready":
            self._kill(proc)
            raise RuntimeError(f"docx worker did not start: {line!r}")
        return proc

    def _line(self, proc: subprocess.Popen[bytes], timeout: float, rss_kb: int = 0
              ) -> str | None:
        """The next line from PROC within TIMEOUT: None if it died, "timeout", or
        "rss:N" when its resident set went over RSS_KB. Read from the pipe itself, not a
        buffered file, so select() never waits for a line already read."""
        assert proc.stdout is not None
        fd = proc.stdout.fileno()
        end = time.monotonic() + timeout
        while b"\n" not in self._buf:
            if time.monotonic() >= end:
                return "timeout"
            r, _, _ = select.select([fd], [], [], 0.05)
            if r:
                chunk = os.read(fd, 65536)
                if not chunk:
                    return None
                self._buf += chunk
                continue
            if rss_kb:
                now = status_kb(proc.pid, "VmRSS")
                if now > rss_kb:
                    return f"rss:{now}"
            if proc.poll() is not None and not select.select([fd], [], [], 0)[0]:
                return None
        line, _, self._buf = self._buf.partition(b"\n")
        return line.decode().strip()

    @staticmethod
    def _kill(proc: subprocess.Popen[bytes]) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)

    def merge(self, i: int) -> dict[str, object]:
        """The outcome of case I; a watchdog verdict (hang, memory, crash) on failure."""
        if self.proc is None or self.proc.poll() is not None:
            self.proc = self._start()
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"{i}\n".encode())
        self.proc.stdin.flush()
        first = self._line(self.proc, 120)
        if first is None or first == "timeout":
            return self._fail(i, "generator", f"building the case: {first}")
        got = json.loads(first)
        if "start" not in got:
            return got  # a generator error
        start = time.monotonic()
        line = self._line(self.proc, self.seconds, self.rss_kb)
        took = time.monotonic() - start
        if line is None:
            code = self.proc.poll()
            return self._fail(i, "crash", f"the worker died (exit {code})", got, took)
        if line == "timeout":
            return self._fail(i, "hang", f"no answer in {self.seconds:.0f} s", got, took)
        if line.startswith("rss:"):
            return self._fail(i, "memory", f"resident {int(line[4:]) // 1024} MB, over "
                              f"{self.rss_kb // 1024} MB", got, took)
        out: dict[str, object] = json.loads(line)
        out.update(kind=got["kind"], hostile=got["hostile"])
        return out

    def _fail(self, i: int, outcome: str, why: str, got: dict[str, object] | None = None,
              took: float = 0.0) -> dict[str, object]:
        if self.proc is not None:
            self._kill(self.proc)
            self.proc = None
        self.restarts += 1
        got = got or {}
        return {"i": i, "outcome": outcome, "bad": why, "seconds": took,
                "kind": got.get("kind", "?"), "hostile": got.get("hostile", "?")}

    def close(self) -> None:
        if self.proc is not None:
            if self.proc.stdin is not None:
                with contextlib.suppress(OSError):
                    self.proc.stdin.close()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self._kill(self.proc)
            self.proc = None


def save_case(seed: int, i: int, corpus: Path | None, ctx: Ctx, into: Path) -> None:
    """Rebuild case I and write its three versions under INTO, for reading a failure."""
    bases = Bases(builder_docs() + corpus_docs(corpus))
    case = make_case(seed, i, bases, ctx)
    into.mkdir(parents=True, exist_ok=True)
    for side in ("base", "ours", "theirs"):
        data = getattr(case, side)
        if data is not None:
            (into / f"case-{i}-{side}.docx").write_bytes(data)


if __name__ == "__main__":
    sys.exit(worker_main(sys.argv[1:]))
