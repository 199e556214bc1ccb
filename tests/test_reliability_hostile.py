"""The hostile-input suite's own machinery: its generators make what they claim, its
watchdog catches a hang, a memory blow-up and a crash, and its judges report them."""

from __future__ import annotations

import io
import os
import random
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.reliability import hostile_docx as H
from tests.reliability.harness import Row, Sandbox
from tests.reliability.hostile import TreeWriter, fifo_was_opened, judge_packages


@pytest.fixture(scope="module")
def doc() -> bytes:
    return H.builder_docs()[0]


@pytest.fixture
def ctx(tmp_path: Path) -> H.Ctx:
    secret, fifo = tmp_path / "secret", tmp_path / "fifo"
    secret.write_text(H.SECRET_TOKEN)
    os.mkfifo(fifo)
    return H.Ctx(secret, fifo)


def test_every_kind_makes_a_package_unlike_the_valid_one(doc: bytes, ctx: H.Ctx) -> None:
    for name, (_weight, fn) in H.KINDS.items():
        for k in range(4):
            out = fn(random.Random(k), doc, ctx)
            assert isinstance(out, bytes) and out != doc, name


def test_the_bombs_inflate_far_beyond_their_size(doc: bytes, ctx: H.Ctx) -> None:
    for fn in (H.k_small_members_bomb, H.k_ratio_bomb):
        data = fn(random.Random(0), doc, ctx)
        z = zipfile.ZipFile(io.BytesIO(data))
        declared = sum(i.file_size for i in z.infolist())
        assert declared > 50 * len(data)
    shared = H._overlapping([(f"z{i}", *H._deflated_zeros(1)[:1], 8, H._deflated_zeros(1)[1],
                              1 << 20) for i in range(5)], [])
    z = zipfile.ZipFile(io.BytesIO(shared))
    assert len({i.header_offset for i in z.infolist()}) == 1  # five files, one stream
    assert z.read("z0") == b"\0" * (1 << 20)
    with pytest.raises(zipfile.BadZipFile):  # zipfile itself sees the names differ
        z.read("z4")


def test_duplicates_entities_and_truncation_are_real(doc: bytes, ctx: H.Ctx) -> None:
    names = zipfile.ZipFile(io.BytesIO(H.k_duplicate(random.Random(1), doc, ctx))).namelist()
    assert len(names) == len(zipfile.ZipFile(io.BytesIO(doc)).namelist()) + 1
    found = set()
    for k in range(30):
        parts = H.parts_of(H.k_entities(random.Random(k), doc, ctx))
        found |= {n for n, d in parts.items() if b"<!DOCTYPE" in d and str(ctx.fifo).encode()
                  in d}
    assert found  # some cases point an external entity at the FIFO
    assert len(H.k_truncated(random.Random(2), doc, ctx)) < len(doc)


def test_cases_repeat_from_the_seed(ctx: H.Ctx) -> None:
    bases = H.Bases(H.builder_docs())
    a, b = H.make_case(5, 17, bases, ctx), H.make_case(5, 17, bases, ctx)
    assert (a.kind, a.hostile, a.base, a.ours, a.theirs) == (
        b.kind, b.hostile, b.base, b.ours, b.theirs)


def fake_worker(tmp_path: Path, body: str) -> list[str]:
    script = tmp_path / "worker.py"
    script.write_text("import sys, json, time, os\nprint('ready', flush=True)\n"
                      "for line in sys.stdin:\n"
                      "    i = int(line)\n"
                      "    print(json.dumps({'start': i, 'kind': 'k', 'hostile': 'ours'}),"
                      " flush=True)\n" + body)
    return [sys.executable, str(script)]


@pytest.mark.parametrize(("body", "verdict"), [
    ("    time.sleep(60)\n", "hang"),
    ("    x = bytearray(400 << 20); time.sleep(60)\n", "memory"),
    ("    os._exit(7)\n", "crash"),
    ("    print(json.dumps({'i': i, 'outcome': 'typed', 'seconds': 0.1}), flush=True)\n",
     "typed"),
])
def test_the_watchdog_catches_hangs_memory_and_crashes(tmp_path: Path, ctx: H.Ctx,
                                                       body: str, verdict: str) -> None:
    w = H.Watched(1, None, ctx, dict(os.environ), seconds=2, rss_kb=200 * 1024)
    w.args = fake_worker(tmp_path, body)
    try:
        out = w.merge(3)
        assert out["outcome"] == verdict, out
        if verdict != "typed":
            assert w.proc is None  # killed, a new one starts for the next case
    finally:
        w.close()


def test_the_judge_fails_what_is_not_a_merge_or_a_typed_error() -> None:
    row = Row("hostile input")
    judge_packages([
        {"i": 0, "kind": "k", "hostile": "ours", "outcome": "merged", "seconds": 0.1},
        {"i": 1, "kind": "k", "hostile": "ours", "outcome": "typed", "error": "NotAZipError",
         "seconds": 0.2, "hwm_kb": 5000},
    ], row)
    assert row.failures == [] and row.peak_rss_kb == 5000
    for planted in ({"outcome": "untyped", "error": "KeyError"}, {"outcome": "hang"},
                    {"outcome": "merged", "bad": "the merged document holds the secret"}):
        row = Row("hostile input")
        judge_packages([{"i": 2, "kind": "k", "hostile": "all", "seconds": 0.1, **planted}],
                       row)
        assert len(row.failures) == 1, planted


def test_a_reader_of_the_fifo_is_seen(ctx: H.Ctx) -> None:
    assert not fifo_was_opened(ctx.fifo)
    opened = threading.Event()

    def reader() -> None:
        with open(ctx.fifo, "rb") as fh:
            opened.set()
            fh.read()

    t = threading.Thread(target=reader)
    t.start()
    try:
        assert _until(opened.is_set) or _until(lambda: fifo_was_opened(ctx.fifo))
        assert fifo_was_opened(ctx.fifo)
    finally:
        fd = os.open(ctx.fifo, os.O_WRONLY)
        os.close(fd)
        t.join(5)


def _until(pred: Callable[[], bool], timeout: float = 5) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.02)
    return False


def test_tree_writer_stores_names_git_refuses(tmp_path: Path) -> None:
    sb = Sandbox(tmp_path / "sb")
    hub = sb.bare_hub()
    work = tmp_path / "w"
    sb.run("git", "clone", "-q", str(hub), str(work))
    (work / "a.txt").write_text("a\n")
    sb.git(work, "add", "a.txt")
    sb.git(work, "commit", "-qm", "a")
    sb.git(work, "push", "-q", "origin", "HEAD:main")
    TreeWriter(sb, hub).commit_on("main", {b"..": {b"x.txt": b"x\n"},
                                           b".GIT": {b"config": b"c\n"}}, "hostile")
    listed = subprocess.run(["git", "-C", str(hub), "ls-tree", "-r", "--name-only", "main"],
                            capture_output=True, text=True, env=sb.env).stdout.split()
    assert set(listed) == {"a.txt", "../x.txt", ".GIT/config"}
