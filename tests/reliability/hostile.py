"""Hostile input: corrupt and adversarial Word packages, hostile remote trees, a fuzzed API.

Four parts, one row of the table:

1. **Packages.** The .docx merger merges seeded cases (tests/reliability/hostile_docx.py):
   truncated zips, zip bombs, entity expansion and external entities, duplicate and missing
   parts, huge attributes, deep nesting, bad encodings, byte flips of real documents. Each
   merge runs in a watched worker: it must answer within 10 s and 1 GiB resident with a
   merged package or a typed error. Full run: 10,000 cases; quick: 300.
2. **Conflict copies.** Two devices edit the same documents; one side's version is corrupt.
   The sync must keep both versions (on disk, in history, a conflict record each) and the
   devices converge.
3. **Remote trees.** Commits built with git's plumbing on a hub hold paths that escape the
   folder or alias ``.git``, symlinks leading out then a file through them, control
   characters, overlong and non-UTF-8 names, a submodule link. A device running
   ``gitsync run`` refuses or writes inside the folder: nothing outside is touched, ``.git``
   is untouched, the log says why without a traceback, and the daemon keeps committing.
4. **The web API** of a running daemon is fuzzed from its OpenAPI schema: no 500s, the one
   error shape, nothing outside the folder touched, the folder's history intact.
"""

from __future__ import annotations

import contextlib
import os
import random
import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from tests.reliability.harness import (
    Device,
    OutsideGuard,
    Row,
    Sandbox,
    blob_id,
    disk_blobs,
    history_blobs,
    marker_files,
    repo_errors,
    wait_converged,
    wait_for,
)
from tests.reliability.hostile_docx import SECRET_TOKEN, Ctx, Watched, save_case

CORPUS = Path("/work/shared/corpus/docx")
Say = Callable[[str], None]


def run(root: Path, *, quick: bool, seed: int, say: Say) -> list[Row]:
    row = Row(suite="hostile input")
    sb = Sandbox(root)
    counts: dict[str, int] = {}
    for name, part in (("packages", lambda: fuzz_packages(sb, row, quick, seed, say)),
                       ("conflict copies", lambda: conflict_copies(sb, row, say)),
                       ("trees", lambda: hostile_trees(sb, row, say)),
                       ("API requests", lambda: fuzz_api(sb, row, quick, say))):
        start = time.monotonic()
        try:
            counts[name] = part()
        except Exception as e:  # one part failing must not hide the others
            import traceback

            row.fail(f"{name}: the part crashed: {type(e).__name__}: {e}\n"
                     f"{traceback.format_exc()[-2000:]}")
            counts[name] = 0
        say(f"hostile: {name}: {counts[name]} in {time.monotonic() - start:.0f} s")
    row.faults = counts["packages"] + counts["trees"] + counts["API requests"]
    return [row]


# ---------------------------------------------------------------------------------------
# 1. packages


def fuzz_packages(sb: Sandbox, row: Row, quick: bool, seed: int, say: Say,
                  cases: int | None = None, workers: int = 2) -> int:
    n = cases if cases is not None else (300 if quick else 10_000)
    d = sb.root / "docx"
    d.mkdir(exist_ok=True)
    secret, fifo = d / "secret.txt", d / "secret.fifo"
    secret.write_text(SECRET_TOKEN + "\n")
    if not fifo.exists():
        os.mkfifo(fifo)
    ctx = Ctx(secret, fifo)
    corpus = CORPUS if CORPUS.is_dir() else None
    results: list[dict[str, object]] = []
    lock = threading.Lock()
    todo = iter(range(n))
    watched = [Watched(seed, corpus, ctx, sb.env) for _ in range(workers)]

    def drive(w: Watched) -> None:
        while True:
            with lock:
                i = next(todo, None)
            if i is None:
                return
            out = w.merge(i)
            with lock:
                results.append(out)
                if len(results) % 1000 == 0:
                    say(f"hostile: {len(results)} packages merged")

    threads = [threading.Thread(target=drive, args=(w,), daemon=True) for w in watched]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        for w in watched:
            w.close()
    judge_packages(results, row)
    bad = [r for r in results if r.get("bad") or r["outcome"] not in ("merged", "typed")]
    for r in bad[:5]:  # rebuilt for reading; the rest are in the failure list
        with contextlib.suppress(Exception):
            save_case(seed, int(str(r["i"])), corpus, ctx, sb.root / "failed-cases")
    if fifo_was_opened(fifo):
        row.fail("an external entity opened the FIFO it pointed at")
    return len(results)


def judge_packages(results: list[dict[str, object]], row: Row) -> None:
    """Fill ROW from the merge outcomes; every outcome but merged/typed is a failure."""
    kinds = Counter(str(r["kind"]) for r in results)
    outcomes = Counter(str(r["outcome"]) for r in results)
    errors = Counter(str(r.get("error")) for r in results if r["outcome"] == "typed")
    for r in results:
        if r["outcome"] not in ("merged", "typed") or r.get("bad"):
            row.fail(f"package case {r['i']} ({r['kind']}, hostile {r['hostile']}): "
                     f"{r['outcome']} {r.get('error') or ''}: {str(r.get('bad'))[:600]}")
    timed = [r for r in results if isinstance(r.get("seconds"), float)]
    if timed:
        slow = max(timed, key=lambda r: float(str(r["seconds"])))
        secs = [float(str(r["seconds"])) for r in timed]
        row.notes.append(
            f"{len(results):,} packages merged in watched workers (10 s, 1 GiB each): "
            f"{outcomes.get('merged', 0):,} merged, {outcomes.get('typed', 0):,} typed "
            f"errors, {len(results) - outcomes.get('merged', 0) - outcomes.get('typed', 0)} "
            f"other; median merge {statistics.median(secs) * 1000:.1f} ms, slowest "
            f"{float(str(slow['seconds'])):.2f} s (case {slow['i']}, {slow['kind']})")
    row.notes.append("package kinds: " + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())))
    row.notes.append("typed errors: " + ", ".join(f"{k} {v}" for k, v in
                                                  sorted(errors.items())))
    for r in results:
        hwm = r.get("hwm_kb")
        if isinstance(hwm, int):
            row.add_rss(hwm)


def fifo_was_opened(fifo: Path) -> bool:
    """True if a reader holds FIFO open now (a non-blocking writer open succeeds only then).
    A reader that opened it and is still blocked shows up as a hang as well."""
    try:
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
    except OSError:
        return False
    os.close(fd)
    return True


# ---------------------------------------------------------------------------------------
# 2. the engine keeps both versions when one is corrupt


def corruptions(doc: bytes) -> dict[str, bytes]:
    from tests.reliability import hostile_docx as H

    rng = random.Random(7)
    ctx = Ctx(Path("/nonexistent-secret"), Path("/nonexistent-fifo"))
    return {"truncated": doc[:len(doc) // 2],
            "entities": H.k_entities(random.Random(1), doc, ctx),
            "bomb": H.k_small_members_bomb(random.Random(3), doc, ctx),
            "byte flips": H.k_byteflip(rng, doc, ctx)}


def conflict_copies(sb: Sandbox, row: Row, say: Say) -> int:
    """Device A saves corrupt versions of documents B edited (and B corrupt versions of
    documents A edited); each sync must keep both sides."""
    from tests import docx_builders as b

    hub = sb.bare_hub("conflicts.git")
    base = {f"r{k}.docx": b.numbered(6 + k) for k in range(6)}
    a, bdev = Device(sb, "CA"), Device(sb, "CB")
    a.init(hub, files=base)
    bdev.clone(hub)
    bad = list(corruptions(base["r0.docx"]).items())
    sides: dict[str, tuple[bytes, bytes]] = {}  # path -> (A's bytes, B's bytes)
    for k, name in enumerate(sorted(base)):
        good = b.edit(base[name], b.set_para(1, f"Edited on a device, file {k}."))
        broken = bad[k % len(bad)][1]
        # r0-r3: the other device (A) is corrupt; r4-r5: the local one (B) is.
        sides[name] = (broken, good) if k < 4 else (good, broken)
    for name, (ours_a, ours_b) in sides.items():
        (a.folder / name).write_bytes(ours_a)
        (bdev.folder / name).write_bytes(ours_b)
    a.sync()
    bdev.sync()
    raised = bdev.conflicts()
    row.conflicts_raised += len(raised)
    paths = {str(c.get("path")) for c in raised}
    have_b = history_blobs(sb, bdev.folder)
    on_disk = disk_blobs(bdev.folder)
    for name, (va, vb) in sides.items():
        for who, data in (("A", va), ("B", vb)):
            if blob_id(data) not in on_disk:
                row.fail(f"conflict copies: {who}'s version of {name} is not on B's disk")
            if blob_id(data) not in have_b:
                row.fail(f"conflict copies: {who}'s version of {name} is not in B's history")
        if name not in paths:
            row.fail(f"conflict copies: no conflict record for {name} ({sorted(paths)})")
    t = wait_converged([a, bdev], hub, timeout=120)
    if t is None:
        row.fail("conflict copies: the devices did not converge")
    else:
        row.convergence.append(t)
    for dev in (a, bdev):
        errs = repo_errors(sb, dev.folder)
        row.fsck_errors += len(errs)
        for e in errs:
            row.fail(f"conflict copies: {e}")
        if marker_files(dev.folder):
            row.fail(f"conflict copies: conflict markers in {marker_files(dev.folder)}")
    row.notes.append(f"conflict copies: {len(sides)} documents with one corrupt side "
                     f"({', '.join(k for k, _ in bad)}): {len(raised)} conflict records, "
                     "both versions on disk and in history")
    return len(sides)


# ---------------------------------------------------------------------------------------
# 3. hostile trees from the remote


Spec = dict[bytes, "bytes | Spec | tuple[str, bytes]"]  # name -> blob | subtree | (mode, data)


class TreeWriter:
    """Writes tree objects byte by byte (``git hash-object -t tree --literally``), so any
    name git's porcelain would refuse can be put in a commit."""

    def __init__(self, sb: Sandbox, repo: Path) -> None:
        self.sb, self.repo = sb, repo

    def blob(self, data: bytes) -> str:
        import subprocess

        return subprocess.run(["git", "-C", str(self.repo), "hash-object", "-w", "--stdin"],
                              input=data, capture_output=True, env=self.sb.env, check=True
                              ).stdout.decode().strip()

    def tree(self, spec: Spec) -> str:
        import subprocess

        raw = b""
        for name, v in spec.items():
            if isinstance(v, dict):
                mode, oid = b"40000", self.tree(v)
            elif isinstance(v, tuple):
                mode = v[0].encode()
                oid = v[1].decode() if v[0] == "160000" else self.blob(v[1])
            else:
                mode, oid = b"100644", self.blob(v)
            raw += mode + b" " + name + b"\0" + bytes.fromhex(oid)
        return subprocess.run(["git", "-C", str(self.repo), "hash-object", "-t", "tree", "-w",
                               "--literally", "--stdin"], input=raw, capture_output=True,
                              env=self.sb.env, check=True).stdout.decode().strip()

    def commit_on(self, branch: str, spec: Spec, message: str) -> str:
        parent = self.sb.git(self.repo, "rev-parse", branch).strip()
        base = self.sb.git(self.repo, "ls-tree", "-z", branch)
        full: Spec = {}
        for entry in base.split("\0"):
            if entry:
                meta, name = entry.split("\t", 1)
                mode, _kind, oid = meta.split()
                full[name.encode()] = (mode, self._cat(oid))
        full.update(spec)
        tree = self.tree(full)
        commit = self.sb.git(self.repo, "commit-tree", tree, "-p", parent, "-m",
                             message + "\n\nGitsync-Device: mallory").strip()
        self.sb.git(self.repo, "update-ref", f"refs/heads/{branch}", commit)
        return commit

    def _cat(self, oid: str) -> bytes:
        import subprocess

        return subprocess.run(["git", "-C", str(self.repo), "cat-file", "blob", oid],
                              capture_output=True, env=self.sb.env, check=True).stdout


def tree_cases(outside: Path) -> list[tuple[str, bool, list[Spec]]]:
    """(name, must be refused, the specs of the commits delivered one sync each)."""
    x = b"hostile\n"
    out = str(outside).encode()
    return [
        ("../x", True, [{b"..": {b"x.txt": x}}]),
        ("a/../../x", True, [{b"a": {b"..": {b"..": {b"x.txt": x}}}}]),
        ("./x", True, [{b".": {b"x.txt": x}}]),
        (".git/config", True,
         [{b".git": {b"config": b"[core]\n\tfsmonitor = touch " + out + b"/ran\n"}}]),
        (".GIT/hooks/x", True,
         [{b".GIT": {b"hooks": {b"post-merge": ("100755", b"#!/bin/sh\n")}}}]),
        (".git. alias", True, [{b".git.": {b"config": x}}]),
        (".git  alias", True, [{b".git ": {b"config": x}}]),
        ("git~1 alias", True, [{b"GIT~1": {b"config": x}}]),
        ("sub/.git/hooks", True, [{b"sub": {b".git": {b"hooks": {b"pre-commit": x}}}}]),
        ("absolute /x", True, [{b"": {b"etc": {b"x.txt": x}}}]),
        ("backslash", True, [{b"..\\..\\x.txt": x}]),
        ("symlink out, then a file through it", False,
         [{b"escape": ("120000", out)}, {b"escape": {b"pwned.txt": x}}]),
        ("symlink out and a file through it in one tree", False,
         [{b"escape2": ("120000", out), b"escape2 ": {b"pwned.txt": x}}]),
        ("symlink to .git, then a file through it", False,
         [{b"gl": ("120000", b".git")}, {b"gl": {b"hooks": {b"post-merge": x}}}]),
        ("duplicate entries", False, [{b"dup.txt": x, b"dup.txt ": x}]),
        ("control characters", False, [{b"ctl\x01\x1b[31mred\nline.txt": x}]),
        ("overlong name", False, [{b"n" * 300 + b".txt": x}]),
        ("overlong path", False, [{b"d" * 200: {b"e" * 200: {b"f" * 200: {b"x.txt": x}}}}]),
        ("non-UTF-8 name", False, [{b"bad\xff\xfe.txt": x}]),
        ("submodule link", False, [{b"sub": ("160000", b"1" * 40)}]),
    ]


def hostile_trees(sb: Sandbox, row: Row, say: Say) -> int:
    outside = sb.root / "outside"
    outside.mkdir(exist_ok=True)
    (outside / "sentinel.txt").write_text("outside\n")
    base_hub = sb.bare_hub("trees.git")
    dev = Device(sb, "T")
    dev.init(base_hub, files={"README.txt": b"trees\n"})
    cases = tree_cases(outside)
    folders: list[tuple[str, bool, list[Spec], Path, Path]] = []
    for k, (name, refuse, specs) in enumerate(cases):
        hub = sb.root / f"trees-{k}.git"
        sb.run("git", "clone", "-q", "--bare", str(base_hub), str(hub))
        folder = sb.root / f"T{k}"
        dev.gitsync("clone", str(hub), str(folder), "--device", "T")
        folders.append((name, refuse, specs, hub, folder))
    owned = [p for p in sb.root.iterdir() if p != outside]
    guard = OutsideGuard(sb, owned)
    gitstate = {f: _git_state(f) for *_x, f in folders}
    dev.start("--debounce", "0.3")
    mark = dev.log_size()
    faults = 0
    try:
        for name, refuse, specs, hub, folder in folders:
            tw = TreeWriter(sb, hub)
            for step, spec in enumerate(specs):
                try:
                    tw.commit_on("main", spec, f"mallory: {name} step {step}")
                except Exception as e:  # git refused to even store it
                    row.notes.append(f"trees: git would not store {name!r}: {e}")
                    break
                faults += 1
                r = dev.gitsync("sync", str(folder), check=False, timeout=120)
                if "Traceback" in r.stderr or r.returncode not in (0, 1, 2, 3):
                    row.fail(f"trees: {name}: gitsync sync exited {r.returncode}: "
                             f"{r.stderr[-800:]}")
            if not dev.running:
                row.fail(f"trees: the daemon died after {name}")
                break
            refused = _refused(dev, folder)
            if refuse and not refused:
                row.fail(f"trees: {name}: not refused ({_refused_detail(dev, folder)})")
            if _git_state(folder) != gitstate[folder]:
                row.fail(f"trees: {name}: .git/config or hooks changed")
            if (folder / ".git" / "hooks" / "post-merge").exists():
                row.fail(f"trees: {name}: a hook was written into .git")
        # still working: a local save in a refused folder is committed by the daemon
        first = folders[0][4]
        before = sb.git(first, "rev-parse", "HEAD").strip()
        (first / "after.txt").write_text("still saving\n")
        ok = wait_for(lambda: sb.git(first, "rev-parse", "HEAD").strip() != before, 30, 0.2)
        if not ok:
            row.fail("trees: the daemon stopped committing local saves after a refusal")
    finally:
        dev.sample_rss()
        dev.stop()
    log = dev.log_since(mark)
    if "Traceback" in log:
        at = log.index("Traceback")
        row.fail(f"trees: a traceback in the daemon's log: {log[at:at + 1500]}")
    changed = guard.changes()
    if changed:
        row.fail(f"trees: written outside the folders: {changed[:10]}")
    if (outside / "pwned.txt").exists() or sorted(os.listdir(outside)) != ["sentinel.txt"]:
        row.fail(f"trees: the outside folder changed: {sorted(os.listdir(outside))}")
    for *_x, folder in folders:
        for e in repo_errors(sb, folder):
            if "fsck" not in e:  # the hostile objects themselves fail fsck: expected
                row.fsck_errors += 1
                row.fail(f"trees: {e}")
    refusals = sum(1 for n, refuse, *_y in folders if refuse)
    row.notes.append(f"trees: {len(folders)} hostile remotes ({faults} commits), "
                     f"{refusals} must-refuse cases refused (by gitsync, or by git's fetch for an "
                     "empty name) with a one-line log message; "
                     "nothing written outside, .git untouched, the daemon kept committing")
    clone_bad = sb.root / "T-clone"
    r = dev.gitsync("clone", str(folders[0][3]), str(clone_bad), "--device", "T2",
                    check=False)
    if r.returncode == 0 or "Traceback" in r.stderr:
        row.fail(f"trees: a fresh clone of a hostile hub was not refused cleanly: "
                 f"exit {r.returncode}: {r.stderr[-600:]}")
    return faults


def _git_state(folder: Path) -> tuple[bytes, tuple[str, ...]]:
    g = folder / ".git"
    hooks = tuple(sorted(os.listdir(g / "hooks"))) if (g / "hooks").is_dir() else ()
    return (g / "config").read_bytes(), hooks


def _refused(dev: Device, folder: Path) -> bool:
    import json

    r = dev.gitsync("status", str(folder), "--json", check=False)
    with contextlib.suppress(ValueError, KeyError, IndexError):
        f = json.loads(r.stdout)["folders"][0]
        why = str(f.get("sync_stopped") or f.get("last_error") or "")
        # git's own fetch refuses some trees outright (an empty name): nothing arrives
        return "refusing" in why or "git fetch" in why
    return False


def _refused_detail(dev: Device, folder: Path) -> str:
    r = dev.gitsync("status", str(folder), "--json", check=False)
    return r.stdout[-400:]



# ---------------------------------------------------------------------------------------
# 4. the web API, fuzzed from its schema


def fuzz_api(sb: Sandbox, row: Row, quick: bool, say: Say) -> int:
    import requests
    from schemathesis import GenerationMode

    from tests.test_server_fuzz import Fuzzer, fuzz_every_operation

    examples = ({GenerationMode.POSITIVE: 4, GenerationMode.NEGATIVE: 2} if quick else
                {GenerationMode.POSITIVE: 80, GenerationMode.NEGATIVE: 40})
    dev = Device(sb, "API")
    dev.init(None, files={"notes.txt": b"one\n", "sub/plan.txt": b"plan\n",
                          "report.md": b"# r\n"})
    (sb.root / "outside.txt").write_text("sentinel\n")
    (dev.folder / "escape").symlink_to(sb.root)
    dev.sync()
    before = sb.git(dev.folder, "rev-parse", "HEAD").strip()
    commits_before = set(sb.git(dev.folder, "rev-list", "--all").split())
    guard = OutsideGuard(sb, [p for p in sb.root.iterdir()
                              if p.name not in ("outside.txt",) and p != sb.root / "outside"]
                         + [dev.folder, dev.home])
    dev.start(web=True)
    tokens = dev.home / "state" / "web-token"
    if not wait_for(lambda: tokens.exists() and tokens.read_text().strip() != "", 30, 0.2):
        raise RuntimeError(f"no web token in {tokens}")
    token = tokens.read_text().strip()
    first = sb.git(dev.folder, "rev-list", "--max-parents=0", "HEAD").strip()
    from gitsync.config import folder_key

    fid = folder_key(dev.folder.resolve())
    try:
        session = requests.Session()
        session.headers.update({"Authorization": f"Bearer {token}"})
        fuzzer = Fuzzer(f"http://127.0.0.1:{dev.port}", session, first)
        fuzz_every_operation(fuzzer, fid, examples, strict=False)
        dev.sample_rss()
    finally:
        dev.stop()
    sent = sum(fuzzer.statuses.values())
    for f in fuzzer.failures[:20]:
        row.fail(f"API: {f}")
    changed = guard.changes()
    if changed:
        row.fail(f"API: files outside the folder changed: {changed[:10]}")
    if (sb.root / "outside.txt").read_text() != "sentinel\n":
        row.fail("API: the file outside the folder was changed")
    after = set(sb.git(dev.folder, "rev-list", "--all").split())
    if not commits_before <= after:
        row.fail("API: commits of the folder's history are gone")
    if sb.run("git", "-C", str(dev.folder), "merge-base", "--is-ancestor", before, "HEAD",
              check=False).returncode != 0:
        row.fail("API: the folder's branch no longer contains its earlier history")
    errs = repo_errors(sb, dev.folder)
    row.fsck_errors += len(errs)
    for e in errs:
        row.fail(f"API: {e}")
    row.notes.append(f"API: {sent:,} fuzzed requests to a running daemon (2xx "
                     f"{fuzzer.statuses[2]}, 4xx {fuzzer.statuses[4]}, 5xx "
                     f"{fuzzer.statuses[5]}); history intact, nothing outside touched")
    return sent
