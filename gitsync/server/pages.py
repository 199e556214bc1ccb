"""The HTML pages (dashboard, folder browser, file history, diff, conflicts)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
