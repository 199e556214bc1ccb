"""The ``gitsync`` command: parses arguments, calls :mod:`gitsync.service`, prints.

Exit status: 0 done; 1 done but conflicts are left for the user; 2 bad input; 3 a runtime
failure. Errors are one line on stderr naming the problem and the fix; ``--debug`` adds
the traceback. No logic lives here beyond formatting.

Start-up cost matters: as a git merge driver or textconv, gitsync runs once per file, so
``merge-file``, ``merge-driver``, ``docx-text``, ``help`` and every ``--help`` must not pay
for pygit2, watchdog or the daemon. :mod:`gitsync.service` (which pulls them in) is imported
only by the commands that call it, through :func:`_service`, and so are the standard modules
a single command needs; a test checks what ``import gitsync.cli`` loads.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from gitsync import __version__
from gitsync.errors import GitsyncError, UserError

if TYPE_CHECKING:
    import logging
    from datetime import datetime

    from gitsync.config import Paths
    from gitsync.model import CommitInfo, FolderStatus
    from gitsync.service import Service

# Commands git runs once per file (a merge driver, a textconv) start as light as they can:
# not even logging is imported unless something goes wrong.
LIGHT_COMMANDS = frozenset({"merge-file", "merge-driver", "docx-text"})


def _logger() -> logging.Logger:
    import logging

    return logging.getLogger("gitsync")

EXIT_OK, EXIT_CONFLICTS, EXIT_USAGE, EXIT_FAILURE = 0, 1, 2, 3

Command = Callable[[argparse.Namespace], int]


class _HelpFormatter(argparse.HelpFormatter):
    """Help texts are literal text: a ``%`` in one (``%O %A %B %P``) is printed as is.

    argparse %-formats every argument's help with the action's fields, so a lone ``%`` made
    ``gitsync --help`` crash. gitsync never uses ``%(default)s`` and friends (defaults are
    written out with f-strings), so no help text needs formatting, and none can break it.
    """

    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24,
                 width: int | None = None, **kwargs: Any) -> None:
        # argparse would import shutil (and with it zlib, bz2, lzma) for the terminal width,
        # for every parser and argument, even when no help is printed.
        if width is None:
            width = _terminal_columns() - 2
        super().__init__(prog, indent_increment, max_help_position, width, **kwargs)

    def _expand_help(self, action: argparse.Action) -> str:
        return self._get_help_string(action) or ""


def _terminal_columns() -> int:
    """``shutil.get_terminal_size().columns``: $COLUMNS, else the terminal's, else 80."""
    try:
        columns = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"gitsync: {message} (see '{self.prog} --help')\n")


def _service() -> Service:
    """The service for this gitsync home; imported here, not at the top, see the docstring."""
    from gitsync.service import Service

    return Service.default()


def _out(text: str = "") -> None:
    sys.stdout.write(text + "\n")


def _json(doc: Any) -> None:
    import json

    sys.stdout.write(json.dumps(doc, indent=2, sort_keys=False) + "\n")


def _when(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))


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
def cmd_init(a: argparse.Namespace) -> int:
    svc = _service()
    fc = svc.init(a.dir, remote=a.remote, device=a.device,
                  progress=_progress_printer("first snapshot"))
    if a.json:
        _json({"path": str(fc.path), "device": fc.device, "remote": fc.remote,
               "branch": fc.branch})
    else:
        _out(f"Syncing {fc.path} as device '{fc.device}' with {fc.remote}")
        _out("Start the daemon with 'gitsync run' to commit every save.")
    return EXIT_OK


def cmd_forget(a: argparse.Namespace) -> int:
    svc = _service()
    fc = svc.forget(a.dir)
    _out(f"No longer syncing {fc.path} (its files and history are untouched)")
    return EXIT_OK


def cmd_folders(a: argparse.Namespace) -> int:
    svc = _service()
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
    history = st.extra.get("history")
    if isinstance(history, dict):
        from gitsync.upkeep import describe_history

        _out(f"  history      {describe_history(history)}")
    _out(f"  pending      {len(st.pending)} change(s)" +
         (": " + ", ".join(st.pending[:5]) + (" ..." if len(st.pending) > 5 else "")
          if st.pending else ""))
    for s in st.skipped:
        _out(f"  not synced   {s.path}: {s.reason}")
    waiting = st.extra.get("waiting") or {}
    assert isinstance(waiting, dict)
    for p, why in waiting.items():
        _out(f"  waiting      {p}: incoming change waits, {why}")
    if st.extra.get("conflicts"):
        _out(f"  conflicts    {st.extra['conflicts']} (see 'gitsync conflicts')")
    if st.extra.get("offline_since"):
        _out(f"  offline      since {_when(float(str(st.extra['offline_since'])))}")
    if st.last_error:
        _out(f"  last error   {st.last_error}")


def cmd_status(a: argparse.Namespace) -> int:
    svc = _service()
    statuses = svc.status(a.dir)
    if a.json:
        import time

        from gitsync.daemon_lock import running_daemon_pid
        from gitsync.health import judge

        docs = [s.to_json() for s in statuses]
        health = judge(docs, daemon_running=running_daemon_pid(svc.paths) is not None,
                       now=time.time(), offline_after=float(
                           svc.config().effective(None)["notify_offline_after"]))
        _json({"folders": docs, "health": health.to_json()})
        # for scripts and monitors: 0 healthy, 1 needs attention, 3 daemon not running
        return {"healthy": EXIT_OK, "attention": EXIT_CONFLICTS}.get(health.status,
                                                                     EXIT_FAILURE)
    elif not statuses:
        _out("No synced folders yet; add one with 'gitsync init DIR'.")
    else:
        for i, st in enumerate(statuses):
            if i:
                _out()
            _print_status(st)
    if not a.json and a.dir is None:
        _print_autostart_line(svc.paths)
    return EXIT_OK


def _print_autostart_line(paths: Paths) -> None:
    """One line when autostart is set up, so a broken login entry is seen; none otherwise."""
    from gitsync import autostart

    st = autostart.status(paths)
    if st.variant is None:
        return
    state = "on" if st.enabled else "installed but off" if st.installed else "entry missing"
    _out()
    _out(f"autostart      {state} ({st.variant}: {st.path}); see 'gitsync autostart status'")


def _print_commit(c: CommitInfo) -> None:
    _out(f"{c.id[:10]}  {_when(c.time)}  {c.device or '-':<12} {c.summary}")
    for ch in c.changes:
        extra = f" (from {ch.old_path})" if ch.old_path else ""
        _out(f"      {ch.kind.value:<8} {ch.path}{extra}")


def cmd_log(a: argparse.Namespace) -> int:
    svc = _service()
    fc, rel, commits = svc.log(a.path, folder_arg=a.folder, limit=a.n)
    if a.json:
        docs = []
        for c in commits:
            d = c.to_json()
            if a.patch:
                d["patches"] = {ch.path: svc.patch(fc, c, ch) for ch in c.changes}
            docs.append(d)
        _json({"folder": str(fc.path), "path": rel, "commits": docs})
    else:
        for c in commits:
            _print_commit(c)
            if a.patch:
                for ch in c.changes:
                    _out(f"    --- {ch.path}")
                    for line in svc.patch(fc, c, ch).splitlines():
                        _out(f"    {line}")
    return EXIT_OK


def cmd_show(a: argparse.Namespace) -> int:
    svc = _service()
    data = svc.show(a.path, a.rev, folder_arg=a.folder)
    sys.stdout.flush()
    buffer = getattr(sys.stdout, "buffer", None)
    if buffer is None:  # stdout replaced by a text stream (embedding, tests)
        sys.stdout.write(data.decode("utf-8", "replace"))
    else:
        buffer.write(data)
        buffer.flush()
    return EXIT_OK


def cmd_restore(a: argparse.Namespace) -> int:
    svc = _service()
    commit = svc.restore(a.path, a.rev, folder_arg=a.folder)
    if a.json:
        _json({"commit": commit.to_json() if commit else None})
    elif commit:
        _out(f"Restored: {commit.summary} ({commit.id[:10]})")
    else:
        _out(f"{a.path} is already at that version; nothing to do.")
    return EXIT_OK


def cmd_sync(a: argparse.Namespace) -> int:
    svc = _service()
    reports = svc.sync(a.dir)
    if a.json:
        _json({"folders": [{
            "path": str(r.folder.path),
            "committed": r.committed.to_json() if r.committed else None,
            "action": r.outcome.action,
            "head": r.outcome.head,
            "pushed": r.outcome.pushed,
            "written": r.outcome.written,
            "removed": r.outcome.removed,
            "waiting": r.outcome.waiting,
            "new_conflicts": [c.to_json() for c in r.outcome.conflicts],
            "open_conflicts": len(r.open_conflicts),
        } for r in reports]})
    else:
        for r in reports:
            o = r.outcome
            what = [f"committed {r.committed.summary}" if r.committed else "nothing to commit"]
            if o.action in ("fast-forward", "initial", "merged"):
                what.append(f"{o.action}: {len(o.written) + len(o.removed)} file(s) updated")
            what.append(f"pushed {o.pushed[:10]}" if o.pushed else "remote up to date")
            _out(f"{r.folder.path}: " + "; ".join(what))
            for c in o.conflicts:
                _out(f"  conflict   {c.path}" + (f" (other version: {c.copy_path})"
                                                 if c.copy_path else " (tracked changes)"))
            for p, why in o.waiting.items():
                _out(f"  waiting    {p}: {why}")
            if r.open_conflicts:
                _out(f"  {len(r.open_conflicts)} conflict(s) to resolve: see 'gitsync "
                     "conflicts'")
    return EXIT_CONFLICTS if any(r.open_conflicts for r in reports) else EXIT_OK


def cmd_conflicts(a: argparse.Namespace) -> int:
    svc = _service()
    found = svc.conflicts(a.dir)
    if a.json:
        _json({"folders": [{"path": str(fc.path), "conflicts": [r.to_json() for r in recs]}
                           for fc, recs in found]})
        return EXIT_OK
    total = 0
    for fc, recs in found:
        for r in recs:
            total += 1
            other = r.copy_path or "tracked changes inside the document"
            _out(f"{fc.path}/{r.path}\t{r.kind}\t{r.ours_device} vs {r.theirs_device}\t"
                 f"{_when(r.time)}\t{other}")
    if not total:
        _out("No conflicts.")
    return EXIT_OK


def cmd_resolve(a: argparse.Namespace) -> int:
    svc = _service()
    choice = "ours" if a.ours else "theirs" if a.theirs else "file"
    res = svc.resolve(a.path, choice, with_file=a.with_file, folder_arg=a.folder)
    if a.json:
        _json({"resolved": res.record.to_json(), "choice": choice,
               "commit": res.commit.to_json() if res.commit else None})
    else:
        _out(f"Resolved {res.record.path}"
             + (f" ({res.commit.summary})" if res.commit else ""))
    return EXIT_OK


def cmd_clone(a: argparse.Namespace) -> int:
    svc = _service()

    def progress(phase: str, done: int, total: int) -> None:
        if sys.stderr.isatty():
            sys.stderr.write(f"\r{phase}: {done}/{total}" + ("\n" if done >= total else ""))
            sys.stderr.flush()

    fc, records = svc.clone(a.url, a.dir, device=a.device, progress=progress)
    if a.json:
        _json({"path": str(fc.path), "device": fc.device, "remote": fc.remote,
               "branch": fc.branch, "conflicts": [r.to_json() for r in records]})
    else:
        _out(f"Cloned {a.url} into {fc.path} as device '{fc.device}'")
        for r in records:
            _out(f"  kept your {r.path}; the remote's version is {r.copy_path}")
    return EXIT_OK


def cmd_merge_file(a: argparse.Namespace) -> int:
    from gitsync.merge.registry import merge_files

    def read(p: str) -> bytes:
        try:
            return Path(p).read_bytes()
        except OSError as e:
            raise UserError(f"cannot read {p}: {e.strerror}",
                            hint="give BASE OURS THEIRS as files") from e

    base, ours, theirs = read(a.base), read(a.ours), read(a.theirs)
    data, code = merge_files(base, ours, theirs, path=a.path or a.ours,
                             ours_label=a.ours_label or a.ours,
                             theirs_label=a.theirs_label or a.theirs, now=_now())
    if a.output == "-":
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        _write_file(Path(a.output or a.ours), data)
    return code


def cmd_merge_driver(a: argparse.Namespace) -> int:
    if a.install is not None:
        repo_dir = Path(a.install or ".").resolve()
        _install_driver(repo_dir)
        _out(f"gitsync is now the merge driver and .docx diff filter of {repo_dir}")
        return EXIT_OK
    if not (a.base and a.ours and a.theirs):
        raise UserError("merge-driver needs %O %A %B [%P]",
                        hint="or run 'gitsync merge-driver --install [REPO]'")
    from gitsync.merge.registry import merge_files

    data, code = merge_files(Path(a.base).read_bytes(), Path(a.ours).read_bytes(),
                             Path(a.theirs).read_bytes(), path=a.path or a.ours,
                             ours_label="ours", theirs_label="theirs", now=_now())
    _write_file(Path(a.ours), data)
    return code


def _now() -> datetime:
    """The time a merge is made at: what Word shows on the tracked changes of a conflict."""
    from datetime import UTC, datetime

    return datetime.now(UTC)


def _self_command() -> str:
    import shlex

    exe = Path(sys.argv[0])
    if exe.name == "gitsync" and exe.exists():
        return shlex.quote(str(exe.resolve()))
    return f"{shlex.quote(sys.executable)} -m gitsync.cli"


def _install_driver(repo_dir: Path) -> None:
    from gitsync.gitproc import run_git

    gitdir = run_git(["rev-parse", "--absolute-git-dir"], cwd=repo_dir) \
        if repo_dir.is_dir() else None
    if gitdir is None or not gitdir.ok:
        raise UserError(f"{repo_dir} is not a git repository", hint="give a repository path")
    me = _self_command()
    settings = {
        "merge.gitsync.name": "gitsync three-way merge (word-level text, Word documents)",
        "merge.gitsync.driver": f"{me} merge-driver %O %A %B %P",
        "diff.docx.textconv": f"{me} docx-text",
    }
    for key, value in settings.items():
        run_git(["config", key, value], cwd=repo_dir, check=True)
    attributes = Path(gitdir.text.strip()) / "info" / "attributes"
    attributes.parent.mkdir(parents=True, exist_ok=True)
    lines = ["* merge=gitsync", "*.docx diff=docx", "*.DOCX diff=docx"]
    existing = attributes.read_text().splitlines() if attributes.exists() else []
    with attributes.open("a") as fh:
        for line in lines:
            if line not in existing:
                fh.write(line + "\n")


def _write_file(path: Path, data: bytes) -> None:
    """Replace PATH by DATA, keeping its mode, as ``git merge-file`` does (no fsync: git
    reads the file straight back)."""
    from gitsync.fsutil import atomic_write

    atomic_write(path, data, durable=False)


def cmd_watch_refs(a: argparse.Namespace) -> int:
    from gitsync import refstream

    try:
        return refstream.serve_ref_changes(Path(a.path), a.branch, sys.stdout,
                                           stop=refstream.stop_on_stdin_eof(),
                                           heartbeat=a.heartbeat)
    except KeyboardInterrupt:
        return EXIT_OK


def cmd_docx_text(a: argparse.Namespace) -> int:
    from gitsync.merge.docx import docx_text

    try:
        data = Path(a.file).read_bytes()
    except OSError as e:
        raise UserError(f"cannot read {a.file}: {e.strerror}") from e
    _out(docx_text(data).rstrip("\n"))
    return EXIT_OK


def _setup_daemon_logging(paths: Paths, debug: bool) -> None:
    import logging
    import logging.handlers

    paths.log_dir.mkdir(parents=True, exist_ok=True)
    class QuietFileHandler(logging.handlers.RotatingFileHandler):
        # A full disk must not print a traceback for every line: the console has it.
        def handleError(self, record: logging.LogRecord) -> None:
            pass

    handler = QuietFileHandler(paths.log_dir / "gitsync.log", maxBytes=5_000_000,
                               backupCount=3)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.getLogger().addHandler(handler)
    console = logging.StreamHandler(sys.stderr)
    console.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
    logging.getLogger().addHandler(console)
    logging.getLogger().setLevel(logging.DEBUG if debug else logging.INFO)
    logging.getLogger("watchdog").setLevel(logging.WARNING)


def cmd_run(a: argparse.Namespace) -> int:
    # Not the service: the daemon imports pygit2 and the workers only once each folder's
    # watch and scan are under way, so the scan runs beside those imports (see daemon).
    from gitsync.config import Paths
    from gitsync.daemon import AlreadyRunning, Daemon
    from gitsync.memory import limit_arenas

    # Before the daemon's first thread: arenas made before the cap would stay (see memory).
    limit_arenas()
    paths = Paths.discover()
    flags = {"debounce": a.debounce, "poll": a.poll, "port": a.port,
             "max_batch_delay": a.max_batch_delay}
    _setup_daemon_logging(paths, a.debug)
    daemon = Daemon(paths, flags, web=not a.no_web, listen=a.listen)
    try:
        daemon.run(on_ready=lambda: _logger().info("gitsync %s running; Ctrl-C stops it",
                                                __version__))
    except AlreadyRunning as e:
        _out(f"gitsync is already running for this home (pid {e.pid}); nothing to do.")
    return EXIT_OK


def cmd_web(a: argparse.Namespace) -> int:
    from gitsync.config import Paths, load_config
    from gitsync.daemon_lock import running_daemon_pid
    from gitsync.server.session import (
        login_url,
        open_in_browser,
        read_address,
        read_or_create_token,
    )

    paths = Paths.discover()
    token = read_or_create_token(paths)
    daemon = running_daemon_pid(paths)
    where = read_address(paths) if daemon is not None else None
    host = "127.0.0.1"
    if where is not None and where.get("pid") == daemon and isinstance(where.get("port"), int):
        port = int(str(where["port"]))
        if isinstance(where.get("host"), str) and where["host"] not in ("0.0.0.0", "::"):
            host = str(where["host"])  # started with --listen: only that address answers
    else:
        where = None
        port = int(load_config(paths).effective(None)["port"])
    url = login_url(token, port, host)
    _out(url)
    if daemon is None:
        _out("gitsync is not running here: start 'gitsync run' for this link to answer.")
    elif where is None:
        _out("The running gitsync serves no web pages (started with --no-web, or its port "
             "was taken: see its log).")
    if not a.no_open:
        open_in_browser(url)
    return EXIT_OK


def cmd_autostart(a: argparse.Namespace) -> int:
    from gitsync import autostart
    from gitsync.config import Paths

    paths = Paths.discover()
    if a.action == "enable":
        for line in autostart.enable(paths, xdg_only=a.xdg).lines:
            _out(line)
    elif a.action == "disable":
        for line in autostart.disable(paths).lines:
            _out(line)
    else:
        st = autostart.status(paths)
        if a.json:
            _json(st.to_json())
            return EXIT_OK
        installed = f"yes ({st.variant}): {st.path}" if st.installed else "no"
        _out(f"installed  {installed}")
        _out(f"enabled    {'yes' if st.enabled else 'no'}")
        if st.pid is None:
            _out("running    no")
        else:
            _out(f"running    yes, pid {st.pid}"
                 + (f", since {_when(st.since)}" if st.since else ""))
    return EXIT_OK


def cmd_demo(a: argparse.Namespace) -> int:
    from gitsync.demo import run_demo

    svc = _service()

    _setup_daemon_logging(svc.paths, a.debug)
    return run_demo(svc, once=a.no_run, open_browser=not a.no_open)


def cmd_help(a: argparse.Namespace) -> int:
    parser = build_parser()
    if a.topic is None:
        parser.print_help()
        return EXIT_OK
    commands = subcommands(parser)
    if a.topic not in commands:
        raise UserError(f"no command '{a.topic}'", hint=f"one of: {', '.join(COMMAND_NAMES)}")
    commands[a.topic].print_help()
    return EXIT_OK


# ------------------------------------------------------------------ parser
# Each command's arguments, declared apart so that `main` builds only the parser of the
# command being run (a merge driver runs once per file; see the module docstring).
Parser = argparse.ArgumentParser


def _args_init(sp: Parser) -> None:
    sp.add_argument("dir", metavar="DIR")
    sp.add_argument("--remote", metavar="URL",
                    help="git remote to sync with (default: a local hub under gitsync's data)")
    sp.add_argument("--device", metavar="NAME", help="this device's name (default: host name)")
    sp.add_argument("--json", action="store_true")


def _args_run(sp: Parser) -> None:
    from gitsync.config import SETTINGS_BY_NAME

    for name in ("debounce", "max_batch_delay", "poll", "port"):
        s = SETTINGS_BY_NAME[name]
        assert s.flag
        sp.add_argument(s.flag, dest=name, type=s.type, default=None,
                        help=f"{s.help} (default {s.default})")
    sp.add_argument("--no-web", action="store_true",
                    help="do not start the local web server")
    sp.add_argument("--listen", metavar="ADDR",
                    help="serve the web pages on ADDR, an address of this machine (for "
                         "example its LAN address), instead of 127.0.0.1: other machines can "
                         "then reach them, still only with the token; prints a warning")


def _args_dir(sp: Parser) -> None:
    sp.add_argument("dir", metavar="DIR", nargs="?")
    sp.add_argument("--json", action="store_true")


def _args_log(sp: Parser) -> None:
    sp.add_argument("path", metavar="PATH", nargs="?")
    sp.add_argument("-n", type=int, default=None, metavar="N", help="show at most N commits")
    sp.add_argument("-p", "--patch", action="store_true",
                    help="show what changed (text: unified diff; .docx: paragraphs and words)")
    sp.add_argument("--folder", metavar="DIR")
    sp.add_argument("--json", action="store_true")


def _args_show(sp: Parser) -> None:
    sp.add_argument("path", metavar="PATH")
    sp.add_argument("--rev", metavar="REV", help="commit id or time (2h, yesterday, 2026-11-01)")
    sp.add_argument("--folder", metavar="DIR")


def _args_restore(sp: Parser) -> None:
    sp.add_argument("path", metavar="PATH")
    sp.add_argument("--rev", metavar="REV",
                    help="commit id or time (default: the version before the latest change)")
    sp.add_argument("--folder", metavar="DIR")
    sp.add_argument("--json", action="store_true")


def _args_resolve(sp: Parser) -> None:
    sp.add_argument("path", metavar="PATH")
    g = sp.add_mutually_exclusive_group(required=True)
    g.add_argument("--ours", action="store_true", help="keep the version at PATH")
    g.add_argument("--theirs", action="store_true", help="take the conflict copy's version")
    g.add_argument("--with", dest="with_file", metavar="FILE", help="use FILE's content")
    sp.add_argument("--folder", metavar="DIR")
    sp.add_argument("--json", action="store_true")


def _args_clone(sp: Parser) -> None:
    sp.add_argument("url", metavar="URL")
    sp.add_argument("dir", metavar="DIR")
    sp.add_argument("--device", metavar="NAME", help="this device's name (default: host name)")
    sp.add_argument("--json", action="store_true")


def _args_merge_file(sp: Parser) -> None:
    sp.add_argument("base", metavar="BASE")
    sp.add_argument("ours", metavar="OURS")
    sp.add_argument("theirs", metavar="THEIRS")
    sp.add_argument("-o", dest="output", metavar="OUT",
                    help="write here ('-' for stdout; default: over OURS, as git does)")
    sp.add_argument("--path", help="file name that picks the merger (default: OURS)")
    sp.add_argument("-L", dest="ours_label", metavar="LABEL", help="label for ours")
    sp.add_argument("--theirs-label", metavar="LABEL")


def _args_merge_driver(sp: Parser) -> None:
    sp.add_argument("base", metavar="BASE", nargs="?", help="%O: the merge base")
    sp.add_argument("ours", metavar="OURS", nargs="?",
                    help="%A: our version, replaced by the result")
    sp.add_argument("theirs", metavar="THEIRS", nargs="?", help="%B: their version")
    sp.add_argument("path", metavar="PATH", nargs="?",
                    help="%P: the file's path, which picks the merger")
    sp.add_argument("--install", metavar="REPO", nargs="?", const="",
                    help="make gitsync the merge driver of REPO (default: current directory)")


def _args_watch_refs(sp: Parser) -> None:
    sp.add_argument("path", metavar="PATH")
    sp.add_argument("branch", metavar="BRANCH")
    sp.add_argument("--heartbeat", type=float, default=30.0, metavar="S")


def _args_docx_text(sp: Parser) -> None:
    sp.add_argument("file", metavar="FILE")


def _args_json(sp: Parser) -> None:
    sp.add_argument("--json", action="store_true")


def _args_forget(sp: Parser) -> None:
    sp.add_argument("dir", metavar="DIR")


def _args_demo(sp: Parser) -> None:
    sp.add_argument("--no-run", action="store_true",
                    help="build the sandbox and sync it once, without staying in the foreground")
    sp.add_argument("--no-open", action="store_true",
                    help="print the web pages' login link without opening a browser")


def _args_web(sp: Parser) -> None:
    sp.epilog = (
        "The running 'gitsync run' serves web pages on 127.0.0.1 (port 8484, or --port): "
        "every folder's state live, each file's history with previews and word-level diffs, "
        "the folder as it was at any time, restore, and conflicts settled side by side. "
        "The link carries a secret token (kept in the file web-token of gitsync's state "
        "directory, readable by you only); opening it logs the browser in. Scripts can use "
        "the JSON API under /api/ with the header 'Authorization: Bearer TOKEN'.")
    sp.add_argument("--no-open", action="store_true",
                    help="only print the link, do not open a browser")


def _args_autostart(sp: Parser) -> None:
    sp.add_argument("action", choices=("enable", "disable", "status"),
                    help="enable: write the login entry and switch it on; disable: remove "
                         "exactly what enable wrote; status: installed, enabled, running")
    sp.add_argument("--xdg", action="store_true",
                    help="on Linux, write an XDG autostart entry even where a systemd user "
                         "session could run gitsync")
    sp.add_argument("--json", action="store_true", help="status as JSON")


def _args_help(sp: Parser) -> None:
    sp.add_argument("topic", metavar="CMD", nargs="?")


# name, function, one-line help (also the description), arguments; in `--help` order.
COMMANDS: tuple[tuple[str, Command, str, Callable[[Parser], None]], ...] = (
    ("init", cmd_init, "register a folder for syncing", _args_init),
    ("run", cmd_run, "watch, commit and sync every registered folder (foreground)", _args_run),
    ("sync", cmd_sync, "commit what is pending and push, now", _args_dir),
    ("status", cmd_status, "show each folder's state", _args_dir),
    ("log", cmd_log, "history of the folder or of one file (follows renames)", _args_log),
    ("show", cmd_show, "print a version of a file", _args_show),
    ("restore", cmd_restore, "bring back a version of a file, as a new commit", _args_restore),
    ("conflicts", cmd_conflicts, "list conflicts waiting for you, on every device", _args_dir),
    ("resolve", cmd_resolve, "settle a conflict, as a commit synced to every device",
     _args_resolve),
    ("clone", cmd_clone, "join a folder synced from another device", _args_clone),
    ("merge-file", cmd_merge_file,
     "three-way merge of three files, exit status like 'git merge-file'", _args_merge_file),
    ("merge-driver", cmd_merge_driver, "git merge driver: %O %A %B %P", _args_merge_driver),
    ("watch-refs", cmd_watch_refs,
     "print a line each time BRANCH of the repository at PATH moves (run over ssh)",
     _args_watch_refs),
    ("docx-text", cmd_docx_text, "a .docx as text, one paragraph per line (textconv)",
     _args_docx_text),
    ("folders", cmd_folders, "list synced folders", _args_json),
    ("forget", cmd_forget, "stop syncing a folder (files and history stay)", _args_forget),
    ("web", cmd_web, "print (and open) the link that logs your browser in to the web pages",
     _args_web),
    ("autostart", cmd_autostart,
     "start gitsync on login: enable | disable | status (systemd, XDG, launchd, Windows)",
     _args_autostart),
    ("demo", cmd_demo, "a sandbox with a hub and two devices, synced live", _args_demo),
    ("help", cmd_help, "this help, or a command's ('gitsync help CMD')", _args_help),
)
COMMAND_NAMES = tuple(c[0] for c in COMMANDS)


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole command line; with ``only``, a parser that knows just that command.

    ``main`` passes ``only`` when the command is known from argv, which spares building
    (and importing for) the seventeen other commands.
    """
    p = _Parser(prog="gitsync", description="Sync folders through git: every save a commit.")
    p.add_argument("--version", action="version", version=f"gitsync {__version__}")
    common = _Parser(add_help=False)
    common.add_argument("--debug", action="store_true", help="show details and tracebacks")
    # Not required: a bare `gitsync` prints the help (exit 0) instead of a usage error.
    sub = p.add_subparsers(dest="command", title="commands", metavar="COMMAND",
                           parser_class=_Parser)
    for name, fn, help, add_args in COMMANDS:
        if only is None or name == only:
            sp = sub.add_parser(name, help=help, description=help, parents=[common])
            sp.set_defaults(func=fn)
            add_args(sp)
    return p


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """Every subcommand's parser, by name, read from the parser itself."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # `gitsync CMD ...` needs only CMD's parser; anything else (help, a bad command, a
    # top-level option first) gets the whole one, for the full listing or error.
    only = argv[0] if argv and argv[0] in COMMAND_NAMES else None
    parser = build_parser(only)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_OK
    if args.command not in ("run", "demo") and args.command not in LIGHT_COMMANDS:
        import logging

        logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING,
                            format="gitsync: %(message)s")
    try:
        code: int = args.func(args)
        return code
    except GitsyncError as e:
        if args.debug:
            _logger().exception("failed")
        sys.stderr.write(f"gitsync: {e}\n")
        return e.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("gitsync: interrupted\n")
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except OSError as e:
        if args.debug:
            _logger().exception("failed")
        where = f" ({e.filename})" if e.filename else ""
        sys.stderr.write(f"gitsync: {e.strerror or e}{where}; check the disk and permissions\n")
        return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())


