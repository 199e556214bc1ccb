"""Deciding whether bytes are text, decoding them, and putting them back byte for byte.

The text merger works on ``str`` lines; this module is what makes that safe. The promises:

* Content that is not text is never decoded: a NUL byte anywhere (outside UTF-16), bytes that
  are invalid in the detected encoding, or an 8-bit file that is mostly control characters make
  :func:`decode` return ``None``, so the binary merger keeps ours instead of a corrupted mix.
* What is decoded is re-encoded identically: ``encode(decode(b)) == b`` for every side.

Encodings recognised:

* UTF-8, with or without a BOM (the BOM is remembered and written back).
* UTF-16 LE/BE, only with a BOM (without one the NUL bytes make it binary, as git does).
* Any other ASCII-compatible 8-bit encoding (Latin-1, cp1252, ...): bytes that are not valid
  UTF-8 are decoded as Latin-1, which maps each byte to one character and back, so lines are
  merged on bytes without ever guessing the real code page. Because the code page is unknown,
  an 8-bit side can only be merged with other 8-bit or pure-ASCII sides; a side in UTF-8 with
  non-ASCII content next to an 8-bit one means the encoding changed, and the file is not merged
  as text.

Line endings are reported per side (:func:`eol_style`) so the merger can merge on ``\\n`` and
write CRLF back when that is what the sides use.
"""

from __future__ import annotations

import codecs
from typing import Literal, NamedTuple

EolStyle = Literal["lf", "crlf", "mixed", "none"]

#: Families of decoded sides. "ascii" is compatible with every other family.
Family = Literal["ascii", "utf-8", "utf-16-le", "utf-16-be", "8bit"]

# Control bytes that do not occur in ordinary text (tab, newlines, form feed, ESC excluded).
_CONTROL = frozenset([*range(0x01, 0x09), *range(0x0E, 0x1B), *range(0x1C, 0x20), 0x7F])
# An 8-bit file with more than this share of control bytes is treated as binary.
_MAX_CONTROL_SHARE = 0.01


class Encoding(NamedTuple):
    """How a side's bytes map to text: a Python codec name and whether a BOM leads the file."""

    codec: str
    bom: bool


class Decoded(NamedTuple):
    """One side decoded: its text (original line endings kept), family and BOM flag."""

    text: str
    family: Family
    bom: bool


def decode(data: bytes) -> Decoded | None:
    """Decode ``data`` as text, or return ``None`` when it is not text (see module doc)."""
    decoded = _decode(data)
    if decoded is None or "\x00" in decoded.text:
        return None
    return decoded


def _decode(data: bytes) -> Decoded | None:
    try:
        if data.startswith(codecs.BOM_UTF8):
            return Decoded(data[3:].decode("utf-8"), "utf-8", True)
        if data.startswith(codecs.BOM_UTF32_LE):
            return None  # UTF-32 is not supported as text; its BOM starts like UTF-16's
        if data.startswith(codecs.BOM_UTF16_LE):
            return Decoded(data[2:].decode("utf-16-le"), "utf-16-le", True)
        if data.startswith(codecs.BOM_UTF16_BE):
            return Decoded(data[2:].decode("utf-16-be"), "utf-16-be", True)
    except UnicodeDecodeError:
        return None
    if b"\x00" in data:
        return None
    if data.isascii():
        return Decoded(data.decode("ascii"), "ascii", False)
    try:
        return Decoded(data.decode("utf-8"), "utf-8", False)
    except UnicodeDecodeError:
        pass
    controls = sum(1 for byte in data if byte in _CONTROL)
    if controls > len(data) * _MAX_CONTROL_SHARE:
        return None
    return Decoded(data.decode("latin-1"), "8bit", False)


def encodings_for(sides: list[Decoded | None]) -> list[Encoding | None] | None:
    """The encoding each side uses, or ``None`` when the sides cannot be merged as one text.

    ``None`` entries (an absent base) stay ``None``. Pure-ASCII sides take the encoding of the
    8-bit sides when there are any (so their bytes stay the same), else UTF-8 without BOM.
    """
    families = {d.family for d in sides if d is not None} - {"ascii"}
    if "8bit" in families and len(families) > 1:
        return None
    ascii_as = Encoding("latin-1", False) if "8bit" in families else Encoding("utf-8", False)
    result: list[Encoding | None] = []
    for side in sides:
        if side is None:
            result.append(None)
        elif side.family == "ascii":
            result.append(ascii_as)
        elif side.family == "8bit":
            result.append(Encoding("latin-1", False))
        else:
            result.append(Encoding(side.family, side.bom))
    return result


def encode(text: str, encoding: Encoding) -> bytes:
    """Encode ``text`` back to bytes in ``encoding`` (BOM included when it has one)."""
    body = text.encode(encoding.codec)
    if not encoding.bom:
        return body
    bom = {
        "utf-8": codecs.BOM_UTF8,
        "utf-16-le": codecs.BOM_UTF16_LE,
        "utf-16-be": codecs.BOM_UTF16_BE,
    }[encoding.codec]
    return bom + body


def eol_style(text: str) -> EolStyle:
    """Which line ending ``text`` uses: all LF, all CRLF, a mix, or none (a single line)."""
    newlines = text.count("\n")
    if newlines == 0:
        return "none"
    crlf = text.count("\r\n")
    if crlf == 0:
        return "lf"
    if crlf == newlines:
        return "crlf"
    return "mixed"


def split_lines(text: str) -> list[str]:
    """Split on ``\\n`` only, each line keeping its terminator; the last may lack one.

    ``str.splitlines`` is not used because it also splits on form feeds, ``\\x1c`` and Unicode
    separators, which git does not treat as line breaks.
    """
    if not text:
        return []
    lines = text.split("\n")
    out = [line + "\n" for line in lines[:-1]]
    if lines[-1]:
        out.append(lines[-1])
    return out
