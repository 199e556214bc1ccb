"""LibreOffice as an independent judge of the Word documents gitsync writes.

A document passing our own checks and python-docx can still be one that an office suite
refuses, so tests convert their outputs to text with ``soffice --headless --convert-to``.
Each test converts what it produced itself: no test relies on another one having run first,
and a failure names the test that made the document. Every call gets a private profile
(``-env:UserInstallation``), so calls from parallel test runs never share state, and a
timeout, after which soffice's whole process group is killed.

soffice takes a second or so to start, so the documents of one test are converted together:
queue them on a :class:`LibreOffice` batch (the ``lo`` fixture in tests/conftest.py is one
per test) or pass a single one to :func:`assert_opens_in_libreoffice`.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

TIMEOUT = 120.0  # seconds for one soffice call
#: The current test's merge outputs (see the ``outputs_open_in_libreoffice`` fixture).
MERGE_OUTPUTS: list[bytes] = []
CHUNK = 50  # documents per call: longer batches make soffice refuse files now and then


class LibreOffice:
    """Documents of one test, converted to text together; each must convert, and its text
    must hold the strings expected of it."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self._docs: dict[str, tuple[str, bytes, list[str]]] = {}  # by content hash
        self._done: set[str] = set()

    def add(self, name: str, doc: bytes | Path, *expected: str) -> None:
        """Queue DOC (bytes, or a file to read); an identical document queued before is
        converted once, with both sets of expected strings."""
        data = doc.read_bytes() if isinstance(doc, Path) else doc
        key = hashlib.sha256(data).hexdigest()
        if key in self._docs:
            self._docs[key][2].extend(expected)
            self._done.discard(key)
            return
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in name)[:60]
        self._docs[key] = (f"{len(self._docs):03d}-{safe}", data, list(expected))

    @property
    def pending(self) -> bool:
        return any(key not in self._done for key in self._docs)

    def check(self, timeout: float = TIMEOUT) -> dict[str, str]:
        """Convert the documents queued since the last check; returns their text by name."""
        todo = {self._docs[k][0]: self._docs[k] for k in self._docs if k not in self._done}
        if not todo:
            return {}
        src, out = self.workdir / "in", self.workdir / "out"
        src.mkdir(parents=True, exist_ok=True)
        out.mkdir(parents=True, exist_ok=True)
        files = {}
        for name, data, _ in todo.values():
            files[name] = src / f"{name}.docx"
            files[name].write_bytes(data)
        names = list(files)
        for i in range(0, len(names), CHUNK):
            soffice_to_text([files[n] for n in names[i:i + CHUNK]], out, timeout)
        missing = [n for n in names if not (out / f"{n}.txt").exists()]
        said = ""
        if missing:  # a long batch sometimes skips a file: one more try before it counts
            said = soffice_to_text([files[n] for n in missing], out, timeout)
        texts = {}
        for name in names:
            txt = out / f"{name}.txt"
            assert txt.exists(), f"LibreOffice could not open {files[name]}: {said}"
            texts[name] = txt.read_text(encoding="utf-8-sig")
        lacking = {n: [e for e in todo[n][2] if e not in texts[n]] for n in names}
        lacking = {n: m for n, m in lacking.items() if m}
        assert not lacking, f"LibreOffice's text lacks expected content: {lacking}"
        self._done.update(self._docs)
        return texts


def assert_opens_in_libreoffice(doc: bytes | Path, *expected: str,
                                timeout: float = TIMEOUT) -> str:
    """LibreOffice opens DOC (a .docx as bytes or a file) and its text holds EXPECTED;
    returns that text."""
    workdir = Path(tempfile.mkdtemp(prefix="lo-"))  # kept if the check fails, to look at
    batch = LibreOffice(workdir)
    batch.add(doc.stem if isinstance(doc, Path) else "document", doc, *expected)
    [text] = batch.check(timeout).values()
    shutil.rmtree(workdir)
    return text


_template: list[Path] = []  # a profile soffice has already set up, copied for each call


def _private_profile() -> Path:
    """A profile directory for one call: a copy of the first call's, once there is one.

    In a new, empty profile soffice sets it up, then restarts itself, which costs a quarter
    of a call; a copy of a set-up profile is just as private and skips that.
    """
    profile = Path(tempfile.mkdtemp(prefix="lo-profile-"))
    if _template:
        shutil.copytree(_template[0], profile, dirs_exist_ok=True)
    return profile


def _keep_as_template(profile: Path) -> None:
    if _template or not (profile / "user").is_dir():
        return
    template = Path(tempfile.mkdtemp(prefix="lo-template-"))
    shutil.copytree(profile, template, dirs_exist_ok=True)
    _template.append(template)
    atexit.register(shutil.rmtree, template, ignore_errors=True)


def soffice_to_text(files: list[Path], outdir: Path, timeout: float = TIMEOUT) -> str:
    """One ``soffice --convert-to txt`` call over FILES into OUTDIR, with its own profile;
    returns what soffice said."""
    profile = _private_profile()
    proc = subprocess.Popen(
        [shutil.which("soffice") or "soffice", "--headless", "--norestore",
         f"-env:UserInstallation={profile.as_uri()}",
         "--convert-to", "txt:Text", "--outdir", str(outdir), *map(str, files)],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        env={**os.environ, "SAL_USE_VCLPLUGIN": "svp"},
        start_new_session=True,  # its own process group, so a hang is killed whole
    )
    try:
        output, _ = proc.communicate(timeout=timeout)
        assert proc.returncode == 0, f"soffice failed: {output.decode(errors='replace')}"
        _keep_as_template(profile)
        return output.decode(errors="replace")
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise AssertionError(f"soffice did not finish within {timeout} s") from None
    finally:
        with contextlib.suppress(ProcessLookupError):  # a helper it left behind
            os.killpg(proc.pid, signal.SIGKILL)
        shutil.rmtree(profile, ignore_errors=True)
