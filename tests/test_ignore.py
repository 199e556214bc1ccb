import pytest

from gitsync.ignore import BUILTIN_IGNORES, IgnoreRules


@pytest.mark.parametrize("path", [
    "~$report.docx", "docs/~$Budget.xlsx", "~WRL0003.tmp", ".~lock.notes.odt#", ".notes.txt.swp",
    "4913", "sub/4913", "#draft.txt#", ".#draft.txt", "notes.txt~", ".DS_Store", "a/Thumbs.db",
    "movie.mkv.crdownload", "file.zip.part", ".git/config", "sub/.git/HEAD",
    ".gitsync-tmp-123-notes.txt",
])
def test_builtin_ignores(path: str) -> None:
    assert IgnoreRules().matches(path)


@pytest.mark.parametrize("path", [
    "report.docx", "notes.txt", "4913.txt", "draft#.txt", "a/b/c.md", ".gitignore", "lock.odt",
])
def test_normal_files_are_not_ignored(path: str) -> None:
    assert not IgnoreRules().matches(path)


def test_extra_patterns_by_name_and_by_path() -> None:
    rules = IgnoreRules(["*.bak", "build/*"])
    assert rules.matches("x/y.bak")
    assert rules.matches("build/out.o")
    assert not rules.matches("src/build.txt")


def test_every_builtin_pattern_is_documented_in_readme() -> None:
    from tests.helpers import ROOT

    readme = (ROOT / "README.md").read_text()
    for pattern, _why in BUILTIN_IGNORES:
        assert f"`{pattern}`" in readme, pattern
