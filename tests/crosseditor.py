"""Three-way .docx cases where the two sides were saved by different editors.

Shared by tests/test_merge_docx_crosseditor.py (a few documents) and
scripts/bench/bench_docx_crosseditor.py (the whole corpus).

A case starts from a real document (the base). Each side makes one edit to a different
body paragraph (a word replaced, a paragraph inserted, a paragraph deleted), and is then
either written back the way Word writes an edit (only the edited XML changes) or re-saved by
LibreOffice (``soffice --headless --convert-to docx``, which re-encodes the whole package as a
LibreOffice save does). The expected merge is the base with both edits applied, written the
Word way. A merge is judged by LibreOffice's own text of the output against its text of the
expected document:

- ``clean``: no conflict and the same text;
- ``spurious``: the merger reported conflicts although the edits do not overlap;
- ``wrong``: no conflict, a different text, but both sides' new words are there;
- ``lost``: no conflict and a side's new words are missing (a silent loss);
- ``invalid``: the merge raised, or python-docx or LibreOffice cannot open the output.
"""

from __future__ import annotations

import contextlib
import copy
import io
import os
import random
import re
import shutil
import signal
import subprocess
import tempfile
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from lxml import etree

from gitsync.merge.base import MergeResult

W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
W_P, W_R, W_T, W_BODY = f"{{{W}}}p", f"{{{W}}}r", f"{{{W}}}t", f"{{{W}}}body"
NOW = datetime(2026, 11, 30, 12, 0, 0, tzinfo=UTC)
PAIRS = ("word/word", "libreoffice/word", "word/libreoffice", "libreoffice/libreoffice")
KINDS = ("clean", "spurious", "wrong", "lost", "invalid")
_WORD = re.compile(r"\b[A-Za-z]{4,}\b")

Edit = Callable[[list[etree._Element]], None]


@dataclass
class Side:
    """One side's edit: what it does and the words that must survive a merge."""

    describe: str
    apply: Edit
    witness: str  # new words this side wrote ("" for a deletion)


@dataclass
class Case:
    doc: str
    base: bytes
    edits: tuple[Side, Side]
    word: tuple[bytes, bytes]  # each side saved the Word way
    expected: bytes
    lo: list[bytes | None] = field(default_factory=lambda: [None, None])  # LibreOffice saves

    def sides(self, pair: str) -> tuple[bytes, bytes] | None:
        ours_by, theirs_by = pair.split("/")
        out = []
        for i, by in enumerate((ours_by, theirs_by)):
            data = self.word[i] if by == "word" else self.lo[i]
            if data is None:
                return None
            out.append(data)
        return out[0], out[1]


def _body_paragraphs(root: etree._Element) -> list[etree._Element]:
    body = root.find(W_BODY)
    if body is None:
        return []
    return [p for p in body if p.tag == W_P]


def _text(p: etree._Element) -> str:
    return "".join(t.text or "" for t in p.iter(W_T))


def _rewrite(data: bytes, fn: Callable[[list[etree._Element]], None]) -> bytes:
    """DATA with document.xml edited by FN (over the body paragraphs), every other part and
    the zip entries' order kept: the way Word writes a small edit back."""
    zin = zipfile.ZipFile(io.BytesIO(data))
    root = etree.fromstring(zin.read("word/document.xml"))
    fn(_body_paragraphs(root))
    xml = etree.tostring(root, xml_declaration=True, encoding="UTF-8", standalone=True)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            body = xml if info.filename == "word/document.xml" else zin.read(info)
            zout.writestr(info.filename, body)
    return out.getvalue()


def _reword(index: int, old: str, new: str) -> Edit:
    def fn(paras: list[etree._Element]) -> None:
        for t in paras[index].iter(W_T):
            if t.text and re.search(rf"\b{re.escape(old)}\b", t.text):
                t.text = re.sub(rf"\b{re.escape(old)}\b", new, t.text, count=1)
                return
        raise AssertionError(f"{old!r} not in one run of paragraph {index}")
    return fn


def _insert_after(index: int, text: str) -> Edit:
    def fn(paras: list[etree._Element]) -> None:
        p = paras[index]
        new = etree.Element(W_P)
        ppr = p.find(f"{{{W}}}pPr")
        if ppr is not None:
            ppr = copy.deepcopy(ppr)
            for sect in ppr.findall(f"{{{W}}}sectPr"):  # one section break, not two
                ppr.remove(sect)
            new.append(ppr)
        r = etree.SubElement(new, W_R)
        first = p.find(W_R)
        if first is not None and first.find(f"{{{W}}}rPr") is not None:
            r.append(copy.deepcopy(first.find(f"{{{W}}}rPr")))
        etree.SubElement(r, W_T).text = text
        p.addnext(new)
    return fn


def _delete(index: int) -> Edit:
    def fn(paras: list[etree._Element]) -> None:
        p = paras[index]
        p.getparent().remove(p)
    return fn


def _candidates(data: bytes) -> list[int]:
    """Body paragraphs worth editing: plain ones with a few words and no section break."""
    root = etree.fromstring(zipfile.ZipFile(io.BytesIO(data)).read("word/document.xml"))
    out = []
    for i, p in enumerate(_body_paragraphs(root)):
        ppr = p.find(f"{{{W}}}pPr")
        if ppr is not None and ppr.find(f"{{{W}}}sectPr") is not None:
            continue
        if any(el.tag.endswith(("}ins", "}del", "}moveFrom", "}moveTo")) for el in p.iter()):
            continue  # paragraphs already holding tracked changes: left for other tests
        if any(el.tag.endswith(("}fldChar", "}fldSimple", "}instrText")) for el in p.iter()):
            continue  # a field's text is its last result: an editor recomputes it on save
        if len(_text(p).split()) >= 3 and any(_WORD.search(t.text or "")
                                             for t in p.iter(W_T)):
            out.append(i)
    return out


def _make_side(rnd: random.Random, data: bytes, index: int, label: str) -> Side:
    root = etree.fromstring(zipfile.ZipFile(io.BytesIO(data)).read("word/document.xml"))
    p = _body_paragraphs(root)[index]
    kind = rnd.choice(("reword", "reword", "insert", "delete"))
    if kind == "reword":
        words = [w for t in p.iter(W_T) for w in _WORD.findall(t.text or "")]
        old = rnd.choice(words)
        new = f"{label}edited"
        return Side(f"reword {old!r} in paragraph {index}", _reword(index, old, new), new)
    if kind == "insert":
        text = f"Paragraph {label}inserted after paragraph {index}."
        return Side(f"insert after paragraph {index}", _insert_after(index, text),
                    f"{label}inserted")
    return Side(f"delete paragraph {index}", _delete(index), "")


def make_case(doc: Path | tuple[str, bytes], seed: int, clash: bool = False) -> Case | None:
    """A case from DOC (a file, or a name and its bytes): two edits of paragraphs at least
    two apart, or None when the document has too few plain paragraphs. With CLASH, both
    sides replace the same word of one paragraph by different words: a true conflict."""
    name, base = (doc.name, doc.read_bytes()) if isinstance(doc, Path) else doc
    try:
        cands = _candidates(base)
    except (KeyError, zipfile.BadZipFile, etree.XMLSyntaxError):
        return None
    rnd = random.Random(f"{name}:{seed}:{clash}")
    if clash:
        if not cands:
            return None
        edits = _clash(rnd, base, rnd.choice(cands))
        return Case(doc=name, base=base, edits=edits,
                    word=(_rewrite(base, edits[0].apply), _rewrite(base, edits[1].apply)),
                    expected=base)
    pairs = [(a, b) for a in cands for b in cands if b >= a + 2]
    if not pairs:
        return None
    a, b = rnd.choice(pairs)
    edits = (_make_side(rnd, base, a, "Alpha"), _make_side(rnd, base, b, "Beta"))

    def both(paras: list[etree._Element]) -> None:  # indices refer to the base
        snapshot = list(paras)
        for side in edits:
            side.apply(snapshot)

    return Case(doc=name, base=base, edits=edits,
                word=(_rewrite(base, edits[0].apply), _rewrite(base, edits[1].apply)),
                expected=_rewrite(base, both))


def _clash(rnd: random.Random, data: bytes, index: int) -> tuple[Side, Side]:
    root = etree.fromstring(zipfile.ZipFile(io.BytesIO(data)).read("word/document.xml"))
    p = _body_paragraphs(root)[index]
    old = rnd.choice([w for t in p.iter(W_T) for w in _WORD.findall(t.text or "")])
    return (Side(f"reword {old!r} in paragraph {index}", _reword(index, old, "Alphaedited"),
                 "Alphaedited"),
            Side(f"reword {old!r} in paragraph {index}", _reword(index, old, "Betaedited"),
                 "Betaedited"))


def soffice_convert(files: Iterable[Path], outdir: Path, target: str,
                    timeout: float = 600.0) -> None:
    """One ``soffice --convert-to TARGET`` call over FILES into OUTDIR, private profile."""
    profile = Path(tempfile.mkdtemp(prefix="lo-profile-"))
    proc = subprocess.Popen(
        [shutil.which("soffice") or "soffice", "--headless", "--norestore",
         f"-env:UserInstallation={profile.as_uri()}", "--convert-to", target,
         "--outdir", str(outdir), *map(str, files)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, "SAL_USE_VCLPLUGIN": "svp"}, start_new_session=True)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        pass
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        shutil.rmtree(profile, ignore_errors=True)


def libreoffice_batch(docs: dict[str, bytes], target: str, ext: str,
                      chunk: int = 40) -> dict[str, bytes]:
    """DOCS (name -> .docx bytes) converted by LibreOffice; a name missing from the result
    could not be converted (after one retry)."""
    work = Path(tempfile.mkdtemp(prefix="crossed-"))
    try:
        src, out = work / "in", work / "out"
        src.mkdir()
        out.mkdir()
        names = list(docs)
        for name in names:
            (src / f"{name}.docx").write_bytes(docs[name])
        for attempt in range(2):
            todo = [n for n in names if not (out / f"{n}.{ext}").exists()]
            for i in range(0, len(todo), chunk):
                soffice_convert([src / f"{n}.docx" for n in todo[i:i + chunk]], out, target)
            if attempt == 0 and not todo:
                break
        return {n: (out / f"{n}.{ext}").read_bytes() for n in names
                if (out / f"{n}.{ext}").exists()}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def resave_with_libreoffice(cases: list[Case]) -> None:
    """Fill each case's LibreOffice saves (both sides, all in one batch)."""
    todo = {f"c{i:04d}s{s}": case.word[s] for i, case in enumerate(cases) for s in (0, 1)}
    done = libreoffice_batch(todo, "docx:MS Word 2007 XML", "docx")
    for i, case in enumerate(cases):
        case.lo = [done.get(f"c{i:04d}s0"), done.get(f"c{i:04d}s1")]


def normalise_text(text: str) -> str:
    lines = [re.sub(r"\s+", " ", line).strip() for line in text.splitlines()]
    return "\n".join(line for line in lines if line)


@dataclass
class Outcome:
    doc: str
    pair: str
    kind: str
    detail: str = ""
    conflicts: int = 0


def _merge(case: Case, pair: str, sides: tuple[bytes, bytes],
           outcomes: list[Outcome]) -> MergeResult | None:
    """The case merged (this device "laptop", the other "desktop"), or None with an
    "invalid" outcome recorded when the merger refused it."""
    from gitsync.merge.docx import DocxError, merge_docx

    try:
        return merge_docx(case.base, sides[0], sides[1], ours_label="laptop",
                          theirs_label="desktop", now=NOW)
    except DocxError as e:
        outcomes.append(Outcome(case.doc, pair, "invalid", f"merge raised: {e}"))
        return None


def _python_docx_opens(data: bytes) -> bool:
    import docx

    try:
        docx.Document(io.BytesIO(data))
    except Exception:
        return False
    return True


def judge(cases: list[Case], pairs: Iterable[str] = PAIRS) -> list[Outcome]:
    """Merge every case for every editor pair and judge it with LibreOffice's text."""
    merged: dict[str, tuple[Case, str, bytes, int, str]] = {}
    outcomes: list[Outcome] = []
    expected_docs: dict[str, bytes] = {}
    for i, case in enumerate(cases):
        expected_docs[f"e{i:04d}"] = case.expected
        for j, pair in enumerate(pairs):
            sides = case.sides(pair)
            if sides is None:
                outcomes.append(Outcome(case.doc, pair, "skipped", "LibreOffice could not save"))
                continue
            result = _merge(case, pair, sides, outcomes)
            if result is None:
                continue
            if not _python_docx_opens(result.data):
                outcomes.append(Outcome(case.doc, pair, "invalid", "python-docx refuses it"))
                continue
            kinds = "; ".join(sorted({f"{c.kind}: {c.where}" for c in result.conflicts}))
            merged[f"m{i:04d}p{j}"] = (case, pair, result.data, len(result.conflicts), kinds)
    texts = libreoffice_batch({**expected_docs, **{k: v[2] for k, v in merged.items()}},
                              "txt:Text", "txt")
    for key, (case, pair, _data, conflicts, kinds) in merged.items():
        want = texts.get(f"e{key[1:5]}")
        got = texts.get(key)
        if got is None:
            outcomes.append(Outcome(case.doc, pair, "invalid", "LibreOffice cannot open it",
                                    conflicts))
            continue
        if want is None:
            outcomes.append(Outcome(case.doc, pair, "skipped", "expected text unavailable"))
            continue
        got_text = normalise_text(got.decode("utf-8-sig", errors="replace"))
        want_text = normalise_text(want.decode("utf-8-sig", errors="replace"))
        missing = [s.witness for s in case.edits if s.witness and s.witness not in got_text]
        if conflicts:
            outcomes.append(Outcome(case.doc, pair, "spurious", kinds, conflicts))
        elif got_text == want_text:
            outcomes.append(Outcome(case.doc, pair, "clean"))
        elif missing:
            outcomes.append(Outcome(case.doc, pair, "lost", f"missing {missing}"))
        else:
            outcomes.append(Outcome(case.doc, pair, "wrong", _first_difference(want_text,
                                                                               got_text)))
    return outcomes


def _passage(text: str, witness: str) -> list[str]:
    """The lines of TEXT holding a side's new words: the passage a conflict is about (the
    rest of a document may differ legitimately, e.g. a date field LibreOffice refreshed)."""
    return [line for line in text.splitlines() if witness in line]


def _first_difference(want: str, got: str) -> str:
    wl, gl = want.splitlines(), got.splitlines()
    for n, (a, b) in enumerate(zip(wl, gl, strict=False)):
        if a != b:
            return f"line {n + 1}: expected {a[:60]!r}, got {b[:60]!r}"
    return f"{len(wl)} lines expected, {len(gl)} merged"


def tally(outcomes: list[Outcome],
          kinds: Iterable[str] = (*KINDS, "skipped")) -> dict[str, dict[str, int]]:
    table: dict[str, dict[str, int]] = {}
    for o in outcomes:
        row = table.setdefault(o.pair, dict.fromkeys(kinds, 0))
        row[o.kind] += 1
    return table


def baseline(cases: list[Case], pairs: Iterable[str] = PAIRS) -> list[Outcome]:
    """What a line-based tool gives: ``git merge-file`` on the documents' extracted text
    (one paragraph per line), judged against the expected document's text."""
    from gitsync.merge.docx import docx_text

    outcomes = []
    with tempfile.TemporaryDirectory(prefix="crossed-git-") as tmp:
        work = Path(tmp)
        for case in cases:
            want = normalise_text(docx_text(case.expected))
            for pair in pairs:
                sides = case.sides(pair)
                if sides is None:
                    continue
                for name, data in (("base", case.base), ("ours", sides[0]),
                                   ("theirs", sides[1])):
                    (work / name).write_text(docx_text(data), encoding="utf-8")
                proc = subprocess.run(["git", "merge-file", "-p", str(work / "ours"),
                                       str(work / "base"), str(work / "theirs")],
                                      capture_output=True)
                got = normalise_text(proc.stdout.decode("utf-8", errors="replace"))
                missing = [s.witness for s in case.edits if s.witness and s.witness not in got]
                if proc.returncode != 0:
                    kind = "spurious"
                elif got == want:
                    kind = "clean"
                else:
                    kind = "lost" if missing else "wrong"
                outcomes.append(Outcome(case.doc, pair, kind))
    return outcomes


def corpus_cases(corpus: Path, seeds: int = 2, every: int = 1,
                 clash: bool = False) -> list[Case]:
    """Cases from every EVERY-th document of the corpus, SEEDS edit pairs each."""
    docs = sorted(corpus.glob("*/*.docx"))[::every]
    return [c for d in docs for s in range(seeds)
            if (c := make_case(d, s, clash)) is not None]


CONFLICT_KINDS = ("flagged", "unflagged", "accept wrong", "reject wrong", "invalid")


def judge_conflicts(cases: list[Case], pairs: Iterable[str] = PAIRS) -> list[Outcome]:
    """Merge true-conflict cases: each must be flagged, and the merged document's Accept All
    must read as theirs and Reject All as ours (tracked changes resolved with lxml, as
    tests/docx_builders.py does; texts compared paragraph by paragraph)."""
    from docx_builders import accept_all, reject_all

    from gitsync.merge.docx import docx_text

    def text(data: bytes) -> str:
        return normalise_text(docx_text(data))

    outcomes = []
    for case in cases:
        for pair in pairs:
            sides = case.sides(pair)
            if sides is None:
                continue
            result = _merge(case, pair, sides, outcomes)
            if result is None:
                continue
            mine, other = case.edits[0].witness, case.edits[1].witness
            if not result.conflicts:
                outcomes.append(Outcome(case.doc, pair, "unflagged", ""))
            elif (want := _passage(text(sides[1]), other)) != (
                    got := _passage(text(accept_all(result.data)), other)) or not want or (
                    mine in text(accept_all(result.data))):
                outcomes.append(Outcome(case.doc, pair, "accept wrong",
                                        f"expected {want!r}, got {got!r}"))
            elif (want := _passage(text(sides[0]), mine)) != (
                    got := _passage(text(reject_all(result.data)), mine)) or not want or (
                    other in text(reject_all(result.data))):
                outcomes.append(Outcome(case.doc, pair, "reject wrong",
                                        f"expected {want!r}, got {got!r}"))
            else:
                outcomes.append(Outcome(case.doc, pair, "flagged", "", len(result.conflicts)))
    return outcomes
