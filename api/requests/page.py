"""The requests console and the public board: static HTML, JS and CSS, and their texts from
the message catalogue (so the pages carry no sentence of their own)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Header, Query
from fastapi.responses import FileResponse

from api.alerts.page import security_headers
from eldercare.i18n import catalogue, negotiate

STATIC = Path(__file__).parent / "static"
TYPES = {
    "js": "text/javascript; charset=utf-8",
    "css": "text/css; charset=utf-8",
    "html": "text/html; charset=utf-8",
}
# name in the URL -> file; nothing else under static/ is served.
FILES = {
    "/requests-console": "requests.html",
    "/requests-console/requests.js": "requests.js",
    "/requests-console/requests.css": "requests.css",
    "/board": "board.html",
    "/board/board.js": "board.js",
}

router = APIRouter(include_in_schema=False)


def _serve(name: str):
    async def serve() -> FileResponse:
        return FileResponse(
            STATIC / name, media_type=TYPES[name.rsplit(".", 1)[1]], headers=security_headers()
        )

    return serve


for url, file_name in FILES.items():
    router.add_api_route(url, _serve(file_name), methods=["GET"])


PAGE_TEXTS = ("request.", "target.")  # the pages' own texts and the shared target names


@router.get("/requests-console/texts")
async def texts(
    locale: Annotated[str | None, Query(pattern="^(zh_CN|en)$")] = None,
    accept_language: Annotated[str | None, Header()] = None,
) -> dict:
    """The pages' texts (ids request.* and target.*) in the caller's locale, Chinese first."""
    chosen = negotiate(accept_language, locale)
    return {
        "locale": chosen,
        "texts": {k: v for k, v in catalogue(chosen).items() if k.startswith(PAGE_TEXTS)},
    }
