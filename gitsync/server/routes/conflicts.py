"""Conflicts of one folder: the list, one with its three versions, and resolving it."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from fastapi import APIRouter, Request

from gitsync.config import folder_key
from gitsync.errors import UserError
from gitsync.server import schemas
from gitsync.server.routes import ERRORS, service

router = APIRouter(prefix="/api/folders/{folder}/conflicts", tags=["conflicts"],
                   responses=ERRORS)


@router.get("", response_model=schemas.ConflictList)
def list_conflicts(request: Request, folder: str) -> Any:
    svc = service(request)
    svc.folder_by_id(folder)  # 404 for an unknown folder, not an empty list
    for fc, records in svc.conflict_list():
        if folder_key(fc.path) == folder:
            return {"conflicts": [r.to_json() for r in records]}
    return {"conflicts": []}


@router.get("/{conflict}", response_model=schemas.ConflictDetail)
def conflict_detail(request: Request, folder: str, conflict: str) -> Any:
    """The record plus base, ours and theirs (text, or paragraphs of a .docx) and the
    merger's segments: the same parts and the conflicting hunks, numbered."""
    return service(request).conflict_detail(folder, conflict)


@router.post("/{conflict}/resolve", response_model=schemas.ResolveResult)
def resolve(request: Request, folder: str, conflict: str, body: schemas.ResolveRequest
            ) -> Any:
    """Settle the conflict as one commit that syncs to every device."""
    content = None
    if body.content_base64 is not None:
        try:
            content = base64.b64decode(body.content_base64, validate=True)
        except (binascii.Error, ValueError) as e:
            raise UserError("content_base64 is not valid base64") from e
    hunks = [h.model_dump() for h in body.hunks] if body.hunks is not None else None
    res = service(request).resolve_conflict(folder, conflict, take=body.take, hunks=hunks,
                                            content=content)
    return res.to_json()
