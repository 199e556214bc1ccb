"""``gitsync demo``: a sandbox that shows the product working with no setup.

It lives in its own gitsync home under the data dir (``data/demo``), so it never mixes
with the user's real folders: a bare hub and two device folders, ``laptop`` and ``desktop``,
seeded with a notes file and a Word report. The desktop starts as a clone of the hub.

Before the daemon starts, both devices edit the same line of ``notes.md`` and the same
paragraph of ``report.docx`` as if they had been offline, and sync: the demo opens with one
text conflict and one Word conflict waiting on the web app's conflict pages, so a newcomer
sees a three-way resolution in the first minute. Then the daemon runs both devices until
Ctrl-C, and a short scripted edit on the laptop shows a save turning into a commit on the
hub.
"""

from __future__ import annotations

import logging
import shutil
import socket
import threading
import time
from pathlib import Path

from gitsync.config import Paths
from gitsync.daemon import AlreadyRunning, Daemon
from gitsync.events import Event, EventBus
from gitsync.repo import init_bare
from gitsync.samples import NOTES, REPORT, docx_bytes
from gitsync.server.session import login_url, open_in_browser, read_or_create_token
from gitsync.service import Service
from gitsync.transport import clone

logger = logging.getLogger(__name__)

DEMO_PORT = 8484


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def demo_root(paths: Paths) -> Path:
    return paths.data_dir / "demo"


def build_demo(paths: Paths) -> tuple[Paths, Path, Path, Path]:
    """Create (or rebuild) the sandbox; returns its home, hub, laptop and desktop folders."""
    root = demo_root(paths)
    if root.exists():
        shutil.rmtree(root)
    home = Paths(root / "home" / "config", root / "home" / "data", root / "home" / "state")
    hub, laptop, desktop = root / "hub.git", root / "laptop", root / "desktop"
    init_bare(hub)
    laptop.mkdir(parents=True)
    (laptop / "notes.md").write_text(NOTES)
    (laptop / "report.docx").write_bytes(docx_bytes(REPORT))
    (laptop / "ideas").mkdir()
    (laptop / "ideas" / "trip.txt").write_text("Lyon in spring: museums, the old town.\n")
    svc = Service(home)
    svc.init(str(laptop), remote=str(hub), device="laptop")
    svc.sync(str(laptop))
    clone(str(hub), desktop, branch=None, progress=None)
    svc.init(str(desktop), remote=str(hub), device="desktop")
    _make_conflicts(svc, laptop, desktop)
    return home, hub, laptop, desktop


def _make_conflicts(svc: Service, laptop: Path, desktop: Path) -> None:
    """Both devices change the same things "offline", then sync: two open conflicts."""
    edits = {laptop: ("Call the plumber on Tuesday at 9", "hire a designer"),
             desktop: ("Call the plumber on Wednesday", "hire three engineers")}
    for device, (line, hires) in edits.items():
        notes = (device / "notes.md").read_text()
        (device / "notes.md").write_text(notes.replace("Call the plumber on Tuesday", line))
        report = [p.replace("hire two engineers", hires) for p in REPORT]
        (device / "report.docx").write_bytes(docx_bytes(report))
    svc.sync(str(laptop))
    svc.sync(str(desktop))  # merges the laptop's edits: both files conflict
    svc.sync(str(laptop))  # the laptop gets the records too


def run_demo(svc: Service, *, once: bool = False, open_browser: bool = True) -> int:
    home, hub, laptop, desktop = build_demo(svc.paths)
    print(f"Demo sandbox in {demo_root(svc.paths)}")
    print(f"  hub      {hub}")
    print(f"  laptop   {laptop}")
    print(f"  desktop  {desktop}")
    if once:
        return 0
    bus = EventBus()
    bus.subscribe(_print_event)
    # The demo's pages take the usual port unless a real daemon already serves it.
    daemon = Daemon(home, {"port": DEMO_PORT if _port_free(DEMO_PORT) else 0}, bus=bus,
                    web=True)
    daemon.login_hint = "the link printed below"  # its own home: 'gitsync web' would not do

    def scripted_edit() -> None:
        time.sleep(3)
        if daemon.stop_event.is_set():
            return
        with open(laptop / "notes.md", "a") as fh:
            fh.write("- Demo edit: this line was saved by the demo on the laptop\n")
        print("demo: appended a line to laptop/notes.md; watch it become a commit")

    threading.Thread(target=scripted_edit, daemon=True).start()
    def ready() -> None:
        print("Edit files in either device folder; every save becomes a commit.")
        print(f"History: GITSYNC_HOME={home.config_dir.parent} gitsync log --folder {laptop}")
        port = daemon.web_port
        if port is not None:
            url = login_url(read_or_create_token(home), port)
            print("Both devices hold two conflicts to settle (notes.md and report.docx).")
            print(f"Open the web pages: {url}")
            if open_browser:
                open_in_browser(url)
        print("Ctrl-C stops the demo.", flush=True)

    try:
        daemon.run(on_ready=ready)
    except AlreadyRunning as e:
        print(f"the demo is already running (pid {e.pid})")
    return 0


def _print_event(ev: Event) -> None:
    print(f"[{Path(ev.folder).name}] {ev.kind}: {ev.message}", flush=True)
