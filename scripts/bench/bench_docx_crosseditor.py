#!/usr/bin/env python3
"""Cross-editor merge benchmark: .docx merges where the two sides were saved by Word and by
LibreOffice (see tests/crosseditor.py for how the cases are made and judged).

For every document of ../shared/corpus with enough plain paragraphs, SEEDS pairs of edits
(a word replaced, a paragraph inserted, a paragraph deleted) on paragraphs at least two
apart; each side is saved the Word way (only the edited XML changes) or re-saved by
LibreOffice. The expected result is the base with both edits. Each merge is judged by
LibreOffice's text of the output against its text of the expected document. Beside it, the
same cases merged as a line-based tool would: ``git merge-file`` on the extracted text.

Prints a table; asserts nothing. Usage:

    .venv/bin/python scripts/bench/bench_docx_crosseditor.py [--seeds 2] [--every 1] [--list]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import crosseditor as ce  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus" / "docx"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=2, help="edit pairs per document")
    ap.add_argument("--every", type=int, default=1, help="use every N-th document")
    ap.add_argument("--list", action="store_true", help="list every case that is not clean")
    args = ap.parse_args()
    if not CORPUS.is_dir():
        raise SystemExit(f"the corpus is not at {CORPUS}")
    t0 = time.monotonic()
    cases = ce.corpus_cases(CORPUS, args.seeds, args.every)
    ce.resave_with_libreoffice(cases)
    t1 = time.monotonic()
    outcomes = ce.judge(cases)
    base = ce.tally(ce.baseline(cases))
    t2 = time.monotonic()
    docs = len({c.doc for c in cases})
    print(f"{len(cases)} cases from {docs} documents; LibreOffice saves {t1 - t0:.0f} s, "
          f"merges and judging {t2 - t1:.0f} s\n")
    print("| ours / theirs saved by | cases | merged cleanly and correctly | spurious conflicts "
          "| wrong merges | silent losses | invalid outputs | git merge-file on the text: clean "
          "and correct |")
    print("|---|---|---|---|---|---|---|---|")
    for pair, row in ce.tally(outcomes).items():
        n = sum(v for k, v in row.items() if k != "skipped")
        g = base.get(pair, {})
        gn = sum(g.values()) or 1
        print(f"| {pair} | {n} | {row['clean']} ({100 * row['clean'] / max(n, 1):.1f}%) "
              f"| {row['spurious']} | {row['wrong']} | {row['lost']} | {row['invalid']} "
              f"| {g.get('clean', 0)} ({100 * g.get('clean', 0) / gn:.1f}%) |")
    clashes = ce.corpus_cases(CORPUS, args.seeds, args.every, clash=True)
    ce.resave_with_libreoffice(clashes)
    flagged = ce.judge_conflicts(clashes)
    print(f"\nTrue conflicts ({len(clashes)} cases: both sides replace the same word "
          "differently): flagged, and the merged document's Accept All reads as theirs and "
          "Reject All as ours\n")
    print("| ours / theirs saved by | cases | flagged, Accept All = theirs, Reject All = ours "
          "| not flagged | Accept All differs | Reject All differs | invalid |")
    print("|---|---|---|---|---|---|---|")
    for pair, row in ce.tally(flagged, ce.CONFLICT_KINDS).items():
        n = sum(row.values())
        print(f"| {pair} | {n} | {row['flagged']} ({100 * row['flagged'] / max(n, 1):.1f}%) "
              f"| {row['unflagged']} | {row['accept wrong']} | {row['reject wrong']} "
              f"| {row['invalid']} |")
    if args.list:
        print()
        for o in outcomes + flagged:
            if o.kind not in ("clean", "flagged"):
                print(f"{o.pair:26} {o.kind:12} {o.doc}: {o.detail}")


if __name__ == "__main__":
    main()
