"""`eldercare api`: serve the API with uvicorn."""

from __future__ import annotations

import logging
from functools import partial

import uvicorn

from eldercare.db import connect
from eldercare.settings import Settings
from eldercare.status_http import StatusServer, stores_unavailable

log = logging.getLogger(__name__)


def run_api(settings: Settings) -> int:
    """Seed the development admin if needed, then serve until stopped."""
    from api.accounts.service import seed_dev_admin
    from api.app import create_app

    with connect(settings) as conn:
        seed_dev_admin(conn=conn, settings=settings)
    app = create_app(settings)
    if settings.api_metrics_port:
        StatusServer(
            host=settings.api_metrics_host,
            port=settings.api_metrics_port,
            registry=app.state.metrics_registry,
            health=partial(stores_unavailable, settings),
        ).start()
    uvicorn.run(
        app,
        host=settings.api_host,
        port=settings.api_port,
        log_level=settings.log_level.lower(),
        access_log=False,
    )
    return 0
