"""A text conflict cut into settled stretches and conflicting segments, for a resolution page.

Pure. The cut is the text merger's own (:mod:`gitsync.merge.text`): line groups by git's rule,
regrouped with the looser rule, then merged word by word; what still clashes is a conflict
segment, everything else (one-sided edits, identical edits on both sides, word-merged lines)
is settled text. Conflict segments separated only by blank or whitespace lines are one
segment, since nobody decides those apart. Taking "ours" everywhere gives back exactly what
the merger wrote into the file, so a page's choices rebuild the file faithfully, in its own
encoding and line endings.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from gitsync.errors import UserError
from gitsync.merge.sequence3 import merge_chunks, take
from gitsync.merge.text import _prepare, _terminated, _where
from gitsync.merge.textcodec import Encoding, encode, split_lines
from gitsync.merge.words import merge_words

CHOICES = ("ours", "theirs", "both", "base")


@dataclass(frozen=True)
class Piece:
    """Settled lines (``conflict`` False: ``ours`` holds them) or one conflict."""

    conflict: bool
    base: tuple[str, ...]
    ours: tuple[str, ...]
    theirs: tuple[str, ...]


@dataclass(frozen=True)
class TextConflict:
    pieces: tuple[Piece, ...]
    crlf: bool
    encoding: Encoding

    @property
    def count(self) -> int:
        return sum(1 for p in self.pieces if p.conflict)

    def segments(self) -> list[dict[str, object]]:
        """``{"kind": "same", "text"}`` and ``{"kind": "conflict", "index", "base",
        "ours", "theirs", "where"}`` in file order (texts with LF line ends)."""
        out: list[dict[str, object]] = []
        line = 1  # in the file as merged (ours in conflicts)
        index = 0
        for p in self.pieces:
            if not p.conflict:
                out.append({"kind": "same", "text": "".join(p.ours)})
            else:
                out.append({"kind": "conflict", "index": index, "base": "".join(p.base),
                            "ours": "".join(p.ours), "theirs": "".join(p.theirs),
                            "where": _where(line, len(p.ours))})
                index += 1
            line += len(p.ours)
        return out

    def rebuild(self, choices: Sequence[str] | Mapping[int, str],
                texts: Mapping[int, str] | None = None) -> bytes:
        """The file with each conflict settled: CHOICES[i] is ours, theirs, both (ours'
        lines then theirs') or base; TEXTS[i], when given, is the segment's text as typed."""
        out: list[str] = []
        index = 0
        for p in self.pieces:
            if not p.conflict:
                out.extend(p.ours)
                continue
            if texts is not None and index in texts:
                typed = texts[index]
                out.extend(split_lines(typed.replace("\r\n", "\n")))
                if out and not out[-1].endswith("\n") and typed:
                    out[-1] += "\n"
            else:
                choice = _choice(choices, index)
                if choice == "both":
                    out.extend(_terminated(p.ours) + list(p.theirs))
                else:
                    out.extend({"ours": p.ours, "theirs": p.theirs, "base": p.base}[choice])
            index += 1
        text = "".join(out)
        if self.crlf:
            text = text.replace("\n", "\r\n")
        return encode(text, self.encoding)


def text_conflict(base: bytes | None, ours: bytes, theirs: bytes) -> TextConflict | None:
    """The cut of a text conflict, or None when the sides are not text in one encoding."""
    prepared = _prepare(base, ours, theirs)
    if prepared is None:
        return None
    b, o, t = prepared.lines
    pieces: list[Piece] = []

    def same(lines: Sequence[str]) -> None:
        if not lines:
            return
        if pieces and not pieces[-1].conflict:
            pieces[-1] = Piece(False, (), pieces[-1].ours + tuple(lines), ())
        else:
            pieces.append(Piece(False, (), tuple(lines), ()))

    for chunk in merge_chunks(b, o, t):
        if chunk.kind != "conflict":
            same(take(chunk, b, o, t))
            continue
        bp, op, tp = (b[chunk.base[0]:chunk.base[1]], o[chunk.ours[0]:chunk.ours[1]],
                      t[chunk.theirs[0]:chunk.theirs[1]])
        for sub in merge_chunks(bp, op, tp, touching_conflicts=False):
            if sub.kind != "conflict":
                same(take(sub, bp, op, tp))
                continue
            bb, oo, tt = (bp[sub.base[0]:sub.base[1]], op[sub.ours[0]:sub.ours[1]],
                          tp[sub.theirs[0]:sub.theirs[1]])
            merged = merge_words("".join(bb), "".join(oo), "".join(tt))
            if merged is not None:
                same(split_lines(merged))
            else:
                pieces.append(Piece(True, tuple(bb), tuple(oo), tuple(tt)))
    crlf = prepared.normalised and prepared.eol == "crlf"
    return TextConflict(tuple(_joined(pieces)), crlf, prepared.encoding)


def _joined(pieces: list[Piece]) -> list[Piece]:
    """Conflicts that touch, or are apart only by whitespace lines, made one."""
    out: list[Piece] = []
    for p in pieces:
        if p.conflict and out:
            prev = out[-1]
            gap: tuple[str, ...] = ()
            if not prev.conflict and len(out) >= 2 and out[-2].conflict and \
                    "".join(prev.ours).strip() == "":
                gap = prev.ours
                out.pop()
                prev = out[-1]
            if prev.conflict:
                out[-1] = Piece(True, prev.base + gap + p.base, prev.ours + gap + p.ours,
                                prev.theirs + gap + p.theirs)
                continue
            if gap:
                out.append(Piece(False, (), gap, ()))
        out.append(p)
    return out


def _choice(choices: Sequence[str] | Mapping[int, str], index: int) -> str:
    try:
        choice = choices[index]
    except (IndexError, KeyError):
        raise UserError(f"no choice given for conflict {index + 1}",
                        hint="decide every conflict, or take one side for all") from None
    if choice not in CHOICES:
        raise UserError(f"unknown choice {choice!r} for conflict {index + 1}",
                        hint="use ours, theirs, both or base")
    return choice
