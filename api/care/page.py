"""The care page (daily check list, priority groups, early warnings, councils, resource
list): static HTML, JS and CSS, no build step."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse

from api.alerts.page import security_headers

STATIC = Path(__file__).parent / "static"
FILES = {
    "care.js": "text/javascript; charset=utf-8",
    "sections.js": "text/javascript; charset=utf-8",
    "care.css": "text/css; charset=utf-8",
}

router = APIRouter(include_in_schema=False)


@router.get("/care")
async def care_page() -> FileResponse:
    """The daily check list page."""
    return FileResponse(STATIC / "care.html", headers=security_headers())


@router.get("/care/static/{name}")
async def care_asset(name: str) -> FileResponse:
    if name not in FILES:
        raise HTTPException(404, "not found")
    return FileResponse(STATIC / name, media_type=FILES[name], headers=security_headers())
