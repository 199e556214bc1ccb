"""Reading and writing OOXML zip packages, with the safety limits applied.

Reading never trusts the archive: the entry count, declared and actual uncompressed sizes and
compression ratios are checked before and while inflating, duplicate names and encrypted
entries are refused, and XML is parsed without DTDs, entities or network access. Writing is
deterministic: same parts (and source packages) in, same bytes out (fixed order and timestamps).
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from lxml import etree

from gitsync.merge.docx.errors import (
    EncryptedDocxError,
    LimitExceededError,
    MalformedPartError,
    MissingPartError,
    NotAZipError,
)
from gitsync.merge.docx.limits import DocxLimits

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
DOCUMENT_PART = "word/document.xml"
CONTENT_TYPES = "[Content_Types].xml"
FIXED_DATE = (1980, 1, 1, 0, 0, 0)
STORED_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".wdp")
#: Parts smaller than this cannot hold enough attributes on one element to be slow.
ATTRIBUTE_SCAN_FLOOR = 64 * 1024


def _parser(limits: DocxLimits) -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_blank_text=False,
    )


class Stored(NamedTuple):
    """A member as it was read: its content, and its compressed form in the archive."""

    content: bytes
    method: int
    crc: int
    compressed: memoryview


@dataclass
class Package:
    """The parts of one package, in archive order, as raw bytes.

    ``order`` keeps the original member order so an unchanged package is rewritten in the same
    layout; ``date_time`` is the first member's timestamp, reused for every written member.
    ``stored`` holds the members as read from the archive (see :func:`write_package`).
    """

    parts: dict[str, bytes]
    order: list[str] = field(default_factory=list)
    date_time: tuple[int, int, int, int, int, int] = FIXED_DATE
    stored: dict[str, Stored] = field(default_factory=dict)

    def copy(self) -> Package:
        return Package(dict(self.parts), list(self.order), self.date_time, self.stored)


def read_package(data: bytes, limits: DocxLimits, *, label: str = "document") -> Package:
    """Open a package safely; raise a typed :class:`DocxError` for anything unmergeable."""
    if data[:8] == OLE_MAGIC:
        raise EncryptedDocxError(
            f"{label} is password-protected (an encrypted Office file)",
            hint="remove the password in Word to let gitsync merge it",
        )
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError,
            NotImplementedError) as e:  # NotImplementedError: a zip64 "version" from garbage
        raise NotAZipError(f"{label} is not a readable Word package ({e})") from e
    if len(infos) > limits.max_entries:
        raise LimitExceededError(
            f"{label} has {len(infos)} zip entries (limit {limits.max_entries})",
            limit="max_entries",
        )
    seen: set[str] = set()
    total = 0
    for info in infos:
        name = info.filename
        if name in seen or name.lower() in seen:
            raise MalformedPartError(f"{label} has a duplicate zip entry {name!r}", part=name)
        seen.add(name)
        seen.add(name.lower())
        if info.flag_bits & 0x1:
            raise EncryptedDocxError(f"{label} has an encrypted zip entry {name!r}", part=name)
        _check_sizes(info, limits, label)
        total += info.file_size
        if total > limits.max_total_size:
            raise LimitExceededError(
                f"{label} is over {limits.max_total_size} bytes uncompressed",
                limit="max_total_size",
            )
    # Members under ratio_floor are not ratio-checked one by one, so hundreds of them (or
    # many entries sharing one compressed stream) would inflate a small file a thousandfold.
    if total > limits.ratio_floor and total / max(len(data), 1) > limits.max_ratio:
        raise LimitExceededError(
            f"{label} would inflate {total / max(len(data), 1):.0f}:1 "
            f"(limit {limits.max_ratio:.0f}:1), refusing a possible zip bomb",
            limit="max_ratio",
        )
    parts: dict[str, bytes] = {}
    order: list[str] = []
    stored: dict[str, Stored] = {}
    view = memoryview(data)
    for info in infos:
        if info.is_dir():
            continue
        try:
            with zf.open(info) as fh:
                content = fh.read(limits.max_entry_size + 1)
        except (zipfile.BadZipFile, zlib.error, OSError, ValueError, EOFError, RuntimeError,
                NotImplementedError) as e:
            raise NotAZipError(f"{label}: entry {info.filename!r} is unreadable ({e})",
                               part=info.filename) from e
        if len(content) > limits.max_entry_size:
            raise LimitExceededError(
                f"{label}: entry {info.filename!r} is too large", limit="max_entry_size",
                part=info.filename,
            )
        parts[info.filename] = content
        order.append(info.filename)
        raw = _member_data(view, info)
        if raw is not None:
            stored[info.filename] = Stored(content, info.compress_type, info.CRC, raw)
    if DOCUMENT_PART not in parts:
        raise MissingPartError(f"{label} has no {DOCUMENT_PART}", part=DOCUMENT_PART)
    if CONTENT_TYPES not in parts:
        raise MissingPartError(f"{label} has no {CONTENT_TYPES}", part=CONTENT_TYPES)
    date_time = infos[0].date_time if infos else FIXED_DATE
    return Package(parts, order, date_time, stored)


def _member_data(view: memoryview, info: zipfile.ZipInfo) -> memoryview | None:
    """The member's compressed data, from where zipfile just read (and CRC-checked) it;
    None for other compression methods or a local header that does not look right."""
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        return None
    at = info.header_offset
    header = view[at:at + 30]
    if len(header) != 30 or header[:4] != b"PK\x03\x04":
        return None
    n, extra = struct.unpack("<HH", header[26:30])
    start = at + 30 + n + extra
    if start + info.compress_size > len(view):
        return None
    return view[start:start + info.compress_size]


def _check_sizes(info: zipfile.ZipInfo, limits: DocxLimits, label: str) -> None:
    if info.file_size > limits.max_entry_size:
        raise LimitExceededError(
            f"{label}: entry {info.filename!r} is {info.file_size} bytes uncompressed "
            f"(limit {limits.max_entry_size})",
            limit="max_entry_size", part=info.filename,
        )
    if info.filename.endswith((".xml", ".rels")) and info.file_size > limits.max_xml_size:
        raise LimitExceededError(
            f"{label}: XML part {info.filename!r} is over {limits.max_xml_size} bytes",
            limit="max_xml_size", part=info.filename,
        )
    if info.file_size > limits.ratio_floor:
        ratio = info.file_size / max(info.compress_size, 1)
        if ratio > limits.max_ratio:
            raise LimitExceededError(
                f"{label}: entry {info.filename!r} compresses {ratio:.0f}:1 "
                f"(limit {limits.max_ratio:.0f}:1), refusing a possible zip bomb",
                limit="max_ratio", part=info.filename,
            )


def parse_xml(data: bytes, part: str, limits: DocxLimits) -> etree._Element:
    """Parse one part safely; DTDs are refused outright (OOXML never uses them)."""
    if len(data) > limits.max_xml_size:
        raise LimitExceededError(f"XML part {part!r} is too large", limit="max_xml_size",
                                 part=part)
    try:
        root = etree.fromstring(data, parser=_parser(limits))
    except etree.XMLSyntaxError as e:
        raise MalformedPartError(f"part {part!r} is not well-formed XML ({e})", part=part) from e
    tree = root.getroottree()
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise MalformedPartError(f"part {part!r} declares a DTD, which Word never writes",
                                 part=part)
    if len(data) > ATTRIBUTE_SCAN_FLOOR and root.xpath(
            f"boolean(//*[count(@*) > {int(limits.max_attributes)}])"):
        raise LimitExceededError(
            f"part {part!r} has an element with over {limits.max_attributes} attributes",
            limit="max_attributes", part=part)
    return root


def serialize_xml(root: etree._Element) -> bytes:
    """Serialize a part the way Word writes it (declaration with standalone, CRLF after it)."""
    body = etree.tostring(root, encoding="UTF-8", xml_declaration=False)
    return b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\r\n' + body


def write_package(pkg: Package, sources: Sequence[Package] = ()) -> bytes:
    """Zip the parts deterministically: original order first, new parts sorted after.

    A part whose bytes are those of the same member of one of ``sources`` (packages as read)
    is written with that member's compressed data as it was, instead of compressing it again:
    large unchanged parts (the style parts some tools write run to hundreds of kilobytes) cost
    nothing then. Others are deflated as :mod:`zipfile` does, images stored. The archive is
    the plain zip layout zipfile writes; the self-check reads it back before it is returned.
    """
    names = [n for n in pkg.order if n in pkg.parts]
    names += sorted(n for n in pkg.parts if n not in set(names))
    # [Content_Types].xml first, as Word and the spec recommend.
    if CONTENT_TYPES in names:
        names.remove(CONTENT_TYPES)
        names.insert(0, CONTENT_TYPES)
    if len(names) >= 0xFFFF:
        raise LimitExceededError(f"the merged package would have {len(names)} entries",
                                 limit="max_entries")
    y, mo, d, h, mi, sec = pkg.date_time
    dos_date, dos_time = (y - 1980) << 9 | mo << 5 | d, h << 11 | mi << 5 | sec // 2
    out = io.BytesIO()
    central: list[bytes] = []
    for name in names:
        data = pkg.parts[name]
        method, crc, body = _compressed(name, data, sources)
        try:
            encoded, flags = name.encode("ascii"), 0
        except UnicodeEncodeError:
            encoded, flags = name.encode("utf-8"), 0x800
        offset = out.tell()
        if max(len(data), offset + 30 + len(encoded) + len(body)) >= 0xFFFFFFFF:
            raise LimitExceededError(f"the merged package is too large at {name!r}",
                                     limit="max_total_size", part=name)
        out.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, flags, method, dos_time,
                              dos_date, crc, len(body), len(data), len(encoded), 0))
        out.write(encoded)
        out.write(body)
        central.append(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 3 << 8 | 20, 20, flags,
                                   method, dos_time, dos_date, crc, len(body), len(data),
                                   len(encoded), 0, 0, 0, 0, 0o600 << 16, offset) + encoded)
    start = out.tell()
    for entry in central:
        out.write(entry)
    size = out.tell() - start
    out.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(names), len(names), size, start,
                          0))
    return out.getvalue()


def _compressed(name: str, data: bytes, sources: Sequence[Package]
                ) -> tuple[int, int, bytes | memoryview]:
    """(method, CRC-32, member data) for one part."""
    for src in sources:
        was = src.stored.get(name)
        if was is not None and (was.content is data or was.content == data):
            return was.method, was.crc, was.compressed
    crc = zlib.crc32(data)
    # Already-compressed images gain nothing from deflate; storing them is fast.
    if name.lower().endswith(STORED_SUFFIXES):
        return zipfile.ZIP_STORED, crc, data
    c = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)
    return zipfile.ZIP_DEFLATED, crc, c.compress(data) + c.flush()
