"""The duty console page: static HTML, JS and CSS served by the API, no build step."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

STATIC = Path(__file__).parent / "static"
# Scripts and styles only from this origin's files: no inline script, so an injected string
# cannot run even if one slipped past the page's text-only rendering.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}
FILES = {
    "console.js": "text/javascript; charset=utf-8",
    "console.css": "text/css; charset=utf-8",
}

router = APIRouter(include_in_schema=False)


@router.get("/console")
async def console_page() -> FileResponse:
    """The duty console."""
    return FileResponse(STATIC / "console.html", headers=SECURITY_HEADERS)


@router.get("/console/console.js")
async def console_script() -> FileResponse:
    return FileResponse(
        STATIC / "console.js", media_type=FILES["console.js"], headers=SECURITY_HEADERS
    )


@router.get("/console/console.css")
async def console_style() -> FileResponse:
    return FileResponse(
        STATIC / "console.css", media_type=FILES["console.css"], headers=SECURITY_HEADERS
    )
