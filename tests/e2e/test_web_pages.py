"""The web pages in a real browser (Chromium through Playwright) against a real `gitsync run`.

Each test builds real devices (two homes and a hub), starts the daemons as processes, logs in
through the link `gitsync web --no-open` prints, and drives the pages as a user would. A page
that raises a dialog or logs a console error fails the test: file names, contents and
commit messages come from other devices and must never run as script. Every page visited is
saved as a screenshot (GITSYNC_SCREENSHOTS, else the test's tmp dir).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import sync_playwright

from tests import docx_builders
from tests.helpers import (
    daemon,
    git,
    gitsync_exe,
    run_cli,
    run_proc,
    two_devices,
    wait_for,
)

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
HOSTILE = "<img src=x onerror=alert(1)>.txt"
TIMEOUT_MS = 20_000

pytestmark = pytest.mark.slow


# ----------------------------------------------------------------- processes and browser
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class WebDaemon:
    """`gitsync run --port PORT` (web pages on) for the test's home, stopped at the end."""

    def __init__(self, log: Path, port: int) -> None:
        self.log, self.port = log, port
        self.fh = open(log, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen([*gitsync_exe(), "run", "--port", str(port),
                                      "--debounce", "0.3"],
                                     stdout=self.fh, stderr=subprocess.STDOUT)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def answers(self) -> bool:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{self.port}/login", timeout=2)
        except urllib.error.HTTPError:
            return True  # refused without a token: the server is up
        except OSError:
            return False
        return True

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.fh.close()


@contextlib.contextmanager
def web_daemon(tmp_path: Path) -> Iterator[WebDaemon]:
    d = WebDaemon(tmp_path / "daemon-web.log", free_port())
    try:
        assert wait_for(lambda: d.answers() or d.proc.poll() is not None, 30), d.output()
        assert d.proc.poll() is None, f"daemon exited:\n{d.output()}"
        yield d
    finally:
        d.stop()


@pytest.fixture
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: install the chromium package")
        pytest.skip(f"{CHROMIUM} is missing")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            yield b
        finally:
            b.close()


class Visit:
    """One browser tab that records dialogs, console errors and uncaught page errors, and
    saves a screenshot of each page it is asked to."""

    def __init__(self, browser: Any, shots: Path, prefix: str) -> None:
        self.context = browser.new_context(viewport={"width": 1280, "height": 900},
                                           accept_downloads=True)
        self.page = self.context.new_page()
        self.page.set_default_timeout(TIMEOUT_MS)
        self.problems: list[str] = []
        self.page.on("dialog", self._dialog)
        self.page.on("console", lambda m: self.problems.append(f"console {m.type}: {m.text}")
                     if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        self.shots, self.prefix = shots, prefix

    def _dialog(self, dialog: Any) -> None:
        self.problems.append(f"dialog: {dialog.message}")
        dialog.dismiss()

    def unlabelled(self) -> list[str]:
        """Controls without an accessible name (every control must be labelled)."""
        return list(self.page.evaluate("""() => [...document.querySelectorAll(
            'input:not([type=hidden]), textarea, select, button, a[href]')].filter((el) => {
              if (el.closest('[hidden]')) return false;
              const named = el.getAttribute('aria-label') || el.getAttribute('aria-labelledby');
              if (named) return false;
              if (el.labels && el.labels.length) return false;
              return !(el.textContent || '').trim();
            }).map((el) => el.outerHTML.slice(0, 120))"""))

    def shot(self, name: str) -> Path:
        assert self.unlabelled() == [], name
        self.shots.mkdir(parents=True, exist_ok=True)
        path = self.shots / f"{self.prefix}-{name}.png"
        self.page.evaluate("window.scrollTo(0, 0)")
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def visit(browser: Any, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Visit]:
    shots = Path(os.environ.get("GITSYNC_SCREENSHOTS") or tmp_path / "screenshots")
    name = request.node.name.removeprefix("test_")
    v = Visit(browser, shots, name)
    try:
        yield v
    finally:
        v.close()
    assert v.problems == [], v.problems


def log_in(v: Visit) -> str:
    """Open the link `gitsync web --no-open` prints; returns the server's base URL."""
    r = run_proc("web", "--no-open")
    assert r.returncode == 0, r.stderr
    url = r.stdout.splitlines()[0].strip()
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/login\?token=\S+", url), r.stdout
    base = url.split("/login")[0]
    v.page.goto(url)
    assert v.page.url == base + "/"  # logged in and sent on to the dashboard
    v.page.get_by_role("heading", name="Your folders").wait_for()
    return base


def folder_href(v: Visit, name: str) -> str:
    link = v.page.locator(".card h3 a", has_text=name)
    return str(link.get_attribute("href"))


def expect(pred: Any, what: str, timeout: float = 20) -> None:
    assert wait_for(pred, timeout), what


# ----------------------------------------------------------------- the tests
def test_live_feed_history_diff_and_restore(tmp_path: Path, visit: Visit) -> None:
    a, b, _hub, home_b = two_devices(tmp_path, {"notes.txt": "alpha\nbeta\ngamma\n",
                                                HOSTILE: "hostile name, plain text\n"})
    with web_daemon(tmp_path) as _web, \
            daemon("--debounce", "0.3", log=tmp_path / "daemon-b.log", home=home_b):
        base = log_in(visit)
        page = visit.page
        folder_url = base + folder_href(visit, "A")
        visit.shot("dashboard")
        page.locator("#live.on").wait_for()

        # pause and resume from the card; the card follows the daemon's state
        card = page.locator(".card", has_text="A")
        card.get_by_role("button", name="Pause A").click()
        card.locator('[data-field="state"]', has_text="paused").wait_for()
        card.get_by_role("button", name="Resume A").click()
        card.locator('[data-field="state"]', has_text="watching").wait_for()
        card.get_by_role("button", name="Sync A now").click()
        page.locator("#toast", has_text="A: synced").wait_for()

        # a save on this device shows in the live feed
        (a / "notes.txt").write_text("alpha\nbeta changed here\ngamma\n")
        page.locator("#feed li", has_text="laptop edited notes.txt").first.wait_for()
        # and one from the other device too, once it arrives
        expect(lambda: (b / "notes.txt").read_text() == "alpha\nbeta changed here\ngamma\n",
               "the first save reached the desktop")
        (b / "notes.txt").write_text("alpha\nbeta changed here\ngamma\ndelta from desktop\n")
        page.locator("#feed li", has_text="desktop").first.wait_for()
        expect(lambda: "delta" in (a / "notes.txt").read_text(), "desktop's save arrived")
        visit.shot("dashboard-live")

        # the folder, then the file's history
        page.goto(folder_url)
        row = page.locator("table.files a.file", has_text="notes.txt")
        row.click()
        page.get_by_role("heading", name="notes.txt").wait_for()
        versions = page.locator("table.timeline tbody tr:not(.disk)")
        expect(lambda: versions.count() >= 3, "three versions listed")
        assert "desktop" in versions.nth(0).inner_text()
        assert page.locator("ol.code li").nth(3).inner_text() == "delta from desktop"
        visit.shot("file-history")

        # compare the first version with the latest
        n = versions.count()
        versions.nth(n - 1).locator('input[name="from"]').check()
        versions.nth(0).locator('input[name="to"]').check()
        page.get_by_role("button", name="Compare the two picked versions").click()
        page.get_by_role("heading", name="Compare notes.txt").wait_for()
        # word level: in the changed line only the new words are marked
        assert page.locator("td.t.ins ins").all_inner_texts() == [" changed here"]
        assert "delta from desktop" in page.locator("td.t.ins").all_inner_texts()
        visit.shot("diff-side")
        page.get_by_role("link", name="Inline").click()
        page.locator("table.diff.inline").wait_for()
        assert page.locator("table.diff.inline tr.ins").count() >= 2
        visit.shot("diff-inline")

        # restore the first version, see it on disk, then undo
        page.get_by_role("link", name="Back to the history of notes.txt").click()
        versions = page.locator("table.timeline tbody tr:not(.disk)")
        first = versions.nth(versions.count() - 1)
        first.locator("button.restore").click()
        page.locator("#restored").wait_for()
        expect(lambda: (a / "notes.txt").read_text() == "alpha\nbeta\ngamma\n",
               "the restored version is on disk")
        expect(lambda: (b / "notes.txt").read_text() == "alpha\nbeta\ngamma\n",
               "the restore reached the other device")
        visit.shot("file-restored")
        restored_url = page.url
        with page.expect_navigation():
            page.locator("#restored button", has_text="Undo").click()
        assert page.url != restored_url
        page.locator("#restored").wait_for()
        expect(lambda: "delta from desktop" in (a / "notes.txt").read_text(),
               "undo brought the latest version back")

        # the hostile name is text everywhere it shows
        page.goto(folder_url)
        hostile = page.locator("table.files a.file", has_text=HOSTILE)
        assert hostile.inner_text() == HOSTILE
        assert page.locator("img").count() == 0
        visit.shot("folder-hostile")
        hostile.click()
        page.get_by_role("heading", name=HOSTILE).wait_for()
        assert page.locator("img").count() == 0
        visit.shot("file-hostile")

        page.set_viewport_size({"width": 390, "height": 844})
        page.goto(base + "/")
        page.locator("#live.on").wait_for()
        visit.shot("dashboard-phone")


def test_time_travel_and_recently_deleted(tmp_path: Path, visit: Visit) -> None:
    a, _b, _hub, _home_b = two_devices(tmp_path, {"keep.txt": "kept\n", "gone.txt": "soon gone\n"})
    (a / "docs").mkdir()
    (a / "docs" / "plan.txt").write_text("the plan\n")
    (a / "docs" / "notes.txt").write_text("docs notes\n")
    assert run_cli("sync", str(a))[0] == 0
    with web_daemon(tmp_path):
        base = log_in(visit)
        page = visit.page
        (a / "gone.txt").unlink()
        (a / "docs" / "plan.txt").unlink()
        (a / "docs" / "notes.txt").unlink()
        page.locator("#feed li", has_text="deleted").first.wait_for()
        expect(lambda: git(a, "ls-files").split() == ["keep.txt"], "the deletes are committed")

        # travel back: the version before the deletes shows them, marked
        page.goto(base + folder_href(visit, "A"))
        assert page.locator("table.files a.file", has_text="gone.txt").count() == 0
        page.locator("ol.commits li a", has_text="added plan.txt").click()
        page.locator(".banner", has_text="You are looking at the folder as it was").wait_for()
        gone = page.locator("table.files tr.gone", has_text="gone.txt")
        assert gone.locator(".badge").inner_text() == "deleted since"
        visit.shot("folder-past")

        # restore one file from there
        gone.locator("button.restore").click()
        page.locator("#restore-result", has_text="Restored gone.txt").wait_for()
        expect(lambda: (a / "gone.txt").exists() and
               (a / "gone.txt").read_text() == "soon gone\n", "gone.txt is back on disk")

        # a whole subfolder as it was
        page.locator("table.files a.dir", has_text="docs").click()
        page.locator(".crumbs a[aria-current]", has_text="docs").wait_for()
        page.locator(".banner button.restore").click()
        page.locator("#restore-result", has_text="Restored docs").wait_for()
        expect(lambda: (a / "docs" / "plan.txt").exists() and
               (a / "docs" / "notes.txt").read_text() == "docs notes\n", "docs/ is back")
        visit.shot("folder-past-subfolder")

        # recently deleted: one click brings a file back
        (a / "keep.txt").unlink()
        expect(lambda: "keep.txt" not in git(a, "ls-files").split(), "the delete is committed")
        page.goto(base + folder_href_from(page, base, "A") + "/deleted")
        item = page.locator("table.files tr", has_text="keep.txt")
        visit.shot("deleted")
        item.locator("button.restore").click()
        page.locator("#restore-result", has_text="Restored keep.txt").wait_for()
        expect(lambda: (a / "keep.txt").exists(), "keep.txt is back")


def folder_href_from(page: Any, base: str, name: str) -> str:
    page.goto(base + "/")
    return str(page.locator(".card h3 a", has_text=name).get_attribute("href"))


def test_conflicts_text_by_hunk_and_docx(tmp_path: Path, visit: Visit) -> None:
    text = "".join(f"line {i}\n" for i in range(1, 21))
    doc = docx_builders.paras("Title of the report", "The budget is ten.", "Closing words.")
    a, b, _hub, home_b = two_devices(tmp_path, {"notes.txt": text})
    (a / "report.docx").write_bytes(doc)
    (a / "todo.txt").write_text("milk\neggs\n")
    plan = docx_builders.paras("Plan", "Meet on Monday.")
    (a / "plan.docx").write_bytes(plan)
    assert run_cli("sync", str(a))[0] == 0
    assert run_cli("sync", str(b), home=home_b)[0] == 0
    # both devices edit the same lines (two separate hunks) and the same paragraph
    (a / "notes.txt").write_text(text.replace("line 3\n", "line 3 laptop\n")
                                 .replace("line 15\n", "line 15 laptop\n"))
    (b / "notes.txt").write_text(text.replace("line 3\n", "line 3 desktop\n")
                                 .replace("line 15\n", "line 15 desktop\n"))
    (a / "report.docx").write_bytes(docx_builders.edit(
        doc, docx_builders.set_para(1, "The budget is twelve, says the laptop.")))
    (b / "report.docx").write_bytes(docx_builders.edit(
        doc, docx_builders.set_para(1, "The budget is fifteen, says the desktop.")))
    (a / "todo.txt").write_text("milk\neggs laptop\n")
    (b / "todo.txt").write_text("milk\neggs desktop\n")
    (a / "plan.docx").write_bytes(docx_builders.edit(
        plan, docx_builders.set_para(1, "Meet on Tuesday.")))
    (b / "plan.docx").write_bytes(docx_builders.edit(
        plan, docx_builders.set_para(1, "Meet on Friday.")))
    assert run_cli("sync", str(b), home=home_b)[0] == 0
    assert run_cli("sync", str(a))[0] == 1  # the laptop merges second: conflicts
    assert run_cli("sync", str(b), home=home_b)[0] == 1

    with web_daemon(tmp_path), daemon("--debounce", "0.3", log=tmp_path / "daemon-b.log",
                                      home=home_b):
        base = log_in(visit)
        page = visit.page
        page.get_by_role("link", name="Conflicts", exact=True).first.click()
        page.get_by_role("heading", name="Conflicts", exact=True).wait_for()
        assert page.locator("ul.conflicts li").count() == 4
        visit.shot("conflicts")

        # the text file, hunk by hunk
        page.locator("ul.conflicts a", has_text="notes.txt").click()
        page.get_by_role("heading", name="Conflict in notes.txt").wait_for()
        hunks = page.locator("fieldset.hunk[data-index]")
        assert hunks.count() == 2
        assert page.locator(".counter").inner_text() == "0 of 2 decided"
        save = page.get_by_role("button", name="Save resolution")
        assert save.is_disabled()
        hunks.nth(0).get_by_label("Mine").check()
        assert page.locator(".counter").inner_text() == "1 of 2 decided"
        hunks.nth(1).get_by_label("Theirs").check()
        assert page.locator(".counter").inner_text() == "2 of 2 decided"
        assert hunks.nth(1).locator("textarea").input_value() == "line 15 desktop\n"
        page.get_by_role("button", name="Preview result").click()
        preview = page.locator("#preview-text").inner_text()
        assert "line 3 laptop" in preview and "line 15 desktop" in preview
        visit.shot("conflict-text")
        save.click()
        page.locator("#save-result", has_text="Saved as version").wait_for()
        want = text.replace("line 3\n", "line 3 laptop\n").replace("line 15\n",
                                                                    "line 15 desktop\n")
        expect(lambda: (a / "notes.txt").read_text() == want, "the laptop has the result")
        expect(lambda: (b / "notes.txt").read_text() == want, "the desktop has it too", 30)
        page.set_viewport_size({"width": 390, "height": 844})
        visit.shot("conflict-text-saved-phone")
        page.set_viewport_size({"width": 1280, "height": 900})

        # a result written by hand
        page.goto(base + "/conflicts")
        page.locator("ul.conflicts a", has_text="todo.txt").click()
        hunk = page.locator("fieldset.hunk[data-index]").first
        assert page.locator(".counter").inner_text() == "0 of 1 decided"
        # by keyboard alone: choose "Both", move on to the result, type, save
        hunk.get_by_label("Both").focus()
        page.keyboard.press("Space")
        assert hunk.locator("textarea").input_value() == "eggs laptop\neggs desktop\n"
        page.keyboard.press("Tab")
        page.keyboard.press("Control+A")
        page.keyboard.type("eggs, a dozen\n")
        assert hunk.locator("textarea").input_value() == "eggs, a dozen\n"
        assert page.locator(".counter").inner_text() == "1 of 1 decided"
        page.keyboard.press("Tab")  # Preview result
        page.keyboard.press("Enter")
        assert page.locator("#preview-text").inner_text() == "milk\neggs, a dozen\n"
        page.keyboard.press("Tab")  # Save resolution
        page.keyboard.press("Enter")
        page.locator("#save-result", has_text="Saved as version").wait_for()
        for d in (a, b):
            expect(lambda d=d: (d / "todo.txt").read_text() == "milk\neggs, a dozen\n",
                   f"{d.name} has the hand-written result", 30)

        # the Word document: take theirs
        page.goto(base + "/conflicts")
        page.locator("ul.conflicts a", has_text="report.docx").click()
        page.get_by_role("heading", name="Conflict in report.docx").wait_for()
        link = page.get_by_role("link",
                                name="Download the merged document with tracked changes")
        with page.expect_download() as dl:
            link.click()
        merged = Path(dl.value.path()).read_bytes()
        assert docx_builders.revisions(merged), "the merged document holds tracked changes"
        hunk = page.locator("fieldset.hunk[data-index]").first
        assert "fifteen" in hunk.locator('pre[data-side="theirs"]').inner_text()
        hunk.get_by_label("Theirs").check()
        visit.shot("conflict-docx")
        page.get_by_role("button", name="Save resolution").click()
        page.locator("#save-result", has_text="Saved as version").wait_for()

        def converged() -> bool:
            ta = docx_builders.texts((a / "report.docx").read_bytes())
            tb = docx_builders.texts((b / "report.docx").read_bytes())
            return ta == tb and "The budget is fifteen, says the desktop." in ta
        expect(converged, "both devices hold the desktop's paragraph", 30)

        # a Word document finished in Word (here: Accept All) and uploaded
        page.goto(base + "/conflicts")
        page.locator("ul.conflicts a", has_text="plan.docx").click()
        with page.expect_download() as dl:
            page.get_by_role("link",
                             name="Download the merged document with tracked changes").click()
        finished = tmp_path / "plan-finished.docx"
        finished.write_bytes(docx_builders.accept_all(Path(dl.value.path()).read_bytes()))
        page.get_by_label("Then upload the finished document").set_input_files(str(finished))
        page.get_by_role("button", name="Save the uploaded document").click()
        page.locator("#save-result", has_text="Saved as version").wait_for()
        for d in (a, b):
            expect(lambda d=d: "Meet on Friday." in docx_builders.texts(
                (d / "plan.docx").read_bytes()) and "Meet on Tuesday." not in
                docx_builders.texts((d / "plan.docx").read_bytes()),
                f"{d.name} has the finished document", 30)
        page.goto(base + "/conflicts")
        expect(lambda: page.reload() is not None and
               page.locator("ul.conflicts li").count() == 0, "no conflict is left", 30)
        visit.shot("conflicts-none")


def word_report(budget: str) -> bytes:
    """A document with what the preview renders: a heading, bold and italic runs, a bulleted
    list and a table."""
    import docx

    d = docx.Document()
    d.add_heading("Quarterly report", level=1)
    p = d.add_paragraph("The budget is ")
    p.add_run(budget).bold = True
    p.add_run(" for now.").italic = True
    d.add_paragraph("first point", style="List Bullet")
    d.add_paragraph("second point", style="List Bullet")
    t = d.add_table(rows=2, cols=2)
    for i, row in enumerate([["Item", "Cost"], ["Paper", "12"]]):
        for j, text in enumerate(row):
            t.cell(i, j).text = text
    return docx_builders.save(d)


def test_word_document_history_preview_and_diff(tmp_path: Path, visit: Visit) -> None:
    a, _b, _hub, _home_b = two_devices(tmp_path, {"keep.txt": "x\n"})
    (a / "report.docx").write_bytes(word_report("ten thousand"))
    assert run_cli("sync", str(a))[0] == 0
    with web_daemon(tmp_path):
        base = log_in(visit)
        page = visit.page
        (a / "report.docx").write_bytes(word_report("twelve thousand"))
        page.locator("#feed li", has_text="laptop edited report.docx").first.wait_for()
        page.goto(base + folder_href(visit, "A"))
        page.locator("table.files a.file", has_text="report.docx").click()
        doc = page.locator(".doc")
        assert doc.locator("h2").inner_text() == "Quarterly report"
        assert doc.locator("strong").inner_text() == "twelve thousand"
        assert doc.locator("em").inner_text() == " for now."
        assert doc.locator("ul li").all_inner_texts() == ["first point", "second point"]
        assert doc.locator("table td").all_inner_texts() == ["Item", "Cost", "Paper", "12"]
        visit.shot("word-history")
        versions = page.locator("table.timeline tbody tr:not(.disk)")
        versions.nth(1).locator('input[name="from"]').check()
        versions.nth(0).locator('input[name="to"]').check()
        page.get_by_role("button", name="Compare the two picked versions").click()
        change = page.locator("ol.dchanges li").first
        assert "paragraph changed" in change.locator(".kind").inner_text()
        assert "ten" in change.locator(".left del").inner_text()
        assert "twelve" in change.locator(".right ins").inner_text()
        visit.shot("word-diff")
        page.get_by_role("link", name="Inline").click()
        page.locator("ol.dchanges.view-inline").wait_for()
        visit.shot("word-diff-inline")
