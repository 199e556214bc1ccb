"""The layering rules bite: a planted violation makes `lint-imports` fail.

Each case copies the package to a temp dir, plants one import that the rules of
../shared/STYLE.md forbid, and runs the real import-linter on the copy.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT

LINT = Path(sys.executable).parent / "lint-imports"


def _lint(tree: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(LINT), "--no-cache"], cwd=tree, capture_output=True, text=True,
                          timeout=120)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "gitsync", tmp_path / "gitsync",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_tree_as_it_is_keeps_every_contract(tree: Path) -> None:
    r = _lint(tree)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize(("module", "line", "contract"), [
    ("worktree.py", "import pygit2", "only gitsync.repo imports pygit2"),
    ("sync.py", "import watchdog.observers", "only gitsync.watcher imports watchdog"),
    ("merge/text.py", "import gitsync.repo", "merge engine is pure"),
    ("repo/__init__.py", "import gitsync.worker", "layers"),
    ("config.py", "import gitsync.service", "layers"),
    ("daemon.py", "import fastapi", "only gitsync.server imports the web framework"),
    ("service.py", "import uvicorn", "only gitsync.server imports the web framework"),
])
def test_a_planted_violation_fails(tree: Path, module: str, line: str, contract: str) -> None:
    target = tree / "gitsync" / module
    target.write_text(target.read_text() + f"\n{line}  # planted\n")
    r = _lint(tree)
    assert r.returncode != 0, r.stdout
    assert f"{contract} BROKEN" in r.stdout, r.stdout


def test_a_new_module_must_be_placed_in_a_layer(tree: Path) -> None:
    (tree / "gitsync" / "newthing.py").write_text("X = 1\n")
    r = _lint(tree)
    assert r.returncode != 0
    assert "newthing" in r.stdout + r.stderr
