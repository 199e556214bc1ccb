"""Inputs the docx merger must refuse with a typed error, quickly and in bounded memory."""

from __future__ import annotations

import io
import time
import zipfile

import docx_builders as B
import pytest

from gitsync.errors import MergeError
from gitsync.merge.docx import (
    DocxLimits,
    EncryptedDocxError,
    LimitExceededError,
    MalformedPartError,
    MissingPartError,
    NotAZipError,
    merge_docx,
)

GOOD = B.paras("Alpha.", "Beta.")
OTHER = B.paras("Alpha.", "Beta.", "Gamma.")


def run(bad: bytes, limits: DocxLimits | None = None) -> None:
    merge_docx(GOOD, bad, OTHER, ours_label="a", theirs_label="b", limits=limits)


def with_document(xml: bytes) -> bytes:
    zin = zipfile.ZipFile(io.BytesIO(GOOD))
    parts = {n: zin.read(n) for n in zin.namelist()}
    parts["word/document.xml"] = xml
    return B.rezip(parts)


def timed(fn, *args) -> float:
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


@pytest.mark.parametrize("data", [b"", b"not a zip at all", GOOD[: len(GOOD) // 2]],
                         ids=["empty", "text", "truncated"])
def test_not_a_zip(data: bytes) -> None:
    with pytest.raises(NotAZipError) as info:
        run(data)
    assert isinstance(info.value, MergeError)


def test_encrypted_ole_file() -> None:
    with pytest.raises(EncryptedDocxError):
        run(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 4096)


def test_missing_document_part() -> None:
    with pytest.raises(MissingPartError) as info:
        run(_without("word/document.xml"))
    assert info.value.part == "word/document.xml"


def test_missing_content_types() -> None:
    with pytest.raises(MissingPartError):
        run(_without("[Content_Types].xml"))


def _without(name: str) -> bytes:
    zin = zipfile.ZipFile(io.BytesIO(GOOD))
    return B.rezip({n: zin.read(n) for n in zin.namelist() if n != name})


def test_duplicate_part_names() -> None:
    zin = zipfile.ZipFile(io.BytesIO(GOOD))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for n in zin.namelist():
            z.writestr(n, zin.read(n))
        with pytest.warns(UserWarning):
            z.writestr("word/document.xml", zin.read("word/document.xml"))
    with pytest.raises(MalformedPartError):
        run(buf.getvalue())


def test_zip_bomb_is_refused_fast() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        zin = zipfile.ZipFile(io.BytesIO(GOOD))
        for n in zin.namelist():
            z.writestr(n, zin.read(n))
        z.writestr("word/media/bomb.bin", b"\x00" * (64 * 1024 * 1024))
    bomb = buf.getvalue()
    assert len(bomb) < 1024 * 1024
    with pytest.raises(LimitExceededError) as info:
        t = timed(run, bomb)
        assert t < 5
    assert info.value.limit == "max_ratio"


def test_over_entry_and_paragraph_limits() -> None:
    with pytest.raises(LimitExceededError):
        run(OTHER, DocxLimits(max_entries=3))
    with pytest.raises(LimitExceededError):
        run(B.numbered(50), DocxLimits(max_paragraphs=10))
    with pytest.raises(LimitExceededError):
        run(OTHER, DocxLimits(max_total_size=1000))


def test_billion_laughs_is_refused() -> None:
    lol = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
           + b"".join(b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1
                                                    else b"&lol;") * 10) for i in range(1, 10))
           + b']><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/'
           b'main"><w:body><w:p><w:r><w:t>&lol9;</w:t></w:r></w:p></w:body></w:document>')
    start = time.perf_counter()
    with pytest.raises(MalformedPartError):
        run(with_document(lol))
    assert time.perf_counter() - start < 5


def test_external_entity_is_refused() -> None:
    xxe = (b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
           b'<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
           b"<w:body><w:p><w:r><w:t>&x;</w:t></w:r></w:p></w:body></w:document>")
    with pytest.raises(MalformedPartError):
        run(with_document(xxe))


def test_malformed_xml() -> None:
    with pytest.raises(MalformedPartError):
        run(with_document(b"<w:document><w:body>"))


def test_hostile_base_and_theirs_too() -> None:
    for args in ((b"junk", GOOD, OTHER), (GOOD, OTHER, b"junk")):
        with pytest.raises(NotAZipError):
            merge_docx(*args, ours_label="a", theirs_label="b")


def test_many_small_members_are_a_bomb_too() -> None:
    # Each member is at the per-member ratio check's floor (never checked alone); together
    # a ~400 KiB file would inflate to 400 MiB.
    zin = zipfile.ZipFile(io.BytesIO(GOOD))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for n in zin.namelist():
            z.writestr(n, zin.read(n))
        for i in range(400):
            z.writestr(f"word/media/z{i}.bin", b"\x00" * (1024 * 1024))
    with pytest.raises(LimitExceededError) as info:
        run(buf.getvalue())
    assert info.value.limit == "max_ratio"


def test_a_damaged_deflate_stream_is_a_typed_error() -> None:
    data = bytearray(B.rezip({"[Content_Types].xml": b"<Types/>",
                              "word/document.xml": b"<a>" + b"text " * 2000 + b"</a>"}))
    # garbage inside the compressed stream: zlib.error while the member is read
    at = data.find(b"word/document.xml") + len("word/document.xml") + 5
    data[at:at + 40] = b"\xff" * 40
    with pytest.raises(NotAZipError):
        run(bytes(data))


def test_an_element_with_too_many_attributes_is_refused_fast() -> None:
    # Found by the hostile-input suite: a paragraph with 200,000 attributes (a 4 MB part)
    # took about 10 s to merge, all of it lxml moving that one element.
    attrs = " ".join(f'w:a{i}="{i}"' for i in range(200_000))
    xml = (f'<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/'
           f'main"><w:body><w:p {attrs}><w:r><w:t>x</w:t></w:r></w:p></w:body></w:document>')
    start = time.perf_counter()
    with pytest.raises(LimitExceededError) as info:
        run(with_document(xml.encode()))
    assert info.value.limit == "max_attributes"
    assert time.perf_counter() - start < 5
