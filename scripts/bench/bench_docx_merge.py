"""Benchmark of the .docx three-way merger (prints tables, asserts nothing).

1. Speed and memory: generated documents of 30 / 300 / 3,000 pages (20 paragraphs and a
   table per page, an image every 15 pages), a few hundred edits on each side; each merge
   runs in a fresh child process whose peak RSS is read with os.wait4. Target for 300 pages:
   <= 1 s and <= 300 MB.
2. Merge quality on the shared corpus: the docx merger against ``git merge-file`` on the
   documents' extracted text (docx_text), the baseline a line-based tool would give.

Usage: .venv/bin/python scripts/bench/bench_docx_merge.py [--quick]
"""

from __future__ import annotations

import argparse
import io
import os
import random
import re
import subprocess
import sys
import tempfile
import time
import zipfile
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
CORPUS = ROOT.parent / "shared" / "corpus" / "docx" / "powertools"

W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
LOREM = ["lorem", "ipsum", "dolor", "sit", "amet", "consectetur", "adipiscing", "elit", "sed",
         "do", "eiusmod", "tempor", "incididunt", "ut", "labore", "et", "dolore", "magna"]


def _noise_png(seed: int, size: int = 280) -> bytes:
    rnd = random.Random(seed)
    raw = b"".join(b"\x00" + rnd.randbytes(size * 3) for _ in range(size))
    import struct

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", size, size, 8, 2, 0,
                                                             0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 1)) + chunk(b"IEND", b""))


def _template() -> tuple[dict[str, bytes], str, str]:
    import docx
    from docx.shared import Inches

    d = docx.Document()
    d.add_paragraph("x")
    d.add_picture(io.BytesIO(_noise_png(0, 8)), width=Inches(1))
    buf = io.BytesIO()
    d.save(buf)
    z = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    parts = {n: z.read(n) for n in z.namelist()}
    doc = parts["word/document.xml"].decode()
    pic = re.search(r"<w:p>(?:(?!<w:p>).)*?<w:drawing>.*?</w:p>", doc, re.S)
    assert pic is not None
    head, _, _ = doc.partition("<w:body>")
    return parts, head, pic.group(0)


def _table(page: int) -> str:
    rows = "".join(
        "<w:tr>" + "".join(f"<w:tc><w:p><w:r><w:t>p{page} r{r} c{c}</w:t></w:r></w:p></w:tc>"
                           for c in range(3)) + "</w:tr>" for r in range(3))
    grid = "<w:tblGrid>" + '<w:gridCol w:w="3000"/>' * 3 + "</w:tblGrid>"
    return f'<w:tbl><w:tblPr><w:tblW w:w="0" w:type="auto"/></w:tblPr>{grid}{rows}</w:tbl>'


def _para(page: int, i: int, rnd: random.Random) -> str:
    words = " ".join(rnd.choice(LOREM) for _ in range(14))
    return (f'<w:p w:rsidR="00A1B2C3"><w:r><w:t xml:space="preserve">Page {page} para {i}: '
            f"{words}.</w:t></w:r></w:p>")


def build(pages: int, seed: int = 1) -> tuple[bytes, list[str]]:
    """A package and its list of body block XML strings (paragraph texts are unique)."""
    parts, head, pic = _template()
    rnd = random.Random(seed)
    blocks: list[str] = []
    rels = parts["word/_rels/document.xml.rels"].decode()
    embed = re.search(r'r:embed="(rId\d+)"', pic)
    assert embed is not None
    for page in range(pages):
        blocks.extend(_para(page, i, rnd) for i in range(20))
        blocks.append(_table(page))
        if page % 15 == 0:
            n = page // 15
            rid = f"rIdImg{n}"
            parts[f"word/media/bench{n}.png"] = _noise_png(n)
            rels = rels.replace("</Relationships>",
                                f'<Relationship Id="{rid}" Type="http://schemas.openxmlformats.'
                                f'org/officeDocument/2006/relationships/image" '
                                f'Target="media/bench{n}.png"/></Relationships>')
            blocks.append(pic.replace(f'r:embed="{embed.group(1)}"', f'r:embed="{rid}"'))
    parts["word/_rels/document.xml.rels"] = rels.encode()
    return _pack(parts, head, blocks), blocks


def _pack(parts: dict[str, bytes], head: str, blocks: list[str]) -> bytes:
    sect = '<w:sectPr><w:pgSz w:w="12240" w:h="15840"/></w:sectPr>'
    parts = dict(parts)
    parts["word/document.xml"] = (head + "<w:body>" + "".join(blocks) + sect
                                  + "</w:body></w:document>").encode()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for n, data in parts.items():
            z.writestr(n, data)
    return buf.getvalue()


def edited(pages: int, blocks: list[str], side: int, edits: int) -> bytes:
    parts, head, _ = _template()
    base, _ = build(pages)
    z = zipfile.ZipFile(io.BytesIO(base))
    parts = {n: z.read(n) for n in z.namelist()}
    rnd = random.Random(100 + side)
    out = list(blocks)
    paras = [i for i, b in enumerate(out) if b.startswith("<w:p ") and i % 2 == side]
    for i in sorted(rnd.sample(paras, min(edits, len(paras))), reverse=True):
        if rnd.random() < 0.8:
            out[i] = out[i].replace("Page", f"EDITED{side} Page", 1)
        else:
            out.insert(i, out[i].replace("para", f"inserted{side} para"))
    return _pack(parts, head, out)


def _child(dirname: str) -> None:
    from gitsync.merge.docx import merge_docx

    d = Path(dirname)
    b, o, t = (d.joinpath(n).read_bytes() for n in ("base.docx", "ours.docx", "theirs.docx"))
    start = time.perf_counter()
    r = merge_docx(b, o, t, ours_label="a", theirs_label="b")
    elapsed = time.perf_counter() - start
    print(f"{elapsed:.4f} {len(r.conflicts)}")


def speed(pages_list: list[int]) -> None:
    print("\nSpeed and memory (fresh child process per merge; target at 300 pages: "
          "<= 1.0 s, <= 300 MB)")
    print(f"{'pages':>6} {'blocks':>7} {'size MB':>8} {'edits/side':>10} {'merge s':>8} "
          f"{'peak RSS MB':>12} {'conflicts':>9}")
    for pages in pages_list:
        base, blocks = build(pages)
        edits = max(10, pages)  # a few hundred at 300 pages
        ours, theirs = edited(pages, blocks, 0, edits), edited(pages, blocks, 1, edits)
        with tempfile.TemporaryDirectory() as tmp:
            for n, data in (("base.docx", base), ("ours.docx", ours), ("theirs.docx", theirs)):
                Path(tmp, n).write_bytes(data)
            proc = subprocess.Popen([sys.executable, __file__, "--child", tmp],
                                    stdout=subprocess.PIPE, text=True)
            assert proc.stdout is not None
            out = proc.stdout.read()
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            print(f"{pages:>6} child failed ({proc.returncode})")
            continue
        secs, conflicts = out.split()
        rss = usage.ru_maxrss / 1024
        print(f"{pages:>6} {len(blocks):>7} {len(base) / 1e6:>8.1f} {edits:>10} "
              f"{float(secs):>8.2f} {rss:>12.0f} {conflicts:>9}")


def _git_merge_file(base: str, ours: str, theirs: str) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for n, text in (("ours", ours), ("base", base), ("theirs", theirs)):
            p = Path(tmp, n)
            p.write_text(text)
            paths.append(str(p))
        r = subprocess.run(["git", "merge-file", "-p", *paths], capture_output=True)
        return max(r.returncode, 0)


def quality() -> None:
    from docx_builders import edit_xml, q
    from lxml import etree

    from gitsync.merge.docx import DocxError, docx_text, merge_docx

    if not CORPUS.is_dir():
        print(f"\nMerge quality: corpus not found at {CORPUS}")
        return

    def append(data: bytes) -> bytes:
        def fn(root: etree._Element) -> None:
            body = root.find(q("body"))
            p = etree.Element(q("p"))
            etree.SubElement(etree.SubElement(p, q("r")), q("t")).text = "Appended."
            body[-1].addprevious(p) if body[-1].tag == q("sectPr") else body.append(p)
        return edit_xml(data, "word/document.xml", fn)

    cases: list[tuple[str, bytes, bytes, bytes]] = []
    for stem in ("RC001", "RC004"):
        b, o, t = (CORPUS.joinpath(f"{stem}-{n}.docx").read_bytes()
                   for n in ("Before", "After1", "After2"))
        cases.append((stem, b, o, t))
    b, o, t = (CORPUS.joinpath(f"WC027-Twenty-Paras-{n}.docx").read_bytes()
               for n in ("Before", "After-1", "After-2"))
    cases.append(("WC027", b, o, t))
    files = {p.stem: p for p in CORPUS.glob("*.docx")}
    for stem, path in sorted(files.items()):
        m = re.match(r"(.*?)(-?(After|Mod|Deleted|Delete)[-\w]*)$", stem)
        if not m:
            continue
        for cand in (f"{m.group(1)}-Before", m.group(1), f"{m.group(1)}-Unmodified"):
            if cand in files and cand != stem:
                base = files[cand].read_bytes()
                cases.append((stem, base, path.read_bytes(), append(base)))
                break
    ok = conflicted = errors = regions = 0
    g_ok = g_conf = g_regions = 0
    for _, b, o, t in cases:
        try:
            r = merge_docx(b, o, t, ours_label="a", theirs_label="b")
            if r.conflicts:
                conflicted += 1
                regions += len(r.conflicts)
            else:
                ok += 1
        except DocxError:
            errors += 1
        n = _git_merge_file(docx_text(b), docx_text(o), docx_text(t))
        g_regions += n
        g_ok += n == 0
        g_conf += n > 0
    print(f"\nMerge quality on the corpus ({len(cases)} three-way cases: 3 true sets + each "
          "before/after pair against an appended paragraph)")
    print(f"{'merger':<34} {'auto-merged':>11} {'conflicted':>10} {'conflicts':>9} "
          f"{'errors':>6}")
    print(f"{'docx merger (structured)':<34} {ok:>11} {conflicted:>10} {regions:>9} "
          f"{errors:>6}")
    print(f"{'git merge-file on docx_text':<34} {g_ok:>11} {g_conf:>10} {g_regions:>9} "
          f"{'-':>6}")
    print("(git merge-file merges text only: even its clean results lose formatting, tables,"
          " images)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="skip the 3,000-page document")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        _child(args.child)
        return
    speed([30, 300] if args.quick else [30, 300, 3000])
    quality()


if __name__ == "__main__":
    main()
