"""The duty console's pages: static HTML, JS and CSS served by the API, no build step.

Also the message catalogue the pages read their texts from (`/i18n/{locale}.json`), so a
page shows the same words as every other text of the system.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from fastapi import APIRouter, Header
from fastapi.responses import FileResponse, JSONResponse

from api.deps import SettingsDep
from api.errors import NotFound
from eldercare import i18n
from eldercare.settings import Settings

STATIC = Path(__file__).parent / "static"
# Scripts and styles only from this origin's files: no inline script, so an injected string
# cannot run even if one slipped past the page's text-only rendering. Map tiles are images
# from the configured tile server, hence img-src beyond 'self'.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data: {tiles}; media-src 'self'; form-action 'self'; base-uri 'none'; "
    "frame-ancestors 'none'"
)
BASE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}
MEDIA_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".wav": "audio/wav",
    ".json": "application/json",
}
PAGES = {"/console": "console.html", "/family": "family.html"}

router = APIRouter(include_in_schema=False)


def tile_origin(template: str) -> str:
    """The CSP source of a tile URL template: `{s}` in the host becomes a wildcard label."""
    if not template:
        return ""
    parts = urlsplit(template.replace("{s}", "0"))
    labels = urlsplit(template).netloc.rsplit("@", 1)[-1].split(":")[0].split(".")
    wild = [i for i, label in enumerate(labels) if "{s}" in label]
    host = "*." + ".".join(labels[wild[-1] + 1 :]) if wild else parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}"


def security_headers(settings: Settings | None = None) -> dict[str, str]:
    """The headers every page file is served with (map tiles allowed from the tile server)."""
    tiles = tile_origin(settings.api_map_tile_url) if settings else ""
    return {**BASE_HEADERS, "Content-Security-Policy": CSP.format(tiles=tiles).replace(" ;", ";")}


def static_file(relative: str) -> Path:
    """A file under the static folder; NotFound for anything else (no path tricks)."""
    path = (STATIC / relative).resolve()
    if not path.is_relative_to(STATIC.resolve()) or not path.is_file():
        raise NotFound("no such file")
    if path.suffix not in MEDIA_TYPES:
        raise NotFound("no such file")
    return path


@router.get("/console")
async def console_page(settings: SettingsDep) -> FileResponse:
    """The duty console."""
    return FileResponse(STATIC / PAGES["/console"], headers=security_headers(settings))


@router.get("/map/config.json")
async def map_config(settings: SettingsDep) -> JSONResponse:
    """The tile source of the pages' maps and the datum its tiles are drawn in."""
    return JSONResponse(
        {
            "tile_url": settings.api_map_tile_url,
            "subdomains": settings.api_map_tile_subdomains,
            "datum": settings.api_map_tile_datum,
            "attribution": settings.api_map_tile_attribution,
            "max_zoom": settings.api_map_max_zoom,
        },
        headers=dict(BASE_HEADERS),
    )


@router.get("/family")
async def family_page(settings: SettingsDep) -> FileResponse:
    """The family page: a phone-sized view of one's own elder."""
    return FileResponse(STATIC / PAGES["/family"], headers=security_headers(settings))


@router.get("/console/{relative:path}")
async def console_file(relative: str) -> FileResponse:
    """A script, style, sound or vendored library of the pages."""
    path = static_file(relative)
    return FileResponse(path, media_type=MEDIA_TYPES[path.suffix], headers=security_headers())


@router.get("/i18n/{locale}.json")
async def catalogue(
    locale: Literal["zh_CN", "en", "auto"],
    accept_language: Annotated[str | None, Header()] = None,
) -> JSONResponse:
    """Every text of one locale (`auto`: the browser's Accept-Language, else Chinese)."""
    chosen = i18n.negotiate(accept_language) if locale == "auto" else locale
    return JSONResponse(
        {"locale": chosen, "messages": i18n.catalogue(chosen)}, headers=dict(BASE_HEADERS)
    )
