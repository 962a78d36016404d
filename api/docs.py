"""The interactive API documentation (Swagger UI) and the favicon, served from this process.

Swagger UI's script and styles are vendored from the npm package `swagger-ui-dist` (version
in api/static/swagger-ui/VERSION): no CDN, so the page works on a network without the
internet and loads nothing from a third party.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse

from api.errors import NotFound

STATIC = Path(__file__).parent / "static"
SWAGGER = STATIC / "swagger-ui"
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
}
# The vendored files change only with a new version (a new deployment).
CACHE = {"Cache-Control": "public, max-age=86400"}

router = APIRouter(include_in_schema=False)


@router.get("/docs")
async def swagger_ui(request: Request) -> HTMLResponse:
    """Swagger UI over this API's OpenAPI document."""
    return get_swagger_ui_html(
        openapi_url=request.app.openapi_url,
        title=f"{request.app.title} - Swagger UI",
        swagger_js_url="/docs/assets/swagger-ui-bundle.js",
        swagger_css_url="/docs/assets/swagger-ui.css",
        swagger_favicon_url="/favicon.ico",
    )


@router.get("/docs/assets/{name}")
async def swagger_asset(name: str) -> FileResponse:
    """One of Swagger UI's vendored files (404 for anything else)."""
    if name not in ASSETS:
        raise NotFound("no such documentation asset", name=name)
    return FileResponse(SWAGGER / name, media_type=ASSETS[name], headers=CACHE)


@router.get("/favicon.ico")
async def favicon() -> FileResponse:
    """The icon browsers ask for."""
    return FileResponse(STATIC / "favicon.ico", media_type="image/x-icon", headers=CACHE)
