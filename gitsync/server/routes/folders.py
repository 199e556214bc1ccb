"""Folders: the list with each one's state, and the writes that act on a whole folder."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from gitsync.server import schemas
from gitsync.server.routes import ERRORS, service

router = APIRouter(prefix="/api/folders", tags=["folders"], responses=ERRORS)


@router.get("", response_model=schemas.FolderList)
def list_folders(request: Request) -> Any:
    return {"folders": service(request).folder_summaries()}


@router.post("/{folder}/sync", response_model=schemas.SyncResult)
def sync_folder(folder: str, request: Request) -> Any:
    """Commit what is pending, fetch, merge and push now, on the folder's worker."""
    report = service(request).sync_folder(folder)
    outcome = report.outcome
    return {
        "path": str(service(request).folder_by_id(folder).path),
        "committed": report.committed.to_json() if report.committed else None,
        "action": outcome.action,
        "head": outcome.head,
        "pushed": outcome.pushed,
        "written": outcome.written,
        "removed": outcome.removed,
        "waiting": outcome.waiting,
        "new_conflicts": [c.to_json() for c in outcome.conflicts],
        "open_conflicts": len(report.open_conflicts),
    }


@router.post("/{folder}/pause", response_model=schemas.PauseResult)
def pause_folder(folder: str, request: Request) -> Any:
    """Stop committing and syncing the folder until resumed (kept across restarts)."""
    service(request).pause(folder)
    return {"id": folder, "paused": True}


@router.post("/{folder}/resume", response_model=schemas.PauseResult)
def resume_folder(folder: str, request: Request) -> Any:
    service(request).resume(folder)
    return {"id": folder, "paused": False}
