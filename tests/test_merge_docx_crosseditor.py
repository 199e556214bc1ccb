"""Word and LibreOffice saves merged together, with the real LibreOffice.

Each case: one edit per side on different paragraphs; a side is written the Word way or
re-saved by ``soffice --headless --convert-to docx``; the merge must equal the base with
both edits as LibreOffice reads it (see tests/crosseditor.py). The full corpus run with its
table is scripts/bench/bench_docx_crosseditor.py; here, documents made by python-docx (the
whole suite has them) and a sample of the shared corpus (in CI).
"""

from __future__ import annotations

import io
from pathlib import Path

import crosseditor as ce
import docx
from docx.shared import Inches, Pt, RGBColor
from docx_builders import png, save


def _documents() -> list[tuple[str, bytes]]:
    """Documents with what people write: headings, formatted runs, lists, a table, an
    image, a header and footer, a comment, a hyperlink-free page of prose."""
    d = docx.Document()
    d.sections[0].header.paragraphs[0].text = "Quarterly report header"
    d.sections[0].footer.paragraphs[0].text = "Company confidential footer"
    d.add_heading("Quarterly planning notes", level=1)
    d.add_paragraph("We will hire two engineers before the summer starts.")
    p = d.add_paragraph("The budget is ")
    p.add_run("tight").bold = True
    p.add_run(" but the roadmap is ")
    r = p.add_run("ambitious")
    r.italic = True
    r.font.color.rgb = RGBColor(0xC0, 0x20, 0x20)
    p.add_run(" and realistic for everyone involved.")
    d.add_heading("Risks we know about", level=2)
    for item in ("Hiring takes longer than planned this year.",
                 "The vendor contract ends in spring next year.",
                 "Office move needs careful planning ahead."):
        d.add_paragraph(item, style="List Bullet")
    d.add_paragraph("Closing words for the planning notes go here.")
    t = d.add_table(rows=2, cols=2)
    for i, row in enumerate((("Team size", "Twelve people"), ("Budget owner", "Finance"))):
        for j, text in enumerate(row):
            t.cell(i, j).text = text
    d.add_paragraph("After the table comes a short summary paragraph.")
    d.add_picture(io.BytesIO(png((30, 120, 200))), width=Inches(0.6))
    d.add_paragraph("Last paragraph of the quarterly planning notes.")
    planning = save(d)

    d = docx.Document()
    style = d.styles["Normal"]
    style.font.name = "Arial"
    style.font.size = Pt(11)
    for i in range(12):
        d.add_paragraph(f"Paragraph number {i} talks about topic {i} in plain words, "
                        f"with enough text to edit somewhere in the middle of it.")
    prose = save(d)

    d = docx.Document()
    first = d.add_paragraph("Minutes of the weekly meeting with several attendees.")
    d.add_comment(first.runs[0], text="Check the attendee list", author="Reviewer",
                  initials="RV")
    for text in ("Item one was discussed at length by the whole group.",
                 "Item two was postponed until the next weekly meeting.",
                 "Item three needs a decision from the steering group.",
                 "Any other business was short and friendly today."):
        d.add_paragraph(text)
    minutes = save(d)
    return [("planning.docx", planning), ("prose.docx", prose), ("minutes.docx", minutes)]


def _report(outcomes: list[ce.Outcome]) -> str:
    return "\n".join(f"{o.pair} {o.kind} {o.doc}: {o.detail}" for o in outcomes)


def test_generated_documents_merge_across_editors() -> None:
    cases = [c for doc in _documents() for seed in range(4)
             if (c := ce.make_case(doc, seed)) is not None]
    assert len(cases) == 12
    ce.resave_with_libreoffice(cases)
    assert all(c.lo[0] is not None and c.lo[1] is not None for c in cases)
    outcomes = ce.judge(cases)
    bad = [o for o in outcomes if o.kind != "clean"]
    assert not bad, _report(bad)


def test_generated_conflicts_across_editors_are_flagged_and_resolvable() -> None:
    """A true conflict is flagged whoever saved each side, and the tracked changes written
    for it read as theirs when accepted and as ours when rejected."""
    cases = [c for doc in _documents() for seed in range(2)
             if (c := ce.make_case(doc, seed, clash=True)) is not None]
    assert len(cases) == 6
    ce.resave_with_libreoffice(cases)
    outcomes = ce.judge_conflicts(cases)
    bad = [o for o in outcomes if o.kind != "flagged"]
    assert not bad, _report(bad)


def test_corpus_sample_merges_across_editors(corpus: Path) -> None:
    """Every sixth document of the corpus: nothing lost, nothing invalid, nothing wrong,
    and at least 90% merged cleanly per editor pair (the whole corpus: the benchmark)."""
    cases = ce.corpus_cases(corpus, seeds=1, every=6)
    assert len(cases) >= 8
    ce.resave_with_libreoffice(cases)
    outcomes = ce.judge(cases)
    bad = [o for o in outcomes if o.kind in ("lost", "wrong", "invalid")]
    assert not bad, _report(bad)
    for pair, row in ce.tally(outcomes).items():
        n = sum(v for k, v in row.items() if k != "skipped")
        assert row["clean"] >= 0.9 * n, (pair, row, _report(outcomes))
    conflicts = ce.corpus_cases(corpus, seeds=1, every=6, clash=True)
    ce.resave_with_libreoffice(conflicts)
    missed = [o for o in ce.judge_conflicts(conflicts) if o.kind in ("unflagged", "invalid")]
    assert not missed, _report(missed)

