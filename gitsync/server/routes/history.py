"""A folder's past: history, the tree at a time, deleted files, versions, diffs, restore."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from gitsync.history import MAX_LIMIT
from gitsync.server import schemas
from gitsync.server.routes import ERRORS, service

router = APIRouter(prefix="/api/folders/{folder}", tags=["history"], responses=ERRORS)

PathQ = Annotated[str, Query(description="a path inside the folder, '/'-separated")]
RevQ = Annotated[str | None, Query(
    description="a commit id or a time (2h, yesterday, 2026-11-01 14:30); default: now")]


@router.get("/history", response_model=schemas.History)
def history(request: Request, folder: str,
            path: Annotated[str | None, Query(description="one file or directory")] = None,
            limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
            cursor: Annotated[str | None, Query(description="next_cursor of the previous page")
                              ] = None) -> Any:
    """Commits newest first, following renames; no path is the whole folder."""
    commits, next_cursor = service(request).history(folder, path, limit=limit, cursor=cursor)
    return {"commits": [c.to_json() for c in commits], "next_cursor": next_cursor}


@router.get("/tree", response_model=schemas.Tree)
def tree(request: Request, folder: str, rev: RevQ = None,
         dir: Annotated[str, Query(description="a directory of the folder; '' is the top")
                        ] = "") -> Any:
    """The direct children of DIR as they were at REV (directories first)."""
    commit, entries = service(request).tree(folder, rev, dir)
    return {"rev": commit, "entries": [{
        "path": e.path, "type": e.type, "size": e.size,
        "last_commit": e.last_commit.to_json() if e.last_commit else None,
    } for e in entries]}


@router.get("/deleted", response_model=schemas.DeletedList)
def deleted(request: Request, folder: str,
            since: Annotated[str | None, Query(
                description="a commit id or a time; default: the last 30 days")] = None) -> Any:
    """Files deleted since SINCE, each with the commit that deleted it and the last commit
    that still has it (restore from there)."""
    found = service(request).deleted(folder, since)
    return {"deleted": [{"path": d.path, "commit": d.commit.to_json(), "last_rev": d.last_rev}
                        for d in found]}


@router.get("/file", response_class=Response,
            responses={200: {"content": {"application/octet-stream": {}},
                             "description": "the file's bytes, as an attachment"}})
def file(request: Request, folder: str, path: PathQ, rev: RevQ = None) -> Response:
    """A version of a file, always as a download: a user's file is never shown as a page of
    this site (it could hold script)."""
    data = service(request).file_at(folder, path, rev)
    name = path.rsplit("/", 1)[-1] or "file"
    return Response(data, media_type="application/octet-stream", headers={
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(name, safe='')}",
        "X-Content-Type-Options": "nosniff",
    })


@router.get("/diff", response_model=schemas.Diff, response_model_by_alias=True)
def diff(request: Request, folder: str, path: PathQ,
         from_: Annotated[str | None, Query(
             alias="from", description="default: the version before TO")] = None,
         to: Annotated[str | None, Query(
             description="a revision, or 'disk' (the default) for the file on disk now")
                       ] = None) -> Any:
    """Text: line hunks with word changes; .docx: paragraph and table-row changes; binary:
    the two sizes."""
    return service(request).diff(folder, path, from_, None if to == "disk" else to)


@router.get("/preview", response_model=schemas.Preview, response_model_exclude_none=True)
def preview(request: Request, folder: str, path: PathQ, rev: RevQ = None) -> Any:
    """A version as data to render: text, a .docx as blocks, or a binary file's size."""
    return service(request).preview(folder, path, rev)


@router.post("/restore", response_model=schemas.CommitResult)
def restore(request: Request, folder: str, body: schemas.RestoreRequest) -> Any:
    """Bring back a file or a whole directory as it was at REV, as a new commit."""
    commit = service(request).restore_path(folder, body.path, body.rev, exact=body.exact)
    return {"commit": commit.to_json() if commit else None}
