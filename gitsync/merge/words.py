"""Word-level three-way merge, used inside line groups that conflict.

A region is cut into tokens: runs of word characters, runs of horizontal whitespace, single
newlines and single punctuation characters. Every character lands in exactly one token, so
joining the tokens gives the text back. The tokens are merged with the same three-way rule as
lines (:mod:`gitsync.merge.sequence3`; touching edits conflict), so "two people changed
different words of one line" or "edited neighbouring lines" merges, while two different edits
of the same word, or two insertions at the same spot, still conflict.
"""

from __future__ import annotations

import re

from gitsync.merge.sequence3 import merge_clean

_TOKEN = re.compile(r"\n|[^\S\n]+|\w+|[^\w\s]")

#: Regions with more tokens than this on any side are not retried word by word: the token
#: diff is quadratic in the worst case, and such a region is a rewrite, not a small edit.
MAX_TOKENS = 20_000


def tokenize(text: str) -> list[str]:
    """Cut ``text`` into word, whitespace, newline and punctuation tokens (lossless)."""
    return _TOKEN.findall(text)


def merge_words(
    base: str, ours: str, theirs: str, *, max_tokens: int = MAX_TOKENS
) -> str | None:
    """The word-level merge of one region, or ``None`` when it still conflicts."""
    tokens = [tokenize(base), tokenize(ours), tokenize(theirs)]
    if max(len(t) for t in tokens) > max_tokens:
        return None
    merged = merge_clean(tokens[0], tokens[1], tokens[2])
    return None if merged is None else "".join(merged)
