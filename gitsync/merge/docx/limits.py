"""Resource limits applied to every .docx package before and while it is merged."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DocxLimits:
    """Bounds that keep a hostile or absurd input from exhausting time or memory.

    Defaults fit real documents comfortably (a 1,000-page report with images is far below them)
    while keeping a zip bomb or entity bomb to a fast, typed failure.

    - ``max_entries``: zip members per package.
    - ``max_total_size``: sum of uncompressed member sizes, in bytes (512 MiB).
    - ``max_entry_size``: uncompressed size of any one member (256 MiB).
    - ``max_xml_size``: uncompressed size of any XML member that is parsed (64 MiB).
    - ``max_ratio``: uncompressed/compressed ratio per member above ``ratio_floor`` bytes.
    - ``ratio_floor``: members smaller than this are never ratio-checked (tiny XML compresses
      very well and is harmless).
    - ``max_paragraphs``: body blocks (paragraphs, tables, content controls) per document.
    - ``max_attributes``: attributes on any one element (Word writes a few dozen at most;
      moving an element with hundreds of thousands of them between trees takes seconds).
    """

    max_entries: int = 10_000
    max_total_size: int = 512 * 1024 * 1024
    max_entry_size: int = 256 * 1024 * 1024
    max_xml_size: int = 64 * 1024 * 1024
    max_ratio: float = 200.0
    ratio_floor: int = 1024 * 1024
    max_paragraphs: int = 200_000
    max_attributes: int = 1_000


DEFAULT_LIMITS = DocxLimits()
