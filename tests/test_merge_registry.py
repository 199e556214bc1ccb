"""The merger registry: trivial shortcuts, choice by ``accepts``, fallback, merge_files."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from gitsync.errors import MergeError
from gitsync.merge.base import Conflict, Merger, MergeResult, Versions
from gitsync.merge.binary import BinaryMerger
from gitsync.merge.registry import (
    MergerRegistry,
    NoMergerError,
    default_registry,
    merge_files,
)
from gitsync.merge.text import TextMerger


@dataclass
class Recording(Merger):
    """A merger that accepts files with a given suffix and records the calls it gets."""

    name: str
    suffix: str = ""
    fail_with: Exception | None = None
    calls: list[tuple[bytes | None, bytes, bytes, str, str, str]] = field(default_factory=list)

    def accepts(self, path: str, base: bytes | None, ours: bytes, theirs: bytes) -> bool:
        return path.endswith(self.suffix)

    def merge_versions(self, v: Versions) -> MergeResult:
        self.calls.append((v.base, v.ours, v.theirs, v.ours_label, v.theirs_label, v.path))
        if self.fail_with is not None:
            raise self.fail_with
        return MergeResult(data=b"merged by " + self.name.encode())


def run(
    reg: MergerRegistry, path: str, base: bytes | None, ours: bytes, theirs: bytes
) -> MergeResult:
    return reg.merge(path, base, ours, theirs, ours_label="ours", theirs_label="theirs")


@pytest.mark.parametrize(
    ("base", "ours", "theirs", "want"),
    [
        (b"b", b"same", b"same", b"same"),
        (None, b"same", b"same", b"same"),
        (b"b", b"b", b"theirs", b"theirs"),
        (b"b", b"ours", b"b", b"ours"),
        (b"\x00", b"\x00", b"\x00", b"\x00"),
    ],
)
def test_trivial_merges_skip_the_mergers(
    base: bytes | None, ours: bytes, theirs: bytes, want: bytes
) -> None:
    spy = Recording("spy")
    r = run(MergerRegistry([spy]), "f.txt", base, ours, theirs)
    assert r == MergeResult(data=want)
    assert spy.calls == []


def test_first_accepting_merger_is_used_with_all_arguments() -> None:
    md, any_ = Recording("md", ".md"), Recording("any")
    reg = MergerRegistry([md, any_])
    assert run(reg, "notes.md", b"b", b"o", b"t").data == b"merged by md"
    assert md.calls == [(b"b", b"o", b"t", "ours", "theirs", "notes.md")]
    assert run(reg, "pic.png", None, b"o", b"t").data == b"merged by any"
    assert any_.calls == [(None, b"o", b"t", "ours", "theirs", "pic.png")]
    assert reg.for_path("a.md", b"b", b"o", b"t") is md


def test_register_appends_or_puts_first() -> None:
    a, b, c = Recording("a"), Recording("b"), Recording("c")
    reg = MergerRegistry()
    reg.register(a)
    reg.register(b)
    reg.register(c, first=True)
    assert [m.name for m in reg.mergers] == ["c", "a", "b"]
    assert reg.for_path("x", None, b"o", b"t") is c


def test_merge_error_falls_back_to_ours_with_an_unmergeable_conflict() -> None:
    broken = Recording("broken", fail_with=MergeError("zip bomb", hint="over the size limit"))
    r = run(MergerRegistry([broken, BinaryMerger()]), "a.zip", b"base", b"ours", b"theirs")
    assert r.data == b"ours"
    (c,) = r.conflicts
    assert (c.where, c.kind) == ("whole file", "unmergeable")
    assert c.ours.startswith("4 bytes")
    assert r.notes == ("zip bomb: over the size limit",)


def test_other_exceptions_are_bugs_and_propagate() -> None:
    broken = Recording("broken", fail_with=ValueError("bug"))
    with pytest.raises(ValueError, match="bug"):
        run(MergerRegistry([broken]), "a", b"base", b"ours", b"theirs")


def test_no_accepting_merger() -> None:
    reg = MergerRegistry([Recording("md", ".md")])
    with pytest.raises(NoMergerError) as info:
        reg.for_path("a.txt", b"b", b"o", b"t")
    assert isinstance(info.value, MergeError) and info.value.path == "a.txt"
    r = run(reg, "a.txt", b"b", b"o", b"t")
    assert r.data == b"o" and r.conflicts[0].kind == "unmergeable"


def test_text_then_binary_choose_by_content() -> None:
    reg = MergerRegistry([TextMerger(), BinaryMerger()])
    assert reg.for_path("a.txt", b"a\n", b"b\n", b"c\n").name == "text"
    assert reg.for_path("a.txt", b"a\n", b"b\x00\n", b"c\n").name == "binary"
    r = run(reg, "a.txt", b"a\n", b"b\x00\n", b"c\n")
    assert r.data == b"b\x00\n"
    assert [c.kind for c in r.conflicts] == ["binary"]


def test_default_registry_order_and_choice() -> None:
    reg = default_registry()
    assert [m.name for m in reg.mergers] == ["docx", "text", "binary"]
    assert reg.for_path("report.docx", b"x", b"y", b"z").name == "docx"
    assert reg.for_path("notes.txt", b"a\n", b"b\n", b"c\n").name == "text"
    assert reg.for_path("img.png", b"\x00a", b"\x00b", b"\x00c").name == "binary"


def test_default_registry_falls_back_on_a_broken_docx() -> None:
    r = run(default_registry(), "report.docx", b"not a zip", b"ours, no zip", b"theirs")
    assert r.data == b"ours, no zip"
    assert [c.kind for c in r.conflicts] == ["unmergeable"]
    assert r.notes


# --- merge_files ----------------------------------------------------------------------------

TEXT_ONLY = MergerRegistry([TextMerger(), BinaryMerger()])


def mf(base: bytes | None, ours: bytes, theirs: bytes, path: str = "f.txt") -> tuple[bytes, int]:
    return merge_files(
        base, ours, theirs, path=path, ours_label="ours", theirs_label="theirs", registry=TEXT_ONLY
    )


def test_merge_files_clean_text() -> None:
    assert mf(b"a\nb\nc\n", b"A\nb\nc\n", b"a\nb\nC\n") == (b"A\nb\nC\n", 0)


def test_merge_files_conflict_writes_markers_like_git(tmp_path: Path) -> None:
    base, ours, theirs = b"a\nb\nc\n", b"a\nmine\nc\n", b"a\nyours\nc\n"
    out, status = mf(base, ours, theirs)
    assert status == 1
    assert out == b"a\n<<<<<<< ours\nmine\n=======\nyours\n>>>>>>> theirs\nc\n"
    git = shutil.which("git")
    assert git is not None
    for name, data in (("o", ours), ("b", base), ("t", theirs)):
        (tmp_path / name).write_bytes(data)
    proc = subprocess.run(
        [git, "merge-file", "-p", "-L", "ours", "-L", "base", "-L", "theirs", "o", "b", "t"],
        cwd=tmp_path, capture_output=True, check=False,
    )
    assert (proc.stdout, proc.returncode) == (out, status)


def test_merge_files_binary_conflict_writes_ours() -> None:
    assert mf(b"\x00b", b"\x00o", b"\x00t", path="x.bin") == (b"\x00o", 1)


def test_merge_files_trivial_and_add_add() -> None:
    assert mf(b"same", b"same", b"new") == (b"new", 0)
    assert mf(None, b"x\n", b"x\n") == (b"x\n", 0)
    out, status = mf(None, b"x\n", b"y\n")
    assert status == 1 and out.startswith(b"<<<<<<< ours\nx\n")


def test_merge_files_uses_the_default_registry() -> None:
    out, status = merge_files(
        b"a\nb\n", b"A\nb\n", b"a\nB\n", path="f.txt", ours_label="o", theirs_label="t"
    )
    assert (out, status) == (b"A\nB\n", 0)


def test_conflict_type_is_shared() -> None:
    r = run(TEXT_ONLY, "f.txt", b"a\n", b"b\n", b"c\n")
    assert isinstance(r.conflicts[0], Conflict)
