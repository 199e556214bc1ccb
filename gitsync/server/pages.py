"""The web pages: server-rendered views over the service, one route per page.

Each route reads what its page shows from ``request.app.state.ctx.service`` and renders a
Jinja2 template with autoescape on: names, paths, contents and messages come from other
devices and are hostile, so they only ever reach the page as escaped text. Actions and live
updates are the job of the static JS modules, which talk to ``/api/*`` only.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import re
import time
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlencode

import jinja2
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from gitsync.config import folder_key
from gitsync.errors import GitsyncError
from gitsync.folderstate import read_state
from gitsync.history import decode_cursor, encode_cursor
from gitsync.model import CommitInfo
from gitsync.server import failures
from gitsync.server.session import csrf_value

router = APIRouter(include_in_schema=False)

PREVIEW_LINES = 5000  # a longer text is cut in the preview (download shows it all)
HISTORY_LIMIT = 100
FEED_ITEMS = 20


# ----------------------------------------------------------------- formatting helpers
def reltime(ts: float | None, now: float | None = None) -> str:
    """'12 s ago', as the JS clock renders it too (the page is right before the JS runs)."""
    if ts is None:
        return "never"
    d = max(0, int((now if now is not None else time.time()) - ts))
    if d < 60:
        return f"{d} s ago"
    if d < 3600:
        return f"{d // 60} min ago"
    if d < 86400:
        return f"{d // 3600} h ago"
    return f"{d // 86400} d ago"


def abstime(ts: float | None) -> str:
    if ts is None:
        return ""
    return datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


def isotime(ts: float | None) -> str:
    if ts is None:
        return ""
    return datetime.fromtimestamp(ts).astimezone().isoformat(timespec="seconds")


def short(commit_id: str | None) -> str:
    return (commit_id or "")[:8]


def human_size(n: int | None) -> str:
    if n is None:
        return ""
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def feed_line(summary: str, device: str | None) -> str:
    """'laptop: edited report.docx' reads as 'laptop edited report.docx'."""
    if device and summary.startswith(f"{device}: "):
        return f"{device} {summary[len(device) + 2:]}"
    return summary


def url(base: str, /, **params: Any) -> str:
    """A page URL with its query; empty parameters are left out."""
    q = {k: v for k, v in params.items() if v not in (None, "")}
    return f"{base}?{urlencode(q)}" if q else base


@functools.lru_cache(maxsize=4)
def _env(templates_dir: str) -> jinja2.Environment:
    # autoescape everywhere: every name, path and text on these pages may be hostile
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(templates_dir), autoescape=True,
                             trim_blocks=True, lstrip_blocks=True)
    env.filters.update(reltime=reltime, abstime=abstime, isotime=isotime, short=short,
                       size=human_size)
    env.globals.update(url=url, feed_line=feed_line)
    return env


def _web_dir(request: Request) -> Path:
    return Path(_ctx(request).web_dir)


def _ctx(request: Request) -> Any:
    return request.app.state.ctx


def _csrf(request: Request) -> str:
    """The token the page's scripts send back in ``X-CSRF-Token``."""
    return csrf_value(_ctx(request).token)


def render(request: Request, template: str, status_code: int = 200, **context: Any
           ) -> HTMLResponse:
    env = _env(str(_web_dir(request) / "templates"))
    html = env.get_template(template).render(csrf_token=_csrf(request), now=time.time(),
                                             page=template.removesuffix(".html"), **context)
    return HTMLResponse(html, status_code=status_code)


def _error_page(request: Request, e: GitsyncError) -> HTMLResponse:
    """The API's status for the error (one place decides), as a page."""
    status, _code, message = failures.describe(e)
    return render(request, "error.html", status_code=status, message=message, status=status)


def _page(fn: Any) -> Any:
    """A page's typed errors become an HTML error page with the status the API uses. Pages
    are plain functions: FastAPI runs them on its thread pool, so the git reads behind a page
    never hold up the event loop (and with it the live event streams)."""

    @functools.wraps(fn)
    def wrapper(request: Request, *args: Any, **kwargs: Any) -> HTMLResponse:
        try:
            result: HTMLResponse = fn(request, *args, **kwargs)
            return result
        except GitsyncError as e:
            return _error_page(request, e)

    return wrapper


def _folder(request: Request, folder_id: str) -> dict[str, Any]:
    fc = _ctx(request).service.folder_by_id(folder_id)
    return {"id": folder_id, "path": str(fc.path), "name": Path(fc.path).name,
            "device": fc.device}


def _rev_param(rev: str | None) -> str | None:
    """A date-time input sends '2026-11-01T14:30'; the service reads '2026-11-01 14:30'."""
    if not rev:
        return None
    rev = rev.strip()
    if re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d)?", rev):
        return rev.replace("T", " ")
    return rev or None


def _crumbs(dir_: str) -> list[tuple[str, str]]:
    """(name, dir) pairs from the folder root down to DIR."""
    parts = [p for p in dir_.split("/") if p]
    return [(p, "/".join(parts[: i + 1])) for i, p in enumerate(parts)]


# ----------------------------------------------------------------- dashboard
def _last_sync(service: Any, folder_id: str) -> float | None:
    """When the folder's worker last finished a round with its remote (its state file; the
    folder summaries do not carry it)."""
    state = read_state(service.paths.folder_state_file(folder_id)) or {}
    value = state.get("last_sync")
    return float(value) if isinstance(value, int | float) else None


@router.get("/", response_class=HTMLResponse)
@_page
def dashboard(request: Request) -> HTMLResponse:
    service = _ctx(request).service
    folders = service.folder_summaries()
    for f in folders:
        f["name"] = Path(f["path"]).name
        f["last_sync"] = _last_sync(service, f["id"])
    feed: list[dict[str, Any]] = []
    for f in folders:
        try:
            # the feed shows each commit's summary line, not its list of changes
            commits, _ = service.history(f["id"], None, limit=FEED_ITEMS, max_changes=0)
        except GitsyncError:
            continue
        feed.extend({"folder": f["name"], "text": feed_line(c.summary, c.device),
                     "time": c.time} for c in commits)
    feed.sort(key=lambda item: item["time"], reverse=True)
    return render(request, "dashboard.html", folders=folders, feed=feed[:FEED_ITEMS])


# ----------------------------------------------------------------- folder browser
@router.get("/folders/{folder_id}", response_class=HTMLResponse)
@_page
def folder_page(request: Request, folder_id: str, rev: str | None = None,
                dir: str = "", cursor: str | None = None) -> HTMLResponse:
    service = _ctx(request).service
    folder = _folder(request, folder_id)
    dir_ = dir.strip("/")
    want = _rev_param(rev)
    commit_id, entries = service.tree(folder_id, want, dir_)
    head_id, head_entries = commit_id, entries
    past = False
    if want is not None:
        try:
            head_id, head_entries = service.tree(folder_id, None, dir_)
        except GitsyncError:  # the directory is gone now: everything in it was deleted
            head_id, head_entries = "", []
            with contextlib.suppress(GitsyncError):
                head_id, _ = service.tree(folder_id, None, "")
        past = head_id != commit_id
    now_paths = {e.path for e in head_entries}
    commits, next_cursor = service.history(folder_id, None, limit=HISTORY_LIMIT,
                                           cursor=cursor or None)
    at = next((c for c in commits if c.id == commit_id), None)
    if at is None and commit_id:
        at = next(iter(service.history(folder_id, None, limit=1,
                                       cursor=encode_cursor(commit_id, None))[0]), None)
    rows = [{"entry": e, "name": PurePosixPath(e.path).name,
             "gone": past and e.path not in now_paths} for e in entries]
    # what the user typed stays in the box; a commit picked from the list shows short
    rev_text = short(rev) if rev and re.fullmatch(r"[0-9a-f]{40}", rev) else rev or ""
    at_local = datetime.fromtimestamp(at.time).strftime("%Y-%m-%dT%H:%M:%S") if at else ""
    return render(request, "folder.html", folder=folder, dir=dir_, crumbs=_crumbs(dir_),
                  rev=commit_id if past else "", commit_id=commit_id, at=at, past=past,
                  rows=rows, commits=commits, next_cursor=next_cursor or "",
                  rev_text=rev_text, at_local=at_local, paged=bool(cursor),
                  cursor=cursor or "")


@router.get("/folders/{folder_id}/deleted", response_class=HTMLResponse)
@_page
def deleted_page(request: Request, folder_id: str, since: str | None = None
                 ) -> HTMLResponse:
    folder = _folder(request, folder_id)
    files = _ctx(request).service.deleted(folder_id, _rev_param(since))
    return render(request, "deleted.html", folder=folder, files=files, since=since or "")


# ----------------------------------------------------------------- file history
def _paths_by_commit(path: str, commits: list[CommitInfo]) -> dict[str, str]:
    """The file's name as each commit left it: history follows renames, so older commits
    knew the file under its old name."""
    names: dict[str, str] = {}
    current = path
    for c in commits:  # newest first
        names[c.id] = current
        for ch in c.changes:
            if ch.path == current and ch.old_path:
                current = ch.old_path
                break
    return names


def _change_of(c: CommitInfo, name: str) -> str:
    for ch in c.changes:
        if ch.path == name:
            if ch.old_path and ch.old_path != ch.path:
                return f"renamed from {ch.old_path}"
            return ch.kind.value
    return "merged"


def _preview_view(preview: dict[str, Any]) -> dict[str, Any]:
    """Docx list paragraphs grouped into lists; long texts cut."""
    if preview.get("kind") == "text":
        lines = preview.get("text", "").splitlines()
        return {"kind": "text", "lines": lines[:PREVIEW_LINES],
                "cut": max(0, len(lines) - PREVIEW_LINES), "truncated": preview.get("truncated")}
    if preview.get("kind") == "docx":
        blocks: list[dict[str, Any]] = []
        for b in preview.get("blocks", []):
            if b.get("type") == "paragraph" and b.get("list"):
                if blocks and blocks[-1]["type"] == "list":
                    blocks[-1]["items"].append(b.get("runs", []))
                else:
                    blocks.append({"type": "list", "items": [b.get("runs", [])]})
            elif b.get("type") == "heading":
                level = min(6, max(2, int(b.get("level") or 1) + 1))
                blocks.append({**b, "tag": f"h{level}"})
            else:
                blocks.append(b)
        return {"kind": "docx", "blocks": blocks, "truncated": preview.get("truncated")}
    return {"kind": "binary", "size": preview.get("size")}


@router.get("/folders/{folder_id}/file", response_class=HTMLResponse)
@_page
def file_page(request: Request, folder_id: str, path: str, rev: str | None = None,
              restored: str | None = None, undo: str | None = None,
              cursor: str | None = None) -> HTMLResponse:
    service = _ctx(request).service
    folder = _folder(request, folder_id)
    commits, next_cursor = service.history(folder_id, path, limit=HISTORY_LIMIT,
                                           cursor=cursor or None)
    # an older page starts where the walk stopped, under the name the file had there
    names = _paths_by_commit((decode_cursor(cursor)[1] or path) if cursor else path, commits)
    want = _rev_param(rev)
    selected = None
    if want is not None:
        selected = next((c for c in commits if c.id.startswith(want)), None)
    elif commits and not cursor:
        selected = commits[0]
    shown_rev = selected.id if selected else want
    shown_name = names.get(selected.id, path) if selected else path
    preview: dict[str, Any] | None = None
    missing = ""
    if selected is not None and _change_of(selected, shown_name) == "deleted":
        missing = "This version deleted the file: pick an earlier one to see it."
    else:
        try:
            preview = _preview_view(service.preview(folder_id, shown_name, shown_rev))
        except GitsyncError as e:
            missing = str(e)
    versions = [{"commit": c, "name": names[c.id], "change": _change_of(c, names[c.id])}
                for c in commits]
    on_disk = service.on_disk(folder_id, path)
    restored_commit = next((c for c in commits if restored and c.id == restored), None)
    if undo:  # a file that did not exist before the restore has no version to go back to
        try:
            service.file_at(folder_id, path, undo)
        except GitsyncError:
            undo = None
    return render(request, "file.html", folder=folder, path=path, name=PurePosixPath(path).name,
                  versions=versions, selected=selected, shown_rev=shown_rev or "",
                  shown_name=shown_name, preview=preview, missing=missing, on_disk=on_disk,
                  next_cursor=next_cursor or "", paged=bool(cursor), cursor=cursor or "",
                  restored=restored or "",
                  restored_commit=restored_commit, undo=undo or "")


def _segments(words: list[dict[str, Any]], keep: str) -> list[tuple[str, str]]:
    """Word runs for one side: KEEP is '-' (old side), '+' (new side) or '' (both)."""
    cls = {"=": "", "-": "del", "+": "ins"}
    return [(cls.get(w.get("op", "="), ""), w.get("text", "")) for w in words
            if not keep or w.get("op") in ("=", keep)]


def _pair(out: list[dict[str, Any]], dels: list[dict[str, Any]],
          adds: list[dict[str, Any]]) -> None:
    """Removed and added lines side by side, row by row; the lists are emptied."""
    for d, a in itertools.zip_longest(dels, adds):
        out.append({"old": d, "new": a, "op": "change" if d and a else ("del" if d else "ins")})
    dels.clear()
    adds.clear()


def _text_rows(hunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Hunks as rows for both views: header rows, then per line the old and new sides."""
    out: list[dict[str, Any]] = []
    for h in hunks:
        old_no, new_no = int(h.get("old_start", 1)), int(h.get("new_start", 1))
        old_end = old_no + max(0, int(h.get("old_lines", 0)) - 1)
        new_end = new_no + max(0, int(h.get("new_lines", 0)) - 1)
        out.append({"header": f"lines {old_no}–{old_end} → {new_no}–{new_end}"})
        dels: list[dict[str, Any]] = []
        adds: list[dict[str, Any]] = []
        for line in h.get("lines", []):
            op, text, words = line.get("op", " "), line.get("text", ""), line.get("words") or []
            if op == "-":
                dels.append({"no": old_no, "segs": _segments(words, "-") or [("", text)]})
                old_no += 1
            elif op == "+":
                adds.append({"no": new_no, "segs": _segments(words, "+") or [("", text)]})
                new_no += 1
            else:
                _pair(out, dels, adds)
                out.append({"op": "same", "old": {"no": old_no, "segs": [("", text)]},
                            "new": {"no": new_no, "segs": [("", text)]}})
                old_no += 1
                new_no += 1
        _pair(out, dels, adds)
    return out


def _docx_rows(hunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for h in hunks:
        words = h.get("words") or []
        old, new = h.get("old") or "", h.get("new") or ""
        op = h.get("op", "change")
        if words:
            both, left, right = _segments(words, ""), _segments(words, "-"), _segments(words, "+")
        else:
            left = [("del", old)] if old else []
            right = [("ins", new)] if new else []
            both = left + right
        rows.append({"op": op, "kind": h.get("kind", "paragraph"), "both": both,
                     "left": left, "right": right})
    return rows


@router.get("/folders/{folder_id}/diff", response_class=HTMLResponse)
@_page
def diff_page(request: Request, folder_id: str, path: str, view: str = "side"
              ) -> HTMLResponse:
    service = _ctx(request).service
    folder = _folder(request, folder_id)
    # 'from' is a Python keyword: read both ends from the query itself
    from_rev = _rev_param(request.query_params.get("from"))
    to_rev = _rev_param(request.query_params.get("to"))
    if to_rev == "disk":
        to_rev = None
    d = service.diff(folder_id, path, from_rev, to_rev)
    commits, _ = service.history(folder_id, path, limit=HISTORY_LIMIT)
    by_id = {c.id: c for c in commits}
    view = "inline" if view == "inline" else "side"
    rows = _docx_rows(d.get("hunks", [])) if d.get("kind") == "docx" else \
        _text_rows(d.get("hunks", [])) if d.get("kind") == "text" else []
    return render(request, "diff.html", folder=folder, path=path, d=d, view=view, rows=rows,
                  from_commit=by_id.get(d.get("from") or ""),
                  to_commit=by_id.get(d.get("to") or ""),
                  from_q=request.query_params.get("from", ""),
                  to_q=request.query_params.get("to", ""))


# ----------------------------------------------------------------- conflicts
@router.get("/conflicts", response_class=HTMLResponse)
@_page
def conflicts_page(request: Request) -> HTMLResponse:
    groups = []
    for fc, records in _ctx(request).service.conflict_list():
        groups.append({"id": folder_key(fc.path), "name": Path(fc.path).name,
                       "path": str(fc.path), "device": fc.device, "records": records})
    total = sum(len(g["records"]) for g in groups)
    return render(request, "conflicts.html", groups=groups, total=total)


@router.get("/folders/{folder_id}/conflicts/{conflict_id}", response_class=HTMLResponse)
@_page
def conflict_page(request: Request, folder_id: str, conflict_id: str) -> HTMLResponse:
    folder = _folder(request, folder_id)
    d = _ctx(request).service.conflict_detail(folder_id, conflict_id)
    segments, n = [], 0
    for s in d.get("segments") or []:
        if s.get("kind") == "conflict":
            n += 1
            s = {**s, "n": n}
        segments.append(s)
    count = int(d.get("count", n))
    ours_dev = str(d.get("ours_device") or "")
    theirs_dev = str(d.get("theirs_device") or "the other device")
    return render(request, "conflict.html", folder=folder, c=d, segments=segments, count=count,
                  labels=_side_labels(folder["device"], ours_dev, theirs_dev),
                  ours_dev=ours_dev or folder["device"], theirs_dev=theirs_dev)


def _side_labels(me: str, ours_dev: str, theirs_dev: str) -> tuple[str, str]:
    """Names for the record's two sides as this device sees them. The record is shared by
    every device: on the device that merged, ours is "Mine"; elsewhere the file holds the
    other device's side, so the sides are named by device."""
    if ours_dev in ("", me):
        return "Mine", "Theirs"
    if theirs_dev == me:
        return ours_dev, "Mine"
    return ours_dev, theirs_dev
