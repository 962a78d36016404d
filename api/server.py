"""`eldercare api`: serve the API with uvicorn."""

from __future__ import annotations

import logging

import uvicorn

from eldercare.db import connect
from eldercare.settings import Settings

log = logging.getLogger(__name__)


def run_api(settings: Settings) -> int:
    """Seed the development admin if needed, then serve until stopped."""
    from api.accounts.service import seed_dev_admin
    from api.app import create_app

    with connect(settings) as conn:
        seed_dev_admin(conn=conn, settings=settings)
    uvicorn.run(
        create_app(settings),
        host=settings.api_host,
        port=settings.api_port,
        log_level=settings.log_level.lower(),
        access_log=False,
    )
    return 0
