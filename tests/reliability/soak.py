"""Soak: three devices, one hub, random writers on all three for a long time.

Each device runs ``gitsync run`` on default settings (the web server included, each on its
own port); a writer per device saves text files and Word documents, renames and deletes,
some through a temp file renamed over the original as LibreOffice does. Four files are
shared by all writers, so the same files are edited on several devices at once and merges
and conflicts happen all the time; the rest belong to one writer each.

Every ``period`` seconds the writers pause and the suite measures how long the devices take
to converge on their own (the daemons do it; the suite never calls ``gitsync sync``), checks
that no owed version was lost, and resolves the open conflicts through ``gitsync resolve`` on
a random device, as a user would, before the writers go on. Every daemon's RSS is sampled
every 10 seconds; the trend over the second half of the run must not climb.

Full run: 30 minutes. Quick (CI): 2 minutes.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from pathlib import Path

from tests.reliability.harness import (
    SETTLE,
    Checked,
    Device,
    OutsideGuard,
    Row,
    Sandbox,
    Writer,
    WriterLog,
    check_invariants,
    conflict_records,
    memory_failed,
    rss_trend,
    sampling_rss,
    wait_converged,
)

SHARED_FILES = ["shared/plan.txt", "shared/notes.txt", "todo.txt", "shared/journal.txt"]


def docx_edit(rng: random.Random, old: bytes | None) -> bytes:
    """A Word save: edit one paragraph's words, add or delete one (python-docx writes it)."""
    from tests import docx_builders as b
    from tests.reliability.harness import TEXT_WORDS

    words = " ".join(rng.choice(TEXT_WORDS) for _ in range(5))
    try:
        doc = b.load(old) if old else None
    except Exception:  # a merge may have left tracked changes python-docx still reads
        doc = None
    if doc is None or len(doc.paragraphs) < 2:
        return b.numbered(8)
    i = rng.randrange(len(doc.paragraphs))
    roll = rng.random()
    if roll < 0.6 and doc.paragraphs[i].runs:
        b.set_para(i, f"Paragraph {i}: {words}.")(doc)
    elif roll < 0.8:
        b.insert_before(i, f"Added: {words}.")(doc)
    elif len(doc.paragraphs) > 3:
        b.delete_para(i)(doc)
    return b.save(doc)


def resolve_open(device: Device) -> int:
    """Settle every open conflict on DEVICE, keeping the local version; returns how many."""
    n = 0
    for rec in device.conflicts():
        path = device.folder / str(rec["path"])
        r = device.gitsync("resolve", "--ours", "--folder", str(device.folder), str(path),
                           check=False)
        if r.returncode == 0:
            n += 1
    return n


def soak_devices(sandbox: Sandbox, count: int, rng: random.Random
                 ) -> tuple[Path, list[Device], list[WriterLog], list[Writer]]:
    """A hub and COUNT devices (A, B, ...) holding one folder, each with its writer (not
    started): four files shared by all writers, eight of each writer's own."""
    hub = sandbox.bare_hub()
    devices = [Device(sandbox, chr(ord("A") + i)) for i in range(count)]
    devices[0].init(hub)
    for d in devices[1:]:
        d.clone(hub)
    logs = [WriterLog(sandbox.root / f"writer-{d.name}.log") for d in devices]
    writers = [Writer(d.folder, lg, random.Random(rng.random()), hold=SETTLE + 1.5,
                      quick_gap=(0.05, 1.5), long_share=0.35, docx=docx_edit,
                      names=SHARED_FILES + [f"{d.name.lower()}/file-{i}.txt" for i in range(8)])
               for d, lg in zip(devices, logs, strict=True)]
    return hub, devices, logs, writers


def run(root: Path, *, quick: bool, seed: int, say: Callable[[str], None]) -> list[Row]:
    duration = 120.0 if quick else 1800.0
    period = 40.0 if quick else 300.0
    row = Row(suite=f"soak (3 devices, {duration / 60:.0f} min)")
    rng = random.Random(seed)
    sandbox = Sandbox(root)
    hub, devices, logs, writers = soak_devices(sandbox, 3, rng)
    guard = OutsideGuard(sandbox, [*(d.folder for d in devices), *(d.home for d in devices),
                                   hub, sandbox.root / "home", *(lg.path for lg in logs)])
    samples: dict[str, list[tuple[float, int]]] = {d.name: [] for d in devices}
    resolved = 0
    try:
        for d in devices:
            d.start(web=True)
        with sampling_rss(devices, 10.0, samples):
            for w in writers:
                w.start()
            start = time.monotonic()
            while time.monotonic() - start < duration:
                time.sleep(min(period, max(0.0, duration - (time.monotonic() - start))))
                for w in writers:
                    w.pause()
                took = wait_converged(devices, hub, timeout=180)
                if took is not None:  # from the last save anywhere to all devices equal
                    took = time.monotonic() - max(lg.last_write for lg in logs)
                if took is None:
                    row.fail(f"devices did not converge within 180 s at "
                             f"{time.monotonic() - start:.0f} s")
                    break
                row.convergence.append(took)
                say(f"soak: {time.monotonic() - start:.0f} s, converged in {took:.1f} s, "
                    f"{sum(len(lg.versions) for lg in logs)} versions saved")
                got = resolve_open(rng.choice(devices))
                resolved += got
                if got:
                    took = wait_converged(devices, hub, timeout=180)
                    if took is None:
                        row.fail("devices did not converge after resolving conflicts")
                        break
                for w in writers:
                    w.resume()
            for w in writers:
                w.stop()
        took = wait_converged(devices, hub, timeout=180)
        if took is None:
            row.fail("devices did not converge after the writers stopped")
        for d in devices:
            if d.stop() != 0:
                row.fail(f"{d.name}: daemon exited non-zero on SIGTERM")
            row.add_rss(d.peak_rss_kb)
    finally:
        for w in writers:
            w.stop()
        for d in devices:
            if d.running:
                d.kill()
    row.written = sum(len(lg.versions) for lg in logs)
    row.faults = 0
    check_invariants(row, sandbox, [Checked(d.name, d.folder, lg)
                                    for d, lg in zip(devices, logs, strict=True)], hub, SETTLE)
    for d in devices:
        trend = rss_trend(samples[d.name])
        first = samples[d.name][0][1] if samples[d.name] else 0
        last = samples[d.name][-1][1] if samples[d.name] else 0
        row.notes.append(f"{d.name}: RSS {first / 1024:.0f} -> {last / 1024:.0f} MB over "
                         f"{len(samples[d.name])} samples, trend {trend:+.1f} MiB/h")
        if duration >= 600 and memory_failed(first, last, trend):
            row.fail(f"{d.name}: memory grows ({trend:+.1f} MiB/h, "
                     f"{first / 1024:.0f} -> {last / 1024:.0f} MB)")
    for change in guard.changes():
        row.fail(f"written outside the folders: {change}")
    row.conflicts_raised = conflict_records(sandbox, hub, "A")
    row.conflicts_resolved = conflict_records(sandbox, hub, "D")
    commits = sandbox.git(hub, "rev-list", "--count", "main").strip()
    if duration < 600:
        row.notes.append("the quick run is too short to show a memory trend: only the full "
                         "run judges it")
    row.notes.append(f"writers paused every {period:.0f} s; convergence is from the last "
                     "save on any device until all three and the hub hold one tree")
    row.notes.append(f"{commits} commits on the hub; {resolved} conflicts resolved with "
                     "'gitsync resolve' during the pauses")
    errors = sum(len(w.errors) for w in writers)
    if errors:
        row.notes.append(f"{errors} writer operations met a file a sync had just replaced "
                         "(the writer retries, as an editor would)")
    return [row]
