"""The ``gitsync`` command: parses arguments, calls :mod:`gitsync.service`, prints.

Exit status: 0 done; 1 done but conflicts are left for the user; 2 bad input; 3 a runtime
failure. Errors are one line on stderr naming the problem and the fix; ``--debug`` adds
the traceback. No logic lives here beyond formatting.
"""

from __future__ import annotations

import argparse
import json
import logging
import logging.handlers
import sys
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, NoReturn

from gitsync import __version__
from gitsync.config import SETTINGS_BY_NAME, Paths
from gitsync.errors import GitsyncError
from gitsync.model import CommitInfo, FolderStatus
from gitsync.service import Service

logger = logging.getLogger("gitsync")

EXIT_OK, EXIT_CONFLICTS, EXIT_USAGE, EXIT_FAILURE = 0, 1, 2, 3


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"gitsync: {message} (see '{self.prog} --help')\n")


def _out(text: str = "") -> None:
    sys.stdout.write(text + "\n")


def _json(doc: Any) -> None:
    sys.stdout.write(json.dumps(doc, indent=2, sort_keys=False) + "\n")


def _when(t: float) -> str:
    return datetime.fromtimestamp(t).strftime("%Y-%m-%d %H:%M:%S")


def _progress_printer(label: str) -> Callable[[int, int], None] | None:
    if not sys.stderr.isatty():
        return None
    start = time.monotonic()

    def show(done: int, total: int) -> None:
        width = 30
        filled = int(width * done / max(total, 1))
        rate = done / max(time.monotonic() - start, 1e-6)
        sys.stderr.write(f"\r{label} [{'#' * filled}{'.' * (width - filled)}] "
                         f"{done}/{total} files ({rate:.0f}/s)")
        if done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()

    return show


# ------------------------------------------------------------------ commands
def cmd_init(svc: Service, a: argparse.Namespace) -> int:
    fc = svc.init(a.dir, remote=a.remote, device=a.device,
                  progress=_progress_printer("first snapshot"))
    if a.json:
        _json({"path": str(fc.path), "device": fc.device, "remote": fc.remote,
               "branch": fc.branch})
    else:
        _out(f"Syncing {fc.path} as device '{fc.device}' with {fc.remote}")
        _out("Start the daemon with 'gitsync run' to commit every save.")
    return EXIT_OK


def cmd_forget(svc: Service, a: argparse.Namespace) -> int:
    fc = svc.forget(a.dir)
    _out(f"No longer syncing {fc.path} (its files and history are untouched)")
    return EXIT_OK


def cmd_folders(svc: Service, a: argparse.Namespace) -> int:
    folders = svc.folders()
    if a.json:
        _json({"folders": [{"path": str(f.path), "device": f.device, "remote": f.remote,
                            "branch": f.branch} for f in folders]})
    elif not folders:
        _out("No synced folders yet; add one with 'gitsync init DIR'.")
    else:
        for f in folders:
            _out(f"{f.path}\t{f.device}\t{f.remote}")
    return EXIT_OK


def _print_status(st: FolderStatus) -> None:
    _out(f"{st.path}")
    _out(f"  state        {st.state}" + (f" ({st.state_reason})" if st.state_reason else ""))
    _out(f"  device       {st.device}")
    _out(f"  remote       {st.remote} ({st.branch})")
    if st.last_commit:
        c = st.last_commit
        _out(f"  last commit  {c.id[:10]} {_when(c.time)} {c.summary}")
    else:
        _out("  last commit  none yet")
    if st.ahead:
        _out(f"  not pushed   {st.ahead} commit(s)")
    _out(f"  pending      {len(st.pending)} change(s)" +
         (": " + ", ".join(st.pending[:5]) + (" ..." if len(st.pending) > 5 else "")
          if st.pending else ""))
    for s in st.skipped:
        _out(f"  not synced   {s.path}: {s.reason}")
    if st.last_error:
        _out(f"  last error   {st.last_error}")


def cmd_status(svc: Service, a: argparse.Namespace) -> int:
    statuses = svc.status(a.dir)
    if a.json:
        _json({"folders": [s.to_json() for s in statuses]})
    elif not statuses:
        _out("No synced folders yet; add one with 'gitsync init DIR'.")
    else:
        for i, st in enumerate(statuses):
            if i:
                _out()
            _print_status(st)
    return EXIT_OK


def _print_commit(c: CommitInfo) -> None:
    _out(f"{c.id[:10]}  {_when(c.time)}  {c.device or '-':<12} {c.summary}")
    for ch in c.changes:
        extra = f" (from {ch.old_path})" if ch.old_path else ""
        _out(f"      {ch.kind.value:<8} {ch.path}{extra}")


def cmd_log(svc: Service, a: argparse.Namespace) -> int:
    fc, rel, commits = svc.log(a.path, folder_arg=a.folder, limit=a.n)
    if a.json:
        _json({"folder": str(fc.path), "path": rel,
               "commits": [c.to_json() for c in commits]})
    else:
        for c in commits:
            _print_commit(c)
    return EXIT_OK


def cmd_show(svc: Service, a: argparse.Namespace) -> int:
    data = svc.show(a.path, a.rev, folder_arg=a.folder)
    sys.stdout.flush()
    buffer = getattr(sys.stdout, "buffer", None)
    if buffer is None:  # stdout replaced by a text stream (embedding, tests)
        sys.stdout.write(data.decode("utf-8", "replace"))
    else:
        buffer.write(data)
        buffer.flush()
    return EXIT_OK


def cmd_restore(svc: Service, a: argparse.Namespace) -> int:
    commit = svc.restore(a.path, a.rev, folder_arg=a.folder)
    if a.json:
        _json({"commit": commit.to_json() if commit else None})
    elif commit:
        _out(f"Restored: {commit.summary} ({commit.id[:10]})")
    else:
        _out(f"{a.path} is already at that version; nothing to do.")
    return EXIT_OK


def cmd_sync(svc: Service, a: argparse.Namespace) -> int:
    results = svc.sync(a.dir)
    if a.json:
        _json({"folders": [{"path": str(fc.path),
                            "committed": c.to_json() if c else None,
                            "pushed": pushed} for fc, c, pushed in results]})
    else:
        for fc, c, pushed in results:
            what = [f"committed {c.summary}" if c else "nothing to commit",
                    f"pushed {pushed[:10]}" if pushed else "remote up to date"]
            _out(f"{fc.path}: " + "; ".join(what))
    return EXIT_OK


def _setup_daemon_logging(paths: Paths, debug: bool) -> None:
    paths.log_dir.mkdir(parents=True, exist_ok=True)
    handler = logging.handlers.RotatingFileHandler(
        paths.log_dir / "gitsync.log", maxBytes=5_000_000, backupCount=3)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.getLogger().addHandler(handler)
    console = logging.StreamHandler(sys.stderr)
    console.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
    logging.getLogger().addHandler(console)
    logging.getLogger().setLevel(logging.DEBUG if debug else logging.INFO)
    logging.getLogger("watchdog").setLevel(logging.WARNING)


def cmd_run(svc: Service, a: argparse.Namespace) -> int:
    from gitsync.daemon import AlreadyRunning, Daemon

    flags = {"debounce": a.debounce, "poll": a.poll, "port": a.port,
             "max_batch_delay": a.max_batch_delay}
    _setup_daemon_logging(svc.paths, a.debug)
    daemon = Daemon(svc.paths, flags)
    try:
        daemon.run(on_ready=lambda: logger.info("gitsync %s running; Ctrl-C stops it",
                                                __version__))
    except AlreadyRunning as e:
        _out(f"gitsync is already running for this home (pid {e.pid}); nothing to do.")
    return EXIT_OK


def cmd_demo(svc: Service, a: argparse.Namespace) -> int:
    from gitsync.demo import run_demo

    _setup_daemon_logging(svc.paths, a.debug)
    return run_demo(svc, once=a.no_run)


# ------------------------------------------------------------------ parser
def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="gitsync", description="Sync folders through git: every save a commit.")
    p.add_argument("--version", action="version", version=f"gitsync {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", help="show details and tracebacks")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def add(name: str, fn: Callable[[Service, argparse.Namespace], int], help: str
            ) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help, description=help, parents=[common])
        sp.set_defaults(func=fn)
        return sp

    sp = add("init", cmd_init, "register a folder for syncing")
    sp.add_argument("dir", metavar="DIR")
    sp.add_argument("--remote", metavar="URL",
                    help="git remote to sync with (default: a local hub under gitsync's data)")
    sp.add_argument("--device", metavar="NAME", help="this device's name (default: host name)")
    sp.add_argument("--json", action="store_true")

    sp = add("run", cmd_run, "watch, commit and sync every registered folder (foreground)")
    for name in ("debounce", "max_batch_delay", "poll", "port"):
        s = SETTINGS_BY_NAME[name]
        assert s.flag
        sp.add_argument(s.flag, dest=name, type=s.type, default=None,
                        help=f"{s.help} (default {s.default})")
    sp.add_argument("--no-web", action="store_true",
                    help="do not start the local web server")

    sp = add("sync", cmd_sync, "commit what is pending and push, now")
    sp.add_argument("dir", metavar="DIR", nargs="?")
    sp.add_argument("--json", action="store_true")

    sp = add("status", cmd_status, "show each folder's state")
    sp.add_argument("dir", metavar="DIR", nargs="?")
    sp.add_argument("--json", action="store_true")

    sp = add("log", cmd_log, "history of the folder or of one file (follows renames)")
    sp.add_argument("path", metavar="PATH", nargs="?")
    sp.add_argument("-n", type=int, default=None, metavar="N", help="show at most N commits")
    sp.add_argument("--folder", metavar="DIR")
    sp.add_argument("--json", action="store_true")

    sp = add("show", cmd_show, "print a version of a file")
    sp.add_argument("path", metavar="PATH")
    sp.add_argument("--rev", metavar="REV", help="commit id or time (2h, yesterday, 2026-11-01)")
    sp.add_argument("--folder", metavar="DIR")

    sp = add("restore", cmd_restore, "bring back a version of a file, as a new commit")
    sp.add_argument("path", metavar="PATH")
    sp.add_argument("--rev", metavar="REV",
                    help="commit id or time (default: the version before the latest change)")
    sp.add_argument("--folder", metavar="DIR")
    sp.add_argument("--json", action="store_true")

    sp = add("folders", cmd_folders, "list synced folders")
    sp.add_argument("--json", action="store_true")

    sp = add("forget", cmd_forget, "stop syncing a folder (files and history stay)")
    sp.add_argument("dir", metavar="DIR")

    sp = add("demo", cmd_demo, "a sandbox with a hub and two devices, synced live")
    sp.add_argument("--no-run", action="store_true",
                    help="build the sandbox and sync it once, without staying in the foreground")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command not in ("run", "demo"):
        logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING,
                            format="gitsync: %(message)s")
    try:
        svc = Service.default()
        code: int = args.func(svc, args)
        return code
    except GitsyncError as e:
        if args.debug:
            logger.exception("failed")
        sys.stderr.write(f"gitsync: {e}\n")
        return e.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("gitsync: interrupted\n")
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except OSError as e:
        if args.debug:
            logger.exception("failed")
        where = f" ({e.filename})" if e.filename else ""
        sys.stderr.write(f"gitsync: {e.strerror or e}{where}; check the disk and permissions\n")
        return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())


