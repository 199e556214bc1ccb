#!/usr/bin/env python3
"""Memory soak: the soak suite's load on fewer devices for a chosen time, with the daemons'
memory split into its kinds, to tell heap growth from mapped files.

    PYTHONPATH=. .venv/bin/python scripts/memsoak.py --minutes 10 [--devices 2]
        [--env MALLOC_ARENA_MAX=2] [--tracemalloc 300] [--no-web] [--json out.json]

Each device runs ``gitsync run`` on default settings (web server included) against one hub,
with the soak suite's writers (text and .docx edits, renames, deletes, temp+rename saves on
shared and own files); every ``--period`` seconds the writers pause until the devices
converge and open conflicts are resolved, as in ``tests/reliability/soak.py``.

Every 10 s each daemon's /proc/PID/status (RssAnon, RssFile, VmRSS, threads) and the pack
files it has mapped (/proc/PID/maps) are sampled. At the end: per device first/last of each
figure and the least-squares trend over the second half in MiB/h (the soak suite's rule).

``--env K=V`` sets a variable in the daemons' environment only (e.g. ``MALLOC_ARENA_MAX=2``).
``--gc-auto N`` lowers git's loose-object threshold so upkeep's ``git gc --auto`` repacks
often. ``--tracemalloc N`` makes each daemon trace Python allocations and dump a snapshot every N
seconds (through a ``sitecustomize`` on the daemons' path: gitsync itself is unchanged); the
script prints the top 20 line differences between the first and the last snapshot.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.reliability.harness import (  # noqa: E402
    Device,
    Sandbox,
    rss_trend,
    wait_converged,
)
from tests.reliability.soak import resolve_open, soak_devices  # noqa: E402

FIELDS = ("VmRSS", "RssAnon", "RssFile", "RssShmem")

TRACE_HOOK = textwrap.dedent("""\
    # Loaded by every python on this path; only the daemon (gitsync.cli run) reports.
    import os, sys
    if "gitsync.cli" in sys.orig_argv and "run" in sys.orig_argv:
        import ctypes, json, threading, time, tracemalloc
        _dir = os.environ["MEMSOAK_DIR"]
        _every = float(os.environ.get("MEMSOAK_TRACE_EVERY") or 0)
        if _every:
            tracemalloc.start(int(os.environ.get("MEMSOAK_FRAMES", "1")))

        class _MI(ctypes.Structure):
            _fields_ = [(k, ctypes.c_size_t) for k in (
                "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
                "uordblks", "fordblks", "keepcost")]
        _libc = ctypes.CDLL(None)
        _libc.mallinfo2.restype = _MI

        def _loop():
            n, t0, next_snap = 0, time.monotonic(), _every
            with open(os.path.join(_dir, "mallinfo.jsonl"), "a") as fh:
                while True:
                    time.sleep(10)
                    mi = _libc.mallinfo2()
                    row = {k: getattr(mi, k) for k, _ in _MI._fields_}
                    row["t"] = time.monotonic() - t0
                    if _every:
                        row["traced"] = tracemalloc.get_traced_memory()[0]
                    fh.write(json.dumps(row) + "\\n")
                    fh.flush()
                    if _every and row["t"] >= next_snap:
                        tracemalloc.take_snapshot().dump(
                            os.path.join(_dir, f"snap-{n:03d}.bin"))
                        n += 1
                        next_snap += _every
        threading.Thread(target=_loop, name="memsoak", daemon=True).start()
""")


def status(pid: int) -> dict[str, int]:
    out: dict[str, int] = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in FIELDS or key == "Threads":
                out[key] = int(rest.split()[0])
    except (OSError, ValueError, IndexError):
        pass
    return out


def mapped_packs(pid: int) -> tuple[int, int]:
    """(pack mappings, their total size in KiB) in PID's address space."""
    n = kb = 0
    try:
        for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
            parts = line.split()
            if len(parts) >= 6 and parts[5].endswith(".pack"):
                lo, hi = (int(x, 16) for x in parts[0].split("-"))
                n += 1
                kb += (hi - lo) // 1024
    except OSError:
        pass
    return n, kb


def pack_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in (folder / ".git/objects/pack").glob("*.pack"))


def sample(devices: list[Device], t0: float, into: dict[str, list[dict[str, float]]]) -> None:
    for d in devices:
        if not (d.running and d.proc):
            continue
        s: dict[str, float] = {"t": time.monotonic() - t0, **status(d.proc.pid)}
        s["maps"], s["mapped_kb"] = mapped_packs(d.proc.pid)
        s["packs_kb"] = pack_bytes(d.folder) // 1024
        into[d.name].append(s)


def trend(rows: list[dict[str, float]], key: str) -> float:
    return rss_trend([(r["t"], int(r.get(key, 0))) for r in rows])


def summary(name: str, rows: list[dict[str, float]]) -> str:
    if not rows:
        return f"{name}: no samples"
    a, z = rows[0], rows[-1]
    parts = [f"{k} {a.get(k, 0) / 1024:.1f}->{z.get(k, 0) / 1024:.1f} MB "
             f"({trend(rows, k):+.1f} MiB/h)" for k in FIELDS[:3]]
    return (f"{name}: {len(rows)} samples; " + "; ".join(parts)
            + f"; threads {a.get('Threads', 0):.0f}->{z.get('Threads', 0):.0f}"
            f"; pack maps {z['maps']:.0f} ({z['mapped_kb'] / 1024:.1f} MB mapped,"
            f" packs on disk {z['packs_kb'] / 1024:.1f} MB)")


def mallinfo_summary(name: str, path: Path) -> str:
    """glibc's own figures: in use (uordblks + hblkhd) against free but kept (fordblks)."""
    try:
        rows = [json.loads(line) for line in path.read_text().splitlines()]
    except OSError:
        rows = []
    if not rows:
        return f"{name}: no mallinfo"
    for r in rows:
        r["inuse"] = r["uordblks"] + r["hblkhd"]
    a, z = rows[0], rows[-1]
    keys = ["arena", "inuse", "fordblks"] + (["traced"] if "traced" in a else [])
    return f"{name} malloc: " + "; ".join(
        f"{k} {a[k] / 2**20:.1f}->{z[k] / 2**20:.1f} MB "
        f"({rss_trend([(r['t'], r[k] // 1024) for r in rows]):+.1f} MiB/h)" for k in keys)


def compare_snapshots(trace_dir: Path, say) -> None:
    import tracemalloc

    snaps = sorted(trace_dir.glob("snap-*.bin"))
    if len(snaps) < 2:
        say(f"{trace_dir.name}: fewer than two snapshots")
        return
    first, last = (tracemalloc.Snapshot.load(str(p)) for p in (snaps[0], snaps[-1]))
    say(f"{trace_dir.name}: traced {sum(s.size for s in first.statistics('filename')) / 1e6:.1f}"
        f" -> {sum(s.size for s in last.statistics('filename')) / 1e6:.1f} MB "
        f"({snaps[0].name} -> {snaps[-1].name}); top 20 differences:")
    for stat in last.compare_to(first, "lineno")[:20]:
        say(f"  {stat}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--devices", type=int, default=2)
    ap.add_argument("--period", type=float, default=60.0, help="seconds between pauses")
    ap.add_argument("--seed", type=int, default=20261130)
    ap.add_argument("--env", action="append", default=[], metavar="K=V")
    ap.add_argument("--tracemalloc", type=float, metavar="SECONDS")
    ap.add_argument("--frames", type=int, default=1, help="traceback depth for --tracemalloc")
    ap.add_argument("--gc-auto", type=int, metavar="N",
                    help="set gc.auto in each device's repository, so that upkeep repacks "
                         "within minutes, as a long-running busy folder does")
    ap.add_argument("--no-web", action="store_true",
                    help="run the daemons without their web server, to compare")
    ap.add_argument("--json", type=Path, help="write every sample here")
    a = ap.parse_args(argv)

    def say(msg: str) -> None:
        print(f"{time.strftime('%H:%M:%S')} {msg}", flush=True)

    root = Path(tempfile.mkdtemp(prefix="gitsync-memsoak-"))
    say(f"sandbox {root}")
    rng = random.Random(a.seed)
    sandbox = Sandbox(root)
    hub, devices, logs, writers = soak_devices(sandbox, a.devices, rng)
    extra = dict(kv.split("=", 1) for kv in a.env)
    hook = root / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(TRACE_HOOK)
    for d in devices:  # what `gitsync run` will see
        d.env.update(extra)
        (root / f"trace-{d.name}").mkdir()
        d.env.update({"PYTHONPATH": f"{hook}:{d.env['PYTHONPATH']}",
                      "MEMSOAK_DIR": str(root / f"trace-{d.name}"),
                      "MEMSOAK_TRACE_EVERY": str(a.tracemalloc or ""),
                      "MEMSOAK_FRAMES": str(a.frames)})
    if a.gc_auto is not None:
        for d in devices:
            sandbox.git(d.folder, "config", "gc.auto", str(a.gc_auto))
    samples: dict[str, list[dict[str, float]]] = {d.name: [] for d in devices}
    duration = a.minutes * 60
    try:
        for d in devices:
            d.start(web=not a.no_web)
        for w in writers:
            w.start()
        t0 = start = time.monotonic()
        next_pause = start + a.period
        next_sample = start
        while time.monotonic() - start < duration:
            now = time.monotonic()
            if now >= next_sample:
                sample(devices, t0, samples)
                next_sample += 10.0
            if now >= next_pause:
                for w in writers:
                    w.pause()
                took = wait_converged(devices, hub, timeout=180)
                n = resolve_open(rng.choice(devices))
                if n:
                    wait_converged(devices, hub, timeout=180)
                say(f"{now - start:.0f} s: converged {'no' if took is None else f'{took:.1f} s'},"
                    f" {n} resolved; " + ", ".join(
                        f"{d.name} {samples[d.name][-1]['VmRSS'] / 1024:.1f} MB"
                        for d in devices if samples[d.name]))
                for w in writers:
                    w.resume()
                next_pause = time.monotonic() + a.period
            time.sleep(0.5)
        for w in writers:
            w.stop()
        sample(devices, t0, samples)
    finally:
        for w in writers:
            w.stop()
        for d in devices:
            if d.running:
                d.stop()
    say(f"{sum(len(lg.versions) for lg in logs)} versions written; hub has "
        f"{sandbox.git(hub, 'rev-list', '--count', 'main').strip()} commits; env {extra or '-'}")
    for d in devices:
        say(summary(d.name, samples[d.name]))
    if a.json:
        a.json.write_text(json.dumps(samples))
    for d in devices:
        say(mallinfo_summary(d.name, root / f"trace-{d.name}" / "mallinfo.jsonl"))
        if a.tracemalloc:
            compare_snapshots(root / f"trace-{d.name}", say)
    return 0


if __name__ == "__main__":
    sys.exit(main())
