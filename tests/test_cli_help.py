"""What a newcomer types first: every help works, the README's commands are the real ones,
and the commands git runs once per file (merge driver, textconv) start without loading the
daemon's libraries.

Everything here runs gitsync as a real process, as a user (or git) does.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

import pytest

from gitsync import cli
from gitsync.merge.base import Merger
from gitsync.merge.binary import BinaryMerger
from gitsync.merge.docx import DocxMerger
from gitsync.merge.registry import (
    DOCX_SUFFIXES,
    ZIP_MAGIC,
    Deferred,
    MergerRegistry,
    default_registry,
)
from gitsync.merge.text import TextMerger
from gitsync.samples import docx_bytes
from tests.helpers import ROOT

VENV_SCRIPT = Path(sys.executable).parent / "gitsync"


def gitsync_cmd() -> list[str]:
    """The console script a user types, when this interpreter has one (a venv), else -m."""
    if VENV_SCRIPT.exists():
        return [str(VENV_SCRIPT)]
    return [sys.executable, "-m", "gitsync"]


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*gitsync_cmd(), *args], capture_output=True, text=True, cwd=cwd,
                          timeout=60)


def parser_commands() -> list[str]:
    """The subcommands, read from the parser itself (never a hand-written list)."""
    parser = cli.build_parser()
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    assert len(subs) == 1
    return list(subs[0].choices)


def assert_help(r: subprocess.CompletedProcess[str], usage: str) -> None:
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stdout + r.stderr
    assert r.stderr == ""
    assert r.stdout.startswith(f"usage: {usage}"), r.stdout[:200]


# ------------------------------------------------------------------ help


def test_parser_lists_the_commands_a_user_needs() -> None:
    # Guards the enumeration below: an empty or broken list would make the loop vacuous.
    names = parser_commands()
    assert {"init", "run", "status", "merge-file", "merge-driver", "help"} <= set(names)
    assert len(names) == len(set(names)) == len(cli.COMMAND_NAMES)


@pytest.mark.parametrize("command", parser_commands())
def test_every_command_help_exits_0(command: str) -> None:
    r = run(command, "--help")
    assert_help(r, f"gitsync {command}")
    # `gitsync help CMD` says the same.
    r2 = run("help", command)
    assert_help(r2, f"gitsync {command}")
    assert r2.stdout == r.stdout


@pytest.mark.parametrize("args", [["--help"], ["-h"], ["help"], []],
                         ids=["--help", "-h", "help", "no-arguments"])
def test_top_level_help_exits_0_and_lists_every_command(args: list[str]) -> None:
    r = run(*args)
    assert_help(r, "gitsync")
    assert help_commands(r.stdout) == set(parser_commands())


def test_python_dash_m_gitsync_is_the_same_command() -> None:
    r = subprocess.run([sys.executable, "-m", "gitsync", "--help"], capture_output=True,
                       text=True, timeout=60)
    assert_help(r, "gitsync")
    assert r.stdout == run("--help").stdout


def test_help_text_with_a_percent_sign_is_printed_as_is() -> None:
    # The crash that started this: argparse %-formats help, and "%O" is no format.
    r = run("merge-driver", "--help")
    assert "git merge driver: %O %A %B %P" in r.stdout
    assert "%O: the merge base" in r.stdout
    assert "%O %A %B %P" in run("--help").stdout


def test_help_for_an_unknown_command_is_one_line_and_exit_2() -> None:
    r = run("help", "nosuch")
    assert r.returncode == 2
    assert r.stdout == ""
    assert r.stderr.startswith("gitsync: no command 'nosuch'") and r.stderr.count("\n") == 1
    assert "merge-file" in r.stderr
    r = run("nosuch")
    assert r.returncode == 2 and "Traceback" not in r.stderr and "invalid choice" in r.stderr


def test_a_command_with_a_top_level_option_first_still_parses() -> None:
    # main() builds only the named command's parser when argv starts with it; otherwise all.
    r = run("-h", "status")
    assert_help(r, "gitsync")
    assert help_commands(r.stdout) == set(parser_commands())
    r = run("--version")
    assert r.returncode == 0 and r.stdout.startswith("gitsync ")


def test_only_parser_matches_the_full_one() -> None:
    # The one-command parser main() builds parses exactly as the full parser does.
    full = cli.build_parser()
    argv = ["merge-file", "b", "o", "t", "-o", "-", "-L", "mine", "--debug"]
    one = cli.build_parser("merge-file")
    assert vars(one.parse_args(argv)) == vars(full.parse_args(argv))
    assert list(cli.subcommands(one)) == ["merge-file"]


def test_merge_driver_install_outside_a_repository_is_one_line_and_exit_2(
        tmp_path: Path) -> None:
    for where in (tmp_path, tmp_path / "missing"):
        r = run("merge-driver", "--install", str(where))
        assert r.returncode == 2, r.stderr
        assert r.stderr == f"gitsync: {where} is not a git repository: give a repository path\n"


def help_commands(text: str) -> set[str]:
    """Command names in `gitsync --help`: the indented entries of the commands section."""
    section = text.split("\ncommands:\n", 1)[1]
    return set(re.findall(r"^ {4}([a-z][a-z-]*)", section, flags=re.M))


# ------------------------------------------------------------------ README


def readme_table_commands() -> set[str]:
    """Commands named in the first column of README.md's markdown tables (`gitsync CMD`)."""
    found: set[str] = set()
    for line in (ROOT / "README.md").read_text().splitlines():
        if not line.startswith("|"):
            continue
        cells = re.split(r"(?<!\\)\|", line)
        first = cells[1] if len(cells) > 2 else ""
        found.update(re.findall(r"`gitsync ([a-z][a-z-]*)", first))
    return found


def test_readme_command_tables_match_gitsync_help() -> None:
    in_readme = readme_table_commands()
    in_help = help_commands(run("--help").stdout)
    assert in_help == set(parser_commands())
    assert in_readme - in_help == set(), "README documents commands gitsync does not have"
    assert in_help - in_readme == set(), "commands missing from README's command tables"


def test_readme_tables_are_read() -> None:
    # The parser above must find the rows it claims to compare.
    assert {"init", "merge-file", "merge-driver", "folders", "forget"} <= readme_table_commands()


# ------------------------------------------------------------------ start-up cost

# What the daemon needs and a merge driver never does.
DAEMON = ("pygit2", "watchdog", "gitsync.service", "gitsync.worker", "gitsync.repo")
DOCX = ("gitsync.merge.docx", "lxml")

WRAPPER = """
import sys
from gitsync.cli import main
try:
    code = main(sys.argv[2:])
finally:
    with open(sys.argv[1], "w") as fh:
        fh.write("\\n".join(sorted(sys.modules)))
sys.exit(code)
"""


def modules_after(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Run the gitsync command ARGS in a fresh interpreter; its loaded modules at exit."""
    listing = tmp_path / "modules.txt"
    r = subprocess.run([sys.executable, "-c", WRAPPER, str(listing), *args], cwd=tmp_path,
                       capture_output=True, text=True, timeout=60)
    return r, set(listing.read_text().split())


def loaded(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if m in names or m.startswith(tuple(n + "." for n in names)))


def test_importing_the_cli_loads_no_daemon_and_no_docx() -> None:
    code = ("import sys, gitsync.cli\n"
            "print('\\n'.join(sorted(sys.modules)))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    modules = set(r.stdout.split())
    assert "gitsync.cli" in modules
    assert loaded(modules, DAEMON + DOCX) == []


TEXT3 = {"b.txt": "a\nb\nc\n", "o.txt": "a\nb\nc\nd\n", "t.txt": "z\na\nb\nc\n"}


@pytest.mark.parametrize(("args", "out"), [
    (["merge-file", "b.txt", "o.txt", "t.txt", "-o", "out.txt"], "out.txt"),
    (["merge-driver", "b.txt", "o.txt", "t.txt", "notes.txt"], "o.txt"),
], ids=["merge-file", "merge-driver"])
def test_text_merge_loads_no_daemon_and_no_docx(tmp_path: Path, args: list[str],
                                                out: str) -> None:
    for name, text in TEXT3.items():
        (tmp_path / name).write_text(text)
    r, modules = modules_after(tmp_path, *args)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / out).read_text() == "z\na\nb\nc\nd\n"
    assert "gitsync.merge.text" in modules
    assert loaded(modules, DAEMON + DOCX) == []


def test_merge_file_on_docx_loads_the_docx_merger_only(tmp_path: Path) -> None:
    (tmp_path / "b.docx").write_bytes(docx_bytes(["One.", "Two.", "Three."]))
    (tmp_path / "o.docx").write_bytes(docx_bytes(["One, edited here.", "Two.", "Three."]))
    (tmp_path / "t.docx").write_bytes(docx_bytes(["One.", "Two.", "Three, edited there."]))
    r, modules = modules_after(tmp_path, "merge-file", "b.docx", "o.docx", "t.docx",
                               "-o", "out.docx")
    assert r.returncode == 0, r.stderr
    assert "gitsync.merge.docx" in modules
    assert loaded(modules, DAEMON) == []
    text = run("docx-text", "out.docx", cwd=tmp_path).stdout
    assert text == "One, edited here.\nTwo.\nThree, edited there.\n"


def test_docx_text_loads_no_daemon(tmp_path: Path) -> None:
    (tmp_path / "d.docx").write_bytes(docx_bytes(["Hello."]))
    r, modules = modules_after(tmp_path, "docx-text", "d.docx")
    assert r.returncode == 0 and r.stdout == "Hello.\n", r.stderr
    assert loaded(modules, DAEMON) == []


@pytest.mark.parametrize("args", [["--help"], ["help", "run"], ["merge-file", "--help"],
                                  ["merge-driver", "--help"], ["status", "--help"]])
def test_help_loads_no_daemon_and_no_docx(tmp_path: Path, args: list[str]) -> None:
    r, modules = modules_after(tmp_path, *args)
    assert r.returncode == 0, r.stderr
    assert loaded(modules, DAEMON + DOCX) == []


def test_docx_merger_is_imported_only_for_what_may_be_a_docx() -> None:
    loads: list[str] = []

    def load() -> Merger:
        loads.append("docx")
        return DocxMerger()

    deferred = Deferred("docx", load, suffixes=DOCX_SUFFIXES, magic=ZIP_MAGIC)
    reg = MergerRegistry([deferred, TextMerger(), BinaryMerger()])
    assert reg.for_path("notes.txt", b"a\n", b"b\n", b"c\n").name == "text"
    assert reg.for_path("img.png", b"\x00", b"\x01", b"\x02").name == "binary"
    assert loads == [] and not deferred.loaded
    # A zip must be looked at by the real merger, which says it is no Word document.
    zip_ = b"PK\x03\x04\x00 a zip, no document"
    assert reg.for_path("a.zip", None, zip_, zip_ + b"!").name == "binary"
    assert loads == ["docx"] and deferred.loaded
    doc = docx_bytes(["x"])
    assert reg.for_path("no-suffix", doc, doc, doc).name == "docx"
    assert reg.for_path("Report.DOCX", None, b"", b"").name == "docx"
    assert loads == ["docx"]
    assert [m.name for m in default_registry().mergers] == ["docx", "text", "binary"]


def test_deferred_docx_filter_knows_every_suffix_the_docx_merger_accepts() -> None:
    # The cheap filter in the registry must let through everything DocxMerger takes by name.
    from gitsync.merge.docx.api import DOCX_SUFFIXES as DOCX_MERGER_SUFFIXES

    assert set(DOCX_MERGER_SUFFIXES) <= set(DOCX_SUFFIXES)


def test_status_loads_no_watcher_worker_or_docx(tmp_path: Path) -> None:
    """status reads the repository (pygit2) and the daemon's state file, nothing more."""
    folder = tmp_path / "Docs"
    folder.mkdir()
    (folder / "a.docx").write_bytes(docx_bytes(["Hello."]))
    assert run("init", str(folder), cwd=tmp_path).returncode == 0
    r, modules = modules_after(tmp_path, "status", str(folder), "--json")
    assert r.returncode == 3, r.stderr  # the health verdict: no daemon runs here
    assert "gitsync.service" in modules
    assert loaded(modules, ("watchdog", "gitsync.worker", "gitsync.daemon",
                            "gitsync.watcher", *DOCX)) == []
